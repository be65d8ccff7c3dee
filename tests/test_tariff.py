"""Prices and billing periods in time (SPEC §5), worked out by hand.

Every case is read twice, by the engine (`optimizer.tariff` via the index) and by the
independent checker (`optimizer.check_tariff`), and both must give the hand-made figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from smartcharge.optimizer.check_tariff import read_billing_periods, read_slot_prices
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.problem import parse_problem
from tests.builders import charger, problem

FLAT = 0.20
PEAK = 0.32


def site(start: str, slots: int, step_minutes: int = 15, **tariff) -> dict:
    doc = problem([charger("c1")], [], slots=slots, tariff={"import_price_per_kwh": FLAT})
    doc["horizon"].update(start=start, step_minutes=step_minutes)
    doc["tariff"].update(tariff)
    return doc


def prices(doc: dict) -> tuple[np.ndarray, np.ndarray]:
    """(import, export) per slot, the same from the engine and from the checker."""
    parsed = parse_problem(doc)
    index = build_index(parsed)
    checked = read_slot_prices(parsed)
    np.testing.assert_allclose(index.import_price, checked[0], atol=1e-12)
    np.testing.assert_allclose(index.export_price, checked[1], atol=1e-12)
    return index.import_price, index.export_price


def local_slot_starts(doc: dict) -> list[str]:
    index = build_index(parse_problem(doc))
    return [t.tz_convert("Europe/Amsterdam").strftime("%H:%M") for t in index.slot_start]


WORKDAY_PEAK = [{"days": "mon-fri", "from": "07:00", "to": "23:00", "import_per_kwh": PEAK}]


def test_a_workday_peak_window_on_a_tuesday():
    """24 Nov 2026 is a Tuesday: 06:00-07:00 flat (4 slots), 07:00-08:00 peak."""
    doc = site("2026-11-24T06:00:00+01:00", 8, time_of_use=WORKDAY_PEAK)
    np.testing.assert_allclose(prices(doc)[0], [FLAT] * 4 + [PEAK] * 4)


def test_the_peak_window_is_off_at_the_weekend():
    doc = site("2026-11-28T06:00:00+01:00", 8, time_of_use=WORKDAY_PEAK)  # a Saturday
    np.testing.assert_allclose(prices(doc)[0], FLAT)


def test_a_slot_across_a_rule_boundary_pays_the_time_weighted_mean():
    """Hourly slots from 06:30: 06:30-07:30 is half flat, half peak; then 07:30-08:30 peak."""
    doc = site("2026-11-24T06:30:00+01:00", 2, step_minutes=60, time_of_use=WORKDAY_PEAK)
    np.testing.assert_allclose(prices(doc)[0], [(FLAT + PEAK) / 2, PEAK])


def test_a_rule_past_midnight_belongs_to_the_day_it_starts():
    """A weekday night rule 22:00-06:00: Friday night runs into Saturday 06:00; Saturday night
    (it starts on a Saturday) is not covered. Hourly slots from Sat 04:00 and Sun 04:00."""
    night = [{"days": "mon-fri", "from": "22:00", "to": "06:00", "import_per_kwh": 0.1}]
    saturday = site("2026-11-28T04:00:00+01:00", 3, step_minutes=60, time_of_use=night)
    sunday = site("2026-11-29T04:00:00+01:00", 3, step_minutes=60, time_of_use=night)
    np.testing.assert_allclose(prices(saturday)[0], [0.1, 0.1, FLAT])
    np.testing.assert_allclose(prices(sunday)[0], FLAT)


def test_later_rules_override_earlier_ones_and_each_price_on_its_own():
    """`daily` 00:00-24:00 sets import 0.25 and export 0.03; a later `sat,sun` rule sets only the
    import; the flat export 0.05 is overridden by the first rule every day."""
    rules = [
        {"days": "daily", "from": "00:00", "to": "24:00", "import_per_kwh": 0.25,
         "export_per_kwh": 0.03},
        {"days": "sat,sun", "from": "00:00", "to": "24:00", "import_per_kwh": 0.15},
    ]  # fmt: skip
    doc = site("2026-11-27T23:00:00+01:00", 2, step_minutes=60, time_of_use=rules)
    doc["tariff"]["export_price_per_kwh"] = 0.05
    import_price, export_price = prices(doc)  # Friday 23:00, Saturday 00:00
    np.testing.assert_allclose(import_price, [0.25, 0.15])
    np.testing.assert_allclose(export_price, [0.03, 0.03])


def test_rules_lay_over_a_per_slot_flat_price():
    doc = site("2026-11-24T06:30:00+01:00", 2, step_minutes=60, time_of_use=WORKDAY_PEAK)
    doc["tariff"]["import_price_per_kwh"] = [0.10, 0.30]
    np.testing.assert_allclose(prices(doc)[0], [(0.10 + PEAK) / 2, PEAK])


@pytest.mark.parametrize(
    ("day", "slots", "peak_slots", "repeated_hour_slots"),
    [
        # 29 March 2026: 02:00 CET jumps to 03:00 CEST, a day of 23 h = 92 quarter-hours.
        # 07:00 CEST is 4 h after the jump at slot 8: slot 24; 23:00 is slot 88.
        ("2026-03-29T00:00:00+01:00", 92, range(24, 88), range(0)),
        # 25 October 2026: 03:00 CEST falls back to 02:00 CET, 25 h = 100 quarter-hours; 02:00-
        # 03:00 comes twice (slots 8-15); 07:00 CET is slot 32, 23:00 slot 96.
        ("2026-10-25T00:00:00+02:00", 100, range(32, 96), range(8, 16)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_dst_days_keep_local_clock_times(day, slots, peak_slots, repeated_hour_slots):
    """A rule 07:00-23:00 starts at 07:00 on the local clock on both 2026 transition days in
    Europe/Amsterdam; a rule over 02:00-03:00 covers the hour the clock skips not at all and
    the hour it repeats twice."""
    rules = [
        {"days": "sun", "from": "07:00", "to": "23:00", "import_per_kwh": PEAK},
        {"days": "sun", "from": "02:00", "to": "03:00", "import_per_kwh": 0.5},
    ]
    doc = site(day, slots, time_of_use=rules)
    expected = np.full(slots, FLAT)
    expected[list(peak_slots)] = PEAK
    expected[list(repeated_hour_slots)] = 0.5
    np.testing.assert_allclose(prices(doc)[0], expected)
    starts = local_slot_starts(doc)
    assert starts[peak_slots[0]] == "07:00" and starts[peak_slots[-1] + 1] == "23:00"


def hourly_feed(start: str, values: list[float], minutes: int = 60, **extra) -> list[dict]:
    first = datetime.fromisoformat(start)
    return [
        {"time": (first + timedelta(minutes=minutes * i)).isoformat(), "import_per_kwh": v, **extra}
        for i, v in enumerate(values)
    ]


def test_an_hourly_feed_gives_each_quarter_hour_its_hour_s_price():
    feed = hourly_feed("2026-11-24T10:00:00+01:00", [0.30, 0.10, 0.25])
    doc = site("2026-11-24T10:00:00+01:00", 12, prices=feed)
    np.testing.assert_allclose(prices(doc)[0], [0.30] * 4 + [0.10] * 4 + [0.25] * 4)


def test_a_plan_at_10_15_uses_the_10_15_price():
    feed = hourly_feed("2026-11-24T10:00:00+01:00", [0.30, 0.10, 0.25, 0.40], minutes=15)
    doc = site("2026-11-24T10:15:00+01:00", 3, prices=feed)
    np.testing.assert_allclose(prices(doc)[0], [0.10, 0.25, 0.40])


def test_a_slot_across_a_price_change_pays_the_mean():
    """30-minute slots over a 15-minute feed: each slot is the mean of its two quarters."""
    feed = hourly_feed("2026-11-24T10:00:00+01:00", [0.30, 0.10, 0.25, 0.40], minutes=15)
    doc = site("2026-11-24T10:00:00+01:00", 2, step_minutes=30, prices=feed)
    np.testing.assert_allclose(prices(doc)[0], [0.20, 0.325])


def test_the_last_point_holds_for_the_feed_s_spacing_then_the_tariff_applies():
    """Hourly points at 10:00 and 11:00: the 11:00 one holds an hour (the median spacing), so
    from 12:00 the time-of-use rule (07:00-23:00) applies; a lone point holds one hour."""
    feed = hourly_feed("2026-11-24T10:00:00+01:00", [0.05, 0.07])
    doc = site("2026-11-24T10:00:00+01:00", 4, step_minutes=60, prices=feed,
               time_of_use=WORKDAY_PEAK)  # fmt: skip
    np.testing.assert_allclose(prices(doc)[0], [0.05, 0.07, PEAK, PEAK])
    alone = site("2026-11-24T10:15:00+01:00", 3, step_minutes=30, prices=feed[:1])
    np.testing.assert_allclose(prices(alone)[0], [0.05, (0.05 + FLAT) / 2, FLAT])


def test_a_feed_without_export_prices_leaves_export_to_the_tariff():
    feed = hourly_feed("2026-11-24T10:00:00+01:00", [0.30, 0.10])
    feed[1]["export_per_kwh"] = -0.02  # negative prices are real
    doc = site("2026-11-24T10:00:00+01:00", 2, step_minutes=60, prices=feed)
    doc["tariff"]["export_price_per_kwh"] = 0.04
    np.testing.assert_allclose(prices(doc)[1], [0.04, -0.02])


def test_points_before_the_horizon_cover_its_start():
    feed = hourly_feed("2026-11-23T00:00:00+01:00", [0.11] * 36)
    doc = site("2026-11-24T10:45:00+01:00", 2, prices=feed)
    np.testing.assert_allclose(prices(doc)[0], [0.11, 0.11])


def periods(doc: dict) -> list[tuple[str | None, float, list[int]]]:
    """(local start, peak paid so far, slots) per billing period, the same from both readings."""
    parsed = parse_problem(doc)
    demand = build_index(parsed).demand
    engine = [
        (None if start is None else start.isoformat(), so_far, np.flatnonzero(demand.of_slot == p))
        for p, (start, so_far) in enumerate(zip(demand.start, demand.peak_so_far_kw, strict=True))
    ]
    checker = read_billing_periods(parsed)
    assert [(p.start, p.peak_so_far_kw, p.slots) for p in checker] == [
        (None if s is None else datetime.fromisoformat(s), f, list(slots)) for s, f, slots in engine
    ]
    return [(s, f, list(slots)) for s, f, slots in engine]


def test_a_month_starts_at_local_midnight_on_the_first():
    """30 Nov 23:30 +01:00 (22:30 UTC): two slots in November, then December from 0 kW."""
    doc = site("2026-11-30T23:30:00+01:00", 4, peak_so_far_kw=40)
    assert periods(doc) == [
        ("2026-11-01T00:00:00+01:00", 40, [0, 1]),
        ("2026-12-01T00:00:00+01:00", 0, [2, 3]),
    ]


def test_a_billing_day_starts_at_local_midnight_and_none_never_resets():
    doc = site("2026-10-24T23:00:00+02:00", 12, peak_so_far_kw=40, demand_charge_period="day")
    assert periods(doc) == [
        ("2026-10-24T00:00:00+02:00", 40, list(range(4))),
        ("2026-10-25T00:00:00+02:00", 0, list(range(4, 12))),
    ]
    doc["tariff"]["demand_charge_period"] = "none"
    assert periods(doc) == [(None, 40, list(range(12)))]
