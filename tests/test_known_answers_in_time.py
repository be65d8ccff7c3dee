"""Plans under time-of-use rules, price feeds and billing periods (SPEC §5), solved by hand.

One EV on a 16 A three-phase charger: 11.04 kW, 2.76 kWh per quarter-hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import parse_problem
from tests.builders import charger, problem, session

KWH_PER_SLOT = 2.76


def planned(doc: dict) -> dict:
    answer = optimize(doc).to_answer()
    violations = check_answer(parse_problem(doc), answer)
    assert not violations, format_violations(violations)
    return answer


def one_ev(start: str, slots: int, energy_kwh: float, **fields) -> dict:
    doc = problem([charger("c1")], [session("s1", "c1", energy_kwh)], slots=slots, **fields)
    doc["horizon"]["start"] = start
    doc["sessions"][0].update(arrival=start, departure=doc_end(doc))
    return doc


def doc_end(doc: dict) -> str:
    horizon = doc["horizon"]
    start = datetime.fromisoformat(horizon["start"])
    return (start + timedelta(minutes=horizon["step_minutes"] * horizon["slots"])).isoformat()


def test_a_morning_peak_window_moves_charging_past_it():
    """Tuesday 06:00-08:00, a peak 06:00-07:00 at 0.40 over a flat 0.20: the two slots the EV
    needs are the first two after 07:00 (earlier delivery breaks the tie among cheap ones)."""
    peak = [{"days": "mon-fri", "from": "06:00", "to": "07:00", "import_per_kwh": 0.40}]
    doc = one_ev("2026-11-24T06:00:00+01:00", 8, 2 * KWH_PER_SLOT, tariff={"time_of_use": peak})
    answer = planned(doc)
    np.testing.assert_allclose(answer["sessions"][0]["current_a"], [0] * 4 + [16, 16, 0, 0])
    np.testing.assert_allclose(answer["site"]["import_price_per_kwh"], [0.4] * 4 + [0.2] * 4)
    assert answer["kpis"]["import_cost"] == pytest.approx(2 * KWH_PER_SLOT * 0.20)


def test_a_plan_at_10_15_pays_the_feed_s_prices_from_10_15():
    """A quarter-hourly feed from 10:00; the plan starts at 10:15, so the 10:00 price (0.05, the
    cheapest) is past. The two cheapest of its slots are 10:30 (0.10) and 11:00 (0.20)."""
    values = [0.05, 0.40, 0.10, 0.35, 0.20]
    feed = [
        {"time": f"2026-11-24T{10 + q // 4}:{15 * (q % 4):02d}:00+01:00", "import_per_kwh": v}
        for q, v in enumerate(values)
    ]
    doc = one_ev("2026-11-24T10:15:00+01:00", 4, 2 * KWH_PER_SLOT, tariff={"prices": feed})
    answer = planned(doc)
    np.testing.assert_allclose(answer["site"]["import_price_per_kwh"], values[1:])
    np.testing.assert_allclose(answer["sessions"][0]["current_a"], [0, 16, 0, 16])
    assert answer["kpis"]["import_cost"] == pytest.approx(KWH_PER_SLOT * (0.10 + 0.20))
    assert answer["site"]["slot_start"][0] == "2026-11-24T10:15:00+01:00"


# Four slots before a period boundary at 0.30, four after it at 0.10; base load 10 kW; 20 kW
# already paid this period at 10 per kW. The EV needs 11.04 kWh: all of four slots at 16 A.
#   Billing per period: the next period starts from 0 kW paid, so its base load alone costs
#   10 x 10 = 100, and charging there would make its peak 21.04 kW (+110.4) to save at most
#   0.2 x 11.04 = 2.21 on energy. Before the boundary, staying under 20 kW (10 kW of room)
#   leaves 1.04 kWh that costs 10.4 in that period or >= 41.6 (a 6 A slot) in the next: it
#   charges 16 A before the boundary: 10 x (21.04 - 20) + 100 = 110.4; energy
#   21.04 x 0.25 x 0.30 x 4 + 10 x 0.25 x 0.10 x 4 = 6.312 + 1.0.
#   Without a calendar (`none`) the 20 kW paid also covers the cheap slots: the EV charges
#   there at the most that stays under it (10 kW, 14.4 A after flooring to 0.1 A: 9.936 kW)
#   and the last 1.104 kWh at 6.4 A in one dear slot; no demand charge; energy
#   10 x 0.25 x (0.30 + 0.10) x 4 + 9.936 x 0.25 x 0.10 x 4 + 1.104 x 0.30 = 5.3248.
BOUNDARY_CASES = [
    (
        "month",
        "2026-11-30T23:00:00+01:00",
        [("2026-11-01T00:00:00+01:00", 20, 21.04, 10.4), ("2026-12-01T00:00:00+01:00", 0, 10, 100)],
    ),
    (
        "day",
        "2026-11-24T23:00:00+01:00",
        [("2026-11-24T00:00:00+01:00", 20, 21.04, 10.4), ("2026-11-25T00:00:00+01:00", 0, 10, 100)],
    ),
]


def boundary_problem(start: str, period: str) -> dict:
    tariff = {
        "import_price_per_kwh": [0.30] * 4 + [0.10] * 4,
        "demand_charge_per_kw": 10.0,
        "peak_so_far_kw": 20.0,
        "demand_charge_period": period,
    }
    return one_ev(start, 8, 4 * KWH_PER_SLOT, tariff=tariff, base_load_kw=10.0)


@pytest.mark.parametrize(("period", "start", "expected"), BOUNDARY_CASES, ids=["month", "day"])
def test_each_billing_period_pays_its_own_new_peak(period, start, expected):
    answer = planned(boundary_problem(start, period))
    np.testing.assert_allclose(answer["sessions"][0]["current_a"], [16] * 4 + [0] * 4)
    kpis = answer["kpis"]
    assert kpis["demand_charge"] == pytest.approx(110.4)
    assert kpis["import_cost"] == pytest.approx(6.312 + 1.0)
    assert kpis["peak_so_far_kw"] == 20.0
    assert len(answer["demand_periods"]) == len(expected)
    for (start_at, so_far, peak, charge), entry in zip(
        expected, answer["demand_periods"], strict=True
    ):
        assert entry["start"] == start_at
        assert (entry["peak_so_far_kw"], entry["peak_kw"], entry["charge"]) == pytest.approx(
            (so_far, peak, charge)
        )


def test_without_a_calendar_the_peak_so_far_holds_and_energy_price_decides():
    answer = planned(boundary_problem("2026-11-30T23:00:00+01:00", "none"))
    current_a = np.array(answer["sessions"][0]["current_a"])
    np.testing.assert_allclose(current_a[4:], 14.4)
    np.testing.assert_allclose(sorted(current_a[:4]), [0, 0, 0, 6.4])
    assert answer["kpis"]["demand_charge"] == pytest.approx(0)
    assert answer["kpis"]["import_cost"] == pytest.approx(5.3248)
    [period] = answer["demand_periods"]
    assert period["start"] is None and period["peak_kw"] == pytest.approx(20)


@pytest.mark.parametrize("model", ["matrix", "pyomo"])
def test_both_models_bill_the_periods_alike(model):
    doc = boundary_problem("2026-11-30T23:00:00+01:00", "month")
    doc["options"]["model"] = model
    assert planned(doc)["kpis"]["total_cost"] == pytest.approx(110.4 + 7.312)


def test_a_per_slot_phase_limit_binds_only_where_it_is_tight():
    """A grid operator's cap of 10 A per phase in slots 1-2 (none in slot 3): the EV gets 16 A,
    10 A, 10 A, 16 A."""
    doc = one_ev("2026-11-24T06:00:00+01:00", 4, 20.0)
    doc["site"]["grid"]["phase_limit_a"] = [40, 10, 10, None]
    answer = planned(doc)
    np.testing.assert_allclose(answer["sessions"][0]["current_a"], [16, 10, 10, 16])
    assert answer["site"]["phase_limit_a"] == [40, 10, 10, None]
