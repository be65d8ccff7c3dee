"""The checker's own reading of the inputs that change with the clock (SPEC §5).

Part of the independent checker (`optimizer.check`): it shares no code with `optimizer.tariff`
or the index, and reads the rules in the most literal way, instant by instant, in plain Python:

- the price at an instant is that of the feed point holding then (from its time to the next
  point's; the last one for the median spacing of the points, an hour if it is alone), else
  that of the last time-of-use rule matching the local weekday and clock, else the flat price;
  a slot's price is its mean over the slot, cut at every whole minute (rules name whole local
  minutes) and at every feed time;
- the demand charge is billed per local month or day, by the period of each slot's start; the
  first period has paid `peak_so_far_kw` already, the later ones nothing.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from smartcharge.optimizer.problem import Problem

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUPS = {"daily": _DAYS, "all": _DAYS, "weekdays": _DAYS[:5], "weekends": _DAYS[5:]}
_GROUPS["weekend"] = _GROUPS["weekends"]


def _day_set(text: str) -> set[int]:
    """`mon-fri` -> {0..4}; `fri-mon` wraps; `sat,sun`; full names; `daily`."""
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        if part in _GROUPS:
            days |= {_DAYS.index(d) for d in _GROUPS[part]}
            continue
        first, _, last = part.partition("-")
        a, b = _DAYS.index(first[:3]), _DAYS.index((last or first)[:3])
        day = a
        days.add(day)
        while day != b:
            day = (day + 1) % 7
            days.add(day)
    return days


def _clock(text: str) -> int:
    hours, minutes = text.strip().split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class _Rule:
    days: set[int]
    start_min: int
    stop_min: int  # <= start_min: runs past midnight into the next day
    import_price: float | None
    export_price: float | None

    def holds(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        if self.start_min < self.stop_min:
            return local.weekday() in self.days and self.start_min <= minute < self.stop_min
        began_today = local.weekday() in self.days and minute >= self.start_min
        began_yesterday = (local.weekday() - 1) % 7 in self.days and minute < self.stop_min
        return began_today or began_yesterday


def read_slot_prices(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(import, export) price per kWh of every slot, as SPEC §5 defines them."""
    tariff, horizon = problem.tariff, problem.horizon
    slots = horizon.slots
    flat = [
        np.broadcast_to(np.asarray(v, dtype=float), (slots,)).astype(float)
        for v in (tariff.import_price_per_kwh, tariff.export_price_per_kwh)
    ]
    if not tariff.time_of_use and not tariff.prices:
        return flat[0], flat[1]
    zone = ZoneInfo(problem.site.timezone)
    rules = [
        _Rule(_day_set(r.days), _clock(r.from_), _clock(r.to), r.import_per_kwh, r.export_per_kwh)
        for r in tariff.time_of_use
    ]
    times = [p.time.astimezone(UTC) for p in tariff.prices]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    last_hold = statistics.median(gaps) if gaps else timedelta(hours=1)
    ends = [*times[1:], times[-1] + last_hold] if times else []

    def price_at(instant: datetime, slot: int) -> tuple[float, float]:
        prices = [flat[0][slot], flat[1][slot]]
        local = instant.astimezone(zone)
        for rule in rules:
            if rule.holds(local):
                for k, value in enumerate((rule.import_price, rule.export_price)):
                    if value is not None:
                        prices[k] = value
        holding = bisect.bisect_right(times, instant) - 1
        if holding >= 0 and instant < ends[holding]:
            point = tariff.prices[holding]
            for k, value in enumerate((point.import_per_kwh, point.export_per_kwh)):
                if value is not None:
                    prices[k] = value
        return prices[0], prices[1]

    result = np.zeros((2, slots))
    start = horizon.start.astimezone(UTC)
    for slot in range(slots):
        begin = start + slot * horizon.step
        end = begin + horizon.step
        first, last = bisect.bisect_right(times, begin), bisect.bisect_left(times, end)
        cuts = {begin, end, *times[first:last]}
        cuts |= {t for t in ends[max(first - 1, 0) : last] if begin < t < end}
        if rules:
            minute = begin.replace(second=0, microsecond=0) + timedelta(minutes=1)
            while minute < end:
                cuts.add(minute)
                minute += timedelta(minutes=1)
        for a, b in itertools.pairwise(sorted(cuts)):
            share = (b - a) / horizon.step
            result[:, slot] += np.multiply(price_at(a + (b - a) / 2, slot), share)
    return result[0], result[1]


def read_phase_limit_a(problem: Problem) -> np.ndarray:
    """The grid's phase limit [A] in each slot; inf where it has none."""
    given = problem.site.grid.phase_limit_a
    values = given if isinstance(given, list) else [given] * problem.horizon.slots
    return np.array([math.inf if v is None else v for v in values], dtype=float)


@dataclass(frozen=True)
class BillingPeriod:
    start: datetime | None  # local start (None: the peak never resets)
    end: datetime | None
    slots: list[int]
    peak_so_far_kw: float


def read_billing_periods(problem: Problem) -> list[BillingPeriod]:
    """The billing periods of the demand charge the horizon's slots fall in, in order."""
    tariff, horizon = problem.tariff, problem.horizon
    all_slots = list(range(horizon.slots))
    if tariff.demand_charge_period == "none":
        return [BillingPeriod(None, None, all_slots, tariff.peak_so_far_kw)]
    zone = ZoneInfo(problem.site.timezone)
    by_month = tariff.demand_charge_period == "month"
    periods: dict[date, list[int]] = {}
    for slot in all_slots:
        local = (horizon.start.astimezone(UTC) + slot * horizon.step).astimezone(zone)
        first_day = local.date().replace(day=1) if by_month else local.date()
        periods.setdefault(first_day, []).append(slot)
    result = []
    for k, (first_day, slots) in enumerate(periods.items()):
        if by_month:
            next_day = (first_day + timedelta(days=32)).replace(day=1)
        else:
            next_day = first_day + timedelta(days=1)
        start, end = (datetime.combine(d, time(0), tzinfo=zone) for d in (first_day, next_day))
        result.append(BillingPeriod(start, end, slots, tariff.peak_so_far_kw if k == 0 else 0.0))
    return result
