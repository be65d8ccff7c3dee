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

from smartcharge.optimizer.problem import Charger
from smartcharge.optimizer.units import W_PER_KW

# Above this many runs, cheap greedy merges come first; the exact search is O(k n^2).
_EXACT_MAX_RUNS = 256
# x * 10 this close to an integer is that integer up to float noise (W limits stay < 1e8).
_NEAR_INTEGER = 1e-6
# Phases fit in two bits: tenths * 4 + phases orders by limit, then by fewer phases.
_PHASE_KEY = 4


class Step(NamedTuple):
    """One period's limit [tenths of A per phase, or of W in total] and the EV's phases."""

    limit_tenths: int
    phases: int


class Runs(NamedTuple):
    """Consecutive slots with one step each: lengths [slots], limits [tenths], phases."""

    lengths: np.ndarray
    limit_tenths: np.ndarray
    phases: np.ndarray


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
    """The charger's `chargingRateUnit`; DC chargers are always limited in W (SPEC §1)."""
    return "W" if charger.kind == "dc" else charger.charging_rate_unit


def minimum_tenths(charger: Charger, phases: int, voltage_v: float) -> int:
    """The smallest non-zero limit the charger may get, in tenths of its rate unit.

    A: `min_current_a`, rounded up so no limit is ever below it. W: that current at `phases`
    phases, converted like every planned current (`ac_watts_tenths`), so a planned current at or
    above the minimum never converts below it. DC: `min_power_kw`.
    """
    if charger.kind == "dc":
        return int(floor_tenths(charger.min_power_kw, scale=W_PER_KW))
    minimum_a_tenths = int(ceil_tenths(charger.min_current_a))
    if charger.charging_rate_unit == "A":
        return minimum_a_tenths
    return int(ac_watts_tenths(np.array([minimum_a_tenths]), phases, voltage_v)[0])


def ac_watts_tenths(current_tenths: np.ndarray, phases: int, voltage_v: float) -> np.ndarray:
    """Total W (tenths) of a per-phase current (tenths): I x V x phases, floored to 0.1 W.

    The integer current x phases times V is exact for any voltage with a short binary form
    (230, 230.5), so the floor loses nothing there; it is monotone in the current either way.
    """
    return floor_tenths(current_tenths * phases * voltage_v / 10)


def session_limit_tenths(
    charger: Charger, entry: dict[str, Any], phases: int, voltage_v: float
) -> np.ndarray:
    """A session's planned per-slot limits in tenths of the charger's unit, 0 or >= minimum.

    AC in W is derived from the planned current, so the W limit allows no more current than
    the plan; DC in W from the planned power.
    """
    if charger.kind == "dc":
        tenths = floor_tenths(entry["power_kw"], scale=W_PER_KW)
    else:
        tenths = floor_tenths(entry["current_a"])
        if charger.charging_rate_unit == "W":
            tenths = ac_watts_tenths(tenths, phases, voltage_v)
    return snap_below_minimum(tenths, minimum_tenths(charger, phases, voltage_v))


def snap_below_minimum(limit_tenths: np.ndarray, minimum: int) -> np.ndarray:
    """0 for a limit between 0 and the minimum: a pause, never a current IEC 61851 cannot signal."""
    return np.where(limit_tenths < minimum, 0, np.maximum(limit_tenths, 0))


def schedule_periods(
    limit_tenths: ArrayLike, phases: ArrayLike, step_s: int, max_periods: int
) -> list[tuple[int, Step]]:
    """(startPeriod [s], step) per period from per-slot limits: merged, coarsened downward."""
    tenths = np.ascontiguousarray(limit_tenths, dtype=np.int64)
    phases = np.ascontiguousarray(np.broadcast_to(phases, tenths.shape), dtype=np.int64)
    return list(_cached_periods(tenths.tobytes(), phases.tobytes(), step_s, max_periods))


@functools.lru_cache(maxsize=4096)
def _cached_periods(
    tenths: bytes, phases: bytes, step_s: int, max_periods: int
) -> tuple[tuple[int, Step], ...]:
    # Chargers under the same limits often share one default schedule: search it once.
    slots = np.frombuffer(tenths, dtype=np.int64)
    runs = Runs(np.ones(slots.size, dtype=np.int64), slots, np.frombuffer(phases, dtype=np.int64))
    runs = coarsen_downward(join_equal(runs), max_periods)
    starts = np.concatenate([[0], np.cumsum(runs.lengths)[:-1]]) * step_s
    return tuple(
        (int(start), Step(int(limit), int(phase)))
        for start, limit, phase in zip(starts, runs.limit_tenths, runs.phases, strict=True)
    )


def join_equal(runs: Runs) -> Runs:
    """Neighbouring runs with the same limit and phases joined into one."""
    changes = (np.diff(runs.limit_tenths) != 0) | (np.diff(runs.phases) != 0)
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
    return Runs(
        np.add.reduceat(runs.lengths, starts), runs.limit_tenths[starts], runs.phases[starts]
    )


def coarsen_downward(runs: Runs, max_periods: int) -> Runs:
    """At most `max_periods` runs, each the lowest of the runs it covers, keeping most energy.

    The minimum never exceeds the plan in any second, and the minimum of limits that are each
    0 or >= a floor is again 0 or >= that floor. The cut points are chosen exactly
    (`_best_cuts`); very long schedules are first merged greedily, cheapest merge first.
    """
    while runs.lengths.size > max(max_periods, _EXACT_MAX_RUNS):
        runs = _merge_cheapest_pair(runs)
    if runs.lengths.size <= max_periods:
        return runs
    starts = _best_cuts(runs.limit_tenths.astype(float), runs.lengths, max_periods)
    lowest = np.minimum.reduceat(runs.limit_tenths * _PHASE_KEY + runs.phases, starts)
    merged = Runs(np.add.reduceat(runs.lengths, starts), lowest // _PHASE_KEY, lowest % _PHASE_KEY)
    return join_equal(merged)


def _merge_cheapest_pair(runs: Runs) -> Runs:
    """Merge the neighbours whose merge loses the least energy (the higher drops to the lower)."""
    lengths, tenths = runs.lengths, runs.limit_tenths
    higher_length = np.where(tenths[:-1] > tenths[1:], lengths[:-1], lengths[1:])
    i = int(np.argmin(np.abs(np.diff(tenths)) * higher_length))
    low = i if (tenths[i], runs.phases[i]) <= (tenths[i + 1], runs.phases[i + 1]) else i + 1
    merged = Runs(
        np.delete(lengths, i + 1),
        np.delete(tenths, i + 1),
        np.delete(runs.phases, i + 1),
    )
    merged.lengths[i] = lengths[i] + lengths[i + 1]
    merged.limit_tenths[i], merged.phases[i] = tenths[low], runs.phases[low]
    return join_equal(merged)


def _best_cuts(values: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """Start indices of the k segments of runs whose minima x lengths sum highest (exact DP).

    kept[i, j] is the energy segment [i, j) keeps at its minimum; best[j] the most energy runs
    [0, j) keep in m segments, extended by one segment per round.
    """
    n = len(values)
    cum = np.concatenate([[0], np.cumsum(lengths)])
    later = np.arange(n)[None, :] >= np.arange(n)[:, None]  # [i, j - 1]: segment [i, j) exists
    running_min = np.minimum.accumulate(np.where(later, values[None, :], np.inf), axis=1)
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
