"""A stored site's inputs that live in time, turned into the problem of one plan (SPEC §5): the
price feed as `tariff.prices`, grid-operator windows as per-slot limits, and the billing period
whose metered peak is `tariff.peak_so_far_kw`.

Pure functions over the composed problem dict and what the store read; `stored_problem` calls
them, so a plan, what-if at a given `at` and the forecast endpoint all see the same inputs.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from smartcharge.api.store.prices import HeldPrice
from smartcharge.api.store.tables import GridLimitWindow

BillingPeriod = Literal["month", "day", "none"]
DEFAULT_BILLING_PERIOD: BillingPeriod = "month"

# The finest grid a feed is written out on: prices change on whole minutes (rarer in
# practice: on quarter-hours).
MIN_PRICE_GRID_S = 60

# The grid limits a window may cap, and what the problem means where the site gives none.
WINDOW_LIMITS: dict[str, float | None] = {
    "import_limit_kw": None,  # required in every document
    "export_limit_kw": 0.0,  # SPEC §1: no export unless the site allows it
    "phase_limit_a": None,  # no phase limit
}


def billing_period_start(
    moment: datetime, timezone: str, period: BillingPeriod = DEFAULT_BILLING_PERIOD
) -> datetime | None:
    """The local midnight the billing period holding `moment` began at: the 1st of the month
    (`month`), the day (`day`); None for `none` (the peak never resets)."""
    if period == "none":
        return None
    local = moment.astimezone(ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        midnight = midnight.replace(day=1)
    # Round-trip through UTC: a zone whose clocks jump at midnight has no 00:00 that day, and
    # the instant zoneinfo gives for it is the period's first real moment.
    return midnight.astimezone(ZoneInfo("UTC"))


def horizon_bounds(problem: dict[str, Any]) -> tuple[datetime, timedelta, int]:
    horizon = problem["horizon"]
    return (
        datetime.fromisoformat(horizon["start"]),
        timedelta(minutes=horizon["step_minutes"]),
        horizon["slots"],
    )


def price_points(
    held: Sequence[HeldPrice], start: datetime, end: datetime, step: timedelta
) -> list[dict]:
    """`tariff.prices` for a horizon [start, end) of `step` slots, saying exactly what the feed
    says there. The problem's points hold until the next one and the last one for their median
    spacing (SPEC §5); the feed's points hold until the next one or their own end, which may be
    sooner (a day-ahead feed whose next day has not come yet) or later (a price change that
    holds until further notice). So the feed is written out on a regular grid fine enough for
    each of its changes (each grid point with the price then holding): every spacing is the
    median, and the last point ends where the feed ends. Where the feed has a gap inside the
    horizon, the points stop there: the document's tariff applies from the gap on."""
    covered = _first_run(held, start, end)
    if not covered:
        return []
    first, last_end = covered[0].time, covered[-1].end
    assert last_end is not None  # _first_run clips every end to the horizon
    offsets = [int((t - start).total_seconds()) for t in (first, last_end)]
    offsets += [int((p.time - start).total_seconds()) for p in covered[1:]]
    grid_s = max(math.gcd(int(step.total_seconds()), *offsets), MIN_PRICE_GRID_S)
    grid = [first + timedelta(seconds=s) for s in range(0, offsets[1] - offsets[0], grid_s)]
    changes = [p.time for p in covered]
    points = []
    for moment in grid:
        point = covered[bisect.bisect_right(changes, moment) - 1]
        entry: dict[str, Any] = {"time": moment.isoformat(), "import_per_kwh": point.import_per_kwh}
        if point.export_per_kwh is not None:
            entry["export_per_kwh"] = point.export_per_kwh
        points.append(entry)
    return points


def _first_run(held: Sequence[HeldPrice], start: datetime, end: datetime) -> list[HeldPrice]:
    """The points covering [start, end) without a gap from the first of them on, clipped to
    the horizon (the first starts no earlier than `start`, every end no later than `end`)."""
    run: list[HeldPrice] = []
    for point in held:
        point_end = end if point.end is None else min(point.end, end)
        if point_end <= start or point.time >= end:
            continue
        if run and run[-1].end != point.time:
            break  # a gap: the feed resumes later, but a point cannot say "no price here"
        run.append(
            HeldPrice(max(point.time, start), point.import_per_kwh, point.export_per_kwh, point_end)
        )
    return run


def window_caps(
    windows: Sequence[GridLimitWindow], start: datetime, step: timedelta, slots: int, limit: str
) -> np.ndarray:
    """Per slot, the tightest `limit` of the windows touching the slot (inf where none does).
    A window that covers part of a slot binds the whole slot: the safe side for a grid
    operator's cap, since a set-point holds for the whole slot."""
    caps = np.full(slots, np.inf)
    for window in windows:
        value = getattr(window, limit)
        if value is None:
            continue
        first = max(math.floor((window.start_utc - start) / step), 0)
        last = min(math.ceil((window.end_utc - start) / step), slots)
        if first < last:
            caps[first:last] = np.minimum(caps[first:last], value)
    return caps


def apply_grid_windows(problem: dict[str, Any], windows: Sequence[GridLimitWindow]) -> None:
    """Within each window the plan uses the tighter of the window's and the site's limits, as
    per-slot arrays of `site.grid` (a limit no window touches stays as the document has it)."""
    start, step, slots = horizon_bounds(problem)
    grid = problem["site"]["grid"]
    for limit, default in WINDOW_LIMITS.items():
        caps = window_caps(windows, start, step, slots, limit)
        if not np.isfinite(caps).any():
            continue
        site_value = grid.get(limit, default)
        # null in a per-slot array: no limit in that slot (a site without a phase limit).
        site = np.asarray(
            [np.inf if v is None else v for v in site_value]
            if isinstance(site_value, list)
            else np.inf
            if site_value is None
            else site_value,
            dtype=float,
        )
        if site.ndim == 1 and site.size != slots:
            continue  # a per-slot array of another length: validation names it
        combined = np.broadcast_to(np.minimum(site, caps), (slots,))
        grid[limit] = [float(v) if np.isfinite(v) else None for v in combined]
