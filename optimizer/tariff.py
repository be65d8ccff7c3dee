"""What a kWh costs in each slot, and which billing period each slot's peak belongs to.

A slot's price is the time-weighted mean over the slot of the price that holds at each instant
(SPEC §5). At an instant, each of the import and the export price comes from the first of:

1. the price point of `tariff.prices` that covers it (a point holds from its time until the
   next point; the last one for the median spacing of the points, one hour if it is alone),
   if that point gives this price;
2. the last rule of `tariff.time_of_use` that covers the site's local wall-clock time and
   gives this price (later rules override earlier ones);
3. the flat `import_price_per_kwh` / `export_price_per_kwh` of the slot.

Time-of-use rules read the local clock: on a DST day a rule from 07:00 keeps starting at 07:00
local time, a rule over a skipped hour covers nothing of it and one over a repeated hour covers
it twice. Rule times are whole minutes and every time zone in use is a whole number of minutes
from UTC, so the rules can only change at whole UTC minutes: evaluating them once per minute
piece of a slot is exact.

The demand charge is billed per local calendar period (`demand_charge_period`): a slot belongs
to the period of its start; `peak_so_far_kw` is the peak already paid in the period holding the
horizon's start, and every later period starts from no peak at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:
    from smartcharge.optimizer.problem import PricePoint, Problem, TimeOfUseRule

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS = {
    "daily": range(7),
    "all": range(7),
    "weekdays": range(5),
    "weekends": range(5, 7),
    "weekend": range(5, 7),
}
_WEEKDAY_NUMBERS = {
    name: number for number, full in enumerate(WEEKDAY_NAMES) for name in (full, full[:3])
}
MINUTES_PER_DAY = 24 * 60
# A feed of a single point: it stands for one market time unit, which for day-ahead auctions
# and most dynamic tariffs is (at most) an hour.
SINGLE_POINT_HOLD = timedelta(hours=1)
_NS_PER_MINUTE = 60 * 10**9


def weekdays_of(days: str) -> frozenset[int]:
    """The weekdays (0 = Monday) a `days` text names: "mon-fri", "sat,sun", "daily", ...

    Items are separated by commas; each is a day ("mon" or "monday"), a range of days ("fri-mon"
    wraps over the weekend), or one of `daily`/`all`, `weekdays`, `weekends`.
    """
    result: set[int] = set()
    for item in days.lower().replace(" ", "").split(","):
        if item in _DAY_WORDS:
            result.update(_DAY_WORDS[item])
            continue
        ends = [_WEEKDAY_NUMBERS.get(part) for part in item.split("-")]
        if len(ends) not in (1, 2) or None in ends:
            raise ValueError(
                f"'{days}' does not name days: use mon..sun, ranges like 'mon-fri', lists like "
                "'sat,sun', or 'daily'"
            )
        first, last = ends[0], ends[-1]
        result.update((first + k) % 7 for k in range((last - first) % 7 + 1))
    return frozenset(result)


def clock_minutes(text: str, end_of_day_allowed: bool) -> int:
    """Minutes after local midnight of an "HH:MM" clock time; "24:00" only as an end."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a clock time: use HH:MM, e.g. '07:00'")
    hours, minutes = int(match[1]), int(match[2])
    if (hours, minutes) == (24, 0) and end_of_day_allowed:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        allowed = "00:00 to 24:00" if end_of_day_allowed else "00:00 to 23:59"
        raise ValueError(f"'{text}' is not a clock time from {allowed}")
    return hours * 60 + minutes


@dataclass(frozen=True)
class SlotPrices:
    import_per_kwh: np.ndarray  # (T,) time-weighted mean over each slot
    export_per_kwh: np.ndarray


def slot_prices(
    problem: Problem,
    slot_edges: Sequence[datetime],
    flat_import: np.ndarray,
    flat_export: np.ndarray,
) -> SlotPrices:
    """Each slot's import and export price: the mean over the slot of feed, rules and flat."""
    tariff = problem.tariff
    if not tariff.time_of_use and not tariff.prices:
        return SlotPrices(flat_import, flat_export)
    import pandas as pd

    edges = pd.DatetimeIndex(list(slot_edges)).tz_convert("UTC").as_unit("ns").asi8
    feed_times, feed_ends = _feed_spans(tariff.prices)
    cuts = [edges, feed_times, feed_ends]
    if tariff.time_of_use:
        first_minute = -(-edges[0] // _NS_PER_MINUTE) * _NS_PER_MINUTE
        cuts.append(np.arange(first_minute, edges[-1], _NS_PER_MINUTE, dtype=np.int64))
    pieces = np.unique(np.concatenate(cuts))
    pieces = pieces[(pieces >= edges[0]) & (pieces <= edges[-1])]
    middle = pieces[:-1] + np.diff(pieces) // 2
    length = np.diff(pieces).astype(float)
    slot = np.searchsorted(edges, middle, side="right") - 1
    local = pd.DatetimeIndex(middle, tz="UTC").tz_convert(problem.site.timezone)
    weekday = local.day_of_week.to_numpy()
    minute = (local.hour * 60 + local.minute).to_numpy()
    holding = np.searchsorted(feed_times, middle, side="right") - 1  # the point before
    in_feed = holding >= 0
    in_feed[in_feed] = middle[in_feed] < feed_ends[holding[in_feed]]
    covers = [_rule_covers(rule, weekday, minute) for rule in tariff.time_of_use]

    def mean_per_slot(flat: np.ndarray, name: str) -> np.ndarray:
        price = flat[slot]
        for rule, covered in zip(tariff.time_of_use, covers, strict=True):
            if getattr(rule, name) is not None:
                price = np.where(covered, getattr(rule, name), price)
        # A point that omits this price (None: NaN here) leaves it to the rules and the flat.
        given = np.array([getattr(p, name) for p in tariff.prices], dtype=float)
        if given.size:
            from_feed = given[np.maximum(holding, 0)]
            price = np.where(in_feed & np.isfinite(from_feed), from_feed, price)
        total = np.bincount(slot, weights=price * length, minlength=flat.size)
        return total / np.bincount(slot, weights=length, minlength=flat.size)

    return SlotPrices(
        mean_per_slot(flat_import, "import_per_kwh"), mean_per_slot(flat_export, "export_per_kwh")
    )


def _feed_spans(points: Sequence[PricePoint]) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) [ns since epoch] of each point: until the next one; the last one for the
    median spacing (a day-ahead feed's last hour holds an hour, not until the next feed)."""
    import pandas as pd

    if not points:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    times = pd.DatetimeIndex(pd.to_datetime([p.time for p in points], utc=True)).as_unit("ns")
    starts = times.asi8
    spacing = np.diff(starts)
    last_hold = int(np.median(spacing)) if spacing.size else pd.Timedelta(SINGLE_POINT_HOLD).value
    return starts, np.append(starts[1:], starts[-1] + last_hold)


def _rule_covers(rule: TimeOfUseRule, weekday: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """Where a rule holds at local (weekday, minute of day); a rule whose `to` is not after its
    `from` runs past midnight into the next day, and belongs to the day it starts on."""
    days = np.array(sorted(weekdays_of(rule.days)))
    start = clock_minutes(rule.from_, end_of_day_allowed=False)
    end = clock_minutes(rule.to, end_of_day_allowed=True)
    today = np.isin(weekday, days)
    if start < end:
        return today & (minute >= start) & (minute < end)
    yesterday = np.isin((weekday - 1) % 7, days)
    return (today & (minute >= start)) | (yesterday & (minute < end))


@dataclass(frozen=True)
class DemandPeriods:
    """The billing periods a horizon touches, in order, and the period of each slot."""

    of_slot: np.ndarray  # (T,) index into the periods
    start: list[datetime | None]  # local start of each period (None: no calendar)
    end: list[datetime | None]
    peak_so_far_kw: np.ndarray  # (P,) the peak already paid in each period

    @property
    def count(self) -> int:
        return len(self.start)

    def peak_kw(self, import_kw: np.ndarray) -> np.ndarray:
        """(P,) each period's peak: the highest import of its slots, or what it had paid."""
        peak = self.peak_so_far_kw.astype(float)
        np.maximum.at(peak, self.of_slot, import_kw)
        return peak


def demand_periods(problem: Problem, slot_start: Sequence[datetime]) -> DemandPeriods:
    """The local billing period of each slot's start: a month begins at local midnight on the
    1st, a day at local midnight; `none` is one period without a calendar (the peak so far
    never resets: a yearly or contracted peak the caller keeps track of).

    Plain datetimes (no pandas): every plan computes this, and a plan with given forecasts
    loads no pandas."""
    period = problem.tariff.demand_charge_period
    slots = len(slot_start)
    if period == "none":
        return DemandPeriods(
            np.zeros(slots, dtype=int), [None], [None], np.array([problem.tariff.peak_so_far_kw])
        )
    zone = ZoneInfo(problem.site.timezone)
    labels: dict[tuple[int, int, int], int] = {}
    of_slot = np.empty(slots, dtype=int)
    for t, start in enumerate(slot_start):
        local = start.astimezone(zone)
        label = (local.year, local.month, 1 if period == "month" else local.day)
        of_slot[t] = labels.setdefault(label, len(labels))
    starts = [_local_midnight(date(*label), zone) for label in labels]
    ends = [_local_midnight(_next(date(*label), period), zone) for label in labels]
    so_far = np.zeros(len(labels))
    so_far[0] = problem.tariff.peak_so_far_kw
    return DemandPeriods(of_slot, starts, ends, so_far)


def _next(day: date, period: str) -> date:
    if period == "day":
        return day + timedelta(days=1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # A midnight the clock skips (a DST change at 00:00) starts the day at the jump: fold 0
    # reads a skipped time with the offset before the change, which is the jump's instant.
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    return midnight.astimezone(UTC).astimezone(zone)
