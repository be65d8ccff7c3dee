"""A stored site's inputs that live in time, turned into the problem of one plan (SPEC §5): the
price feed as `tariff.prices`, grid-operator windows as per-slot limits, and the billing period
whose metered peak is `tariff.peak_so_far_kw`.

Pure functions over the composed problem dict and what the store read; `stored_problem` calls
them, so a plan, what-if at a given `at` and the forecast endpoint all see the same inputs.
"""

from __future__ import annotations

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

# Where a site sets no phase limit, the slots outside a window get one no site can reach: a
# per-slot array needs a number in every slot.
UNLIMITED_PHASE_A = 1e6

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
    (`month`), the day (`day`); None for `none` (no period: no metered peak carries over)."""
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


def price_points(held: Sequence[HeldPrice], start: datetime, end: datetime) -> list[dict]:
    """`tariff.prices` for a horizon [start, end): the points that hold inside it (the one
    holding at `start` included), and where the feed stops short of `end` (its last point's
    end, or a gap between two points) a point without prices: from there the document's
    tariff applies again."""
    points: list[dict[str, Any]] = []
    for i, point in enumerate(held):
        next_time = held[i + 1].time if i + 1 < len(held) else None
        if (point.end is not None and point.end <= start) or point.time >= end:
            continue
        entry: dict[str, Any] = {
            "time": point.time.isoformat(),
            "import_per_kwh": point.import_per_kwh,
        }
        if point.export_per_kwh is not None:
            entry["export_per_kwh"] = point.export_per_kwh
        points.append(entry)
        if point.end is not None and point.end < end and point.end != next_time:
            points.append({"time": point.end.isoformat(), "import_per_kwh": None})
    return points


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
        if site_value is None:
            # No phase limit of the site's own: outside the windows none may bind either.
            site_value = UNLIMITED_PHASE_A
        site = np.asarray(site_value, dtype=float)
        if site.ndim == 1 and site.size != slots:
            continue  # a per-slot array of another length: validation names it
        grid[limit] = [float(v) for v in np.broadcast_to(np.minimum(site, caps), (slots,))]
