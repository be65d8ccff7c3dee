"""Limits as a charger takes them: its unit, its minimum, the 0.1 grid, and few periods.

Limits are integer tenths of their unit (214 = 21.4 A or 21.4 W): OCPP 1.6 wants multiples of
0.1 (schema `multipleOf: 0.1`) and 2.0.1 "at most one digit fraction", and integers compare and
merge exactly. A charger holds at most `ChargingScheduleMaxPeriods` periods per schedule (1.6
configuration key, OCPP.md §1.3; 2.0.1 `PeriodsPerSchedule`). Equal neighbours are merged for
free; beyond that, neighbouring periods are joined at the lowest limit they cover, so the
schedule never exceeds the plan in any second (a limit above the plan could break a site
limit), and the cut points are chosen to keep as much of the planned energy as possible.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from smartcharge.optimizer.problem import (
    Charger,
    Session,
    session_phases,
    session_switches_phases,
)
from smartcharge.optimizer.units import W_PER_KW

# Above this many runs, cheap greedy merges come first; the exact search is O(k n^2).
_EXACT_MAX_RUNS = 256
# x * 10 this close to an integer is that integer up to float noise (W limits stay < 1e8).
_NEAR_INTEGER = 1e-6
# Phases fit in two bits: tenths * 4 + phases orders by limit, then by fewer phases.
_PHASE_KEY = 4


LIMIT = 0  # a period's kind: a cap on charging (every OCPP version)
SETPOINT = 1  # a signed set-point of a session that may discharge (OCPP 2.1 V2G)


class Step(NamedTuple):
    """One period: its limit [tenths of A per phase, or of W in total; negative only for a
    set-point that discharges], the EV's phases and the kind (`LIMIT` or `SETPOINT`)."""

    limit_tenths: int
    phases: int
    kind: int = LIMIT


class Runs(NamedTuple):
    """Consecutive slots with one step each: lengths [slots], limits [tenths], phases, kinds."""

    lengths: np.ndarray
    limit_tenths: np.ndarray
    phases: np.ndarray
    kinds: np.ndarray

    def classes(self) -> np.ndarray:
        """What must agree for runs to share a non-zero period: phases, kind and sign."""
        return (self.phases * 2 + self.kinds) * 2 + (self.limit_tenths < 0)


def floor_tenths(values: ArrayLike, scale: float = 1) -> np.ndarray:
    """`values x scale` rounded down to 0.1, as integer tenths: 21.46 -> 214, 21.4 -> 214.

    A float counts as the decimal it prints as (21.4, not 21.39999...), so a value already on
    the grid keeps it: where x * 10 * scale is within float noise of an integer m, the answer is
    m if x >= m / (10 scale) (the double nearest to that decimal), else m - 1. `scale` is a power
    of ten (1000 for kW -> W), applied exactly.
    """
    x = np.asarray(values, dtype=float)
    scaled = x * (10 * scale)
    nearest = np.round(scaled)
    on_grid = np.where(x >= nearest / (10 * scale), nearest, nearest - 1)
    tenths = np.where(np.abs(scaled - nearest) < _NEAR_INTEGER, on_grid, np.floor(scaled))
    return tenths.astype(np.int64)


def ceil_tenths(values: ArrayLike) -> np.ndarray:
    """Values rounded up to 0.1, as integer tenths: 6.05 -> 61, 6.0 -> 60."""
    return -floor_tenths(-np.asarray(values, dtype=float))


def wire_limit(limit_tenths: int) -> int | float:
    """A limit as sent: an integer where whole (safest for picky firmware), else one decimal."""
    return limit_tenths // 10 if limit_tenths % 10 == 0 else limit_tenths / 10


def rate_unit(charger: Charger) -> str:
    """The charger's `chargingRateUnit`: DC (SPEC §1) and bidirectional (SPEC §4: a signed
    set-point is a power) chargers are always limited in W."""
    return "W" if charger.kind == "dc" or charger.bidirectional else charger.charging_rate_unit


def may_discharge(session: Session, charger: Charger) -> bool:
    """A session whose plan is a signed set-point (SPEC §4: `discharge` on a bidirectional
    charger); every other session's plan is a cap."""
    return charger.bidirectional and session.discharge is not None


def planned_phases(
    session: Session, charger: Charger, entry: dict[str, Any], slots: int
) -> np.ndarray:
    """(slots,) the phases the session charges on per slot: the answer's `phases_used` where
    the session switches phases (SPEC §4), else its fixed phases (DC: 3)."""
    fixed = 3 if charger.kind == "dc" else session_phases(session, charger)
    used = entry.get("phases_used")
    if used is not None and session_switches_phases(session, charger):
        return np.asarray(used, dtype=np.int64).reshape(slots)
    return np.full(slots, fixed, dtype=np.int64)


def minimum_tenths(charger: Charger, phases: int, voltage_v: float) -> int:
    """The smallest non-zero limit the charger may get, in tenths of its rate unit.

    A: `min_current_a`, rounded up so no limit is ever below it. W: that current at `phases`
    phases, converted like every planned current (`ac_watts_tenths`), so a planned current at or
    above the minimum never converts below it. DC: `min_power_kw`.
    """
    if charger.kind == "dc":
        return int(floor_tenths(charger.min_power_kw, scale=W_PER_KW))
    minimum_a_tenths = int(ceil_tenths(charger.min_current_a))
    if rate_unit(charger) == "A":
        return minimum_a_tenths
    return int(ac_watts_tenths(np.array([minimum_a_tenths]), phases, voltage_v)[0])


def ac_watts_tenths(current_tenths: np.ndarray, phases: int, voltage_v: float) -> np.ndarray:
    """Total W (tenths) of a per-phase current (tenths): I x V x phases, floored to 0.1 W.

    The integer current x phases times V is exact for any voltage with a short binary form
    (230, 230.5), so the floor loses nothing there; it is monotone in the current either way.
    """
    return floor_tenths(current_tenths * phases * voltage_v / 10)


def session_limit_tenths(
    charger: Charger,
    entry: dict[str, Any],
    phases: int | np.ndarray,
    voltage_v: float,
    *,
    signed: bool = False,
) -> np.ndarray:
    """A session's planned per-slot limits in tenths of the charger's unit, 0 or >= minimum.

    AC in W is derived from the planned current, so the W limit allows no more current than
    the plan; DC in W from the planned power. `phases` may change per slot (a switching
    session). `signed`: the set-point of a session that may discharge, in W from the planned
    power, truncated towards 0 (never more charge nor more discharge than planned).
    """
    phases = np.asarray(phases, dtype=np.int64)
    if signed:
        power_kw = np.asarray(entry["power_kw"], dtype=float)
        magnitude = floor_tenths(np.abs(power_kw), scale=W_PER_KW)
        minimum = _minimum_per_slot(charger, phases, voltage_v)
        return np.sign(power_kw).astype(np.int64) * snap_below_minimum(magnitude, minimum)
    if charger.kind == "dc":
        tenths = floor_tenths(entry["power_kw"], scale=W_PER_KW)
    else:
        tenths = floor_tenths(entry["current_a"])
        if rate_unit(charger) == "W":
            tenths = ac_watts_tenths(tenths, phases, voltage_v)
    return snap_below_minimum(tenths, _minimum_per_slot(charger, phases, voltage_v))


def _minimum_per_slot(charger: Charger, phases: np.ndarray, voltage_v: float) -> np.ndarray:
    """`minimum_tenths` at each slot's phases (a W minimum depends on them)."""
    by_phases = np.array([minimum_tenths(charger, n, voltage_v) for n in range(4)])
    return by_phases[phases]


def snap_below_minimum(limit_tenths: np.ndarray, minimum: ArrayLike) -> np.ndarray:
    """0 for a limit between 0 and the minimum: a pause, never a current IEC 61851 cannot signal."""
    return np.where(limit_tenths < minimum, 0, np.maximum(limit_tenths, 0))


def schedule_periods(
    limit_tenths: ArrayLike,
    phases: ArrayLike,
    step_s: int,
    max_periods: int,
    kinds: ArrayLike = LIMIT,
) -> list[tuple[int, Step]]:
    """(startPeriod [s], step) per period from per-slot limits: merged, coarsened downward."""
    tenths = np.ascontiguousarray(limit_tenths, dtype=np.int64)
    phases = np.ascontiguousarray(np.broadcast_to(phases, tenths.shape), dtype=np.int64)
    kinds = np.ascontiguousarray(np.broadcast_to(kinds, tenths.shape), dtype=np.int64)
    return list(
        _cached_periods(tenths.tobytes(), phases.tobytes(), kinds.tobytes(), step_s, max_periods)
    )


@functools.lru_cache(maxsize=4096)
def _cached_periods(
    tenths: bytes, phases: bytes, kinds: bytes, step_s: int, max_periods: int
) -> tuple[tuple[int, Step], ...]:
    # Chargers under the same limits often share one default schedule: search it once.
    slots = np.frombuffer(tenths, dtype=np.int64)
    runs = Runs(
        np.ones(slots.size, dtype=np.int64),
        slots,
        np.frombuffer(phases, dtype=np.int64),
        np.frombuffer(kinds, dtype=np.int64),
    )
    runs = coarsen_downward(join_equal(runs), max_periods)
    starts = np.concatenate([[0], np.cumsum(runs.lengths)[:-1]]) * step_s
    return tuple(
        (int(start), Step(int(limit), int(phase), int(kind)))
        for start, limit, phase, kind in zip(
            starts, runs.limit_tenths, runs.phases, runs.kinds, strict=True
        )
    )


def join_equal(runs: Runs) -> Runs:
    """Neighbouring runs with the same limit, phases and kind joined into one."""
    changes = (
        (np.diff(runs.limit_tenths) != 0) | (np.diff(runs.phases) != 0) | (np.diff(runs.kinds) != 0)
    )
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
    return Runs(
        np.add.reduceat(runs.lengths, starts),
        runs.limit_tenths[starts],
        runs.phases[starts],
        runs.kinds[starts],
    )


def coarsen_downward(runs: Runs, max_periods: int) -> Runs:
    """At most `max_periods` runs, each the lowest of the runs it covers, keeping most energy.

    "Lowest" is closest to 0: the minimum of the magnitudes with the runs' common sign, phases
    and kind, or 0 where the runs covered differ in those. The minimum never exceeds the plan
    in any second, and the minimum of limits that are each 0 or >= a floor is again 0 or >=
    that floor. The cut points are chosen exactly (`_best_cuts`); very long schedules are first
    merged greedily, cheapest merge first.
    """
    while runs.lengths.size > max(max_periods, _EXACT_MAX_RUNS):
        runs = _merge_cheapest_pair(runs)
    if runs.lengths.size <= max_periods:
        return runs
    magnitude = np.abs(runs.limit_tenths)
    classes = runs.classes()
    starts = _best_cuts(magnitude.astype(float), runs.lengths, max_periods, classes)
    lowest = np.minimum.reduceat((magnitude * _PHASE_KEY + runs.phases) * 2 + runs.kinds, starts)
    mixed = np.minimum.reduceat(classes, starts) != np.maximum.reduceat(classes, starts)
    sign = np.sign(runs.limit_tenths[starts])
    merged = Runs(
        np.add.reduceat(runs.lengths, starts),
        np.where(mixed, 0, sign * (lowest // 2 // _PHASE_KEY)),
        lowest // 2 % _PHASE_KEY,
        lowest % 2,
    )
    return join_equal(merged)


def _merge_cheapest_pair(runs: Runs) -> Runs:
    """Merge the neighbours whose merge loses the least energy (the higher drops to the lower;
    both to 0 where they differ in phases, kind or sign)."""
    lengths, magnitude = runs.lengths, np.abs(runs.limit_tenths)
    classes = runs.classes()
    higher_length = np.where(magnitude[:-1] > magnitude[1:], lengths[:-1], lengths[1:])
    same_loss = np.abs(np.diff(magnitude)) * higher_length
    mixed_loss = magnitude[:-1] * lengths[:-1] + magnitude[1:] * lengths[1:]
    i = int(np.argmin(np.where(np.diff(classes) == 0, same_loss, mixed_loss)))
    key = magnitude * _PHASE_KEY + runs.phases
    low = i if key[i] <= key[i + 1] else i + 1
    merged = Runs(*(np.delete(column, i + 1) for column in runs))
    merged.lengths[i] = lengths[i] + lengths[i + 1]
    merged.phases[i], merged.kinds[i] = runs.phases[low], runs.kinds[low]
    merged.limit_tenths[i] = runs.limit_tenths[low] if classes[i] == classes[i + 1] else 0
    return join_equal(merged)


def _best_cuts(
    values: np.ndarray, lengths: np.ndarray, k: int, classes: np.ndarray | None = None
) -> np.ndarray:
    """Start indices of the k segments of runs whose minima x lengths sum highest (exact DP).

    kept[i, j] is the energy segment [i, j) keeps at its minimum (0 where its runs' `classes`
    differ: such a segment becomes a pause); best[j] the most energy runs [0, j) keep in m
    segments, extended by one segment per round.
    """
    n = len(values)
    cum = np.concatenate([[0], np.cumsum(lengths)])
    later = np.arange(n)[None, :] >= np.arange(n)[:, None]  # [i, j - 1]: segment [i, j) exists
    running_min = np.minimum.accumulate(np.where(later, values[None, :], np.inf), axis=1)
    if classes is not None:
        changes = np.concatenate([[0], np.cumsum(np.diff(classes) != 0)])
        running_min = np.where(changes[None, :] > changes[:, None], 0.0, running_min)
    span = cum[None, 1:] - cum[:-1, None]
    kept = np.full((n + 1, n + 1), -np.inf)
    kept[:-1, 1:][later] = running_min[later] * span[later]
    best, choices = kept[0], []
    for _ in range(k - 1):
        total = best[:, None] + kept
        choices.append(total.argmax(axis=0))
        best = total.max(axis=0)
    cuts, j = [], n
    for choice in reversed(choices):
        j = int(choice[j])
        cuts.append(j)
    return np.array([0, *reversed(cuts)], dtype=np.int64)
