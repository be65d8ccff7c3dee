"""Integral schedules from the LP relaxation: round the few fractional set-points, re-solve.

The relaxation of these models is integral for all but a few tenths of a percent of the
semi-continuous (session, slot) pairs: a session given less than its minimum current where a
limit leaves a sliver. A dive rounds those (`_attempts`: up to the minimum where the LP can
make room, else off), fixes them, re-solves the LP from its basis (dual simplex, a few hundred
iterations where a MIP solver would first presolve and cut the whole model) and repeats until
no pair is fractional. Without anything that feeds the site, rounding down is always feasible
(charging less keeps every upper limit; curtailing PV keeps export and the phases' lower
limits), so a round always ends; with a battery or an EV discharging it may not be, which the
caller checks (`MatrixModel.is_feasible`). The binaries that choose a side (import or export
where exporting pays more than importing costs, a battery or an EV charging or discharging,
three phases or one) are rounded to the nearer side, the other side if that is infeasible.

The result is a schedule of the MILP (every pair 0 or at least its minimum) whose objective the
caller compares with the relaxation's bound: a dive proves nothing by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from smartcharge.optimizer.live_relaxation import LiveRelaxation

_EPS = 1e-7
MAX_ROUNDS = 30


@dataclass(frozen=True)
class DiveColumns:
    """The columns a dive rounds, with the bounds they have outside it."""

    setpoint: np.ndarray  # (B,) int32: x columns of the semi-continuous pairs
    floor: np.ndarray  # (B,) minimum set-point when on
    upper: np.ndarray  # (B,) current upper bound (0 for a retired session)
    direction: np.ndarray  # (D,) int32: the import/export binaries (continuous in the LP)
    slot: np.ndarray  # (B,) the slot of each set-point
    session: np.ndarray  # (B,) the session of each set-point
    on: np.ndarray  # (B,) int32: the binary that says each set-point is on (for a MIP)
    # Per direction, a column whose flow means side 1 (import, battery charge, EV discharge,
    # three phases) and one whose flow means side 0: a side the LP's flows already take is
    # where a direction is rounded (the other side would cut a flow the LP relies on).
    side_one: np.ndarray | None = None  # (D,) int32
    side_zero: np.ndarray | None = None  # (D,) int32
    # The least flow on side 1 (an EV's minimum discharge; 0 elsewhere): a direction whose
    # side-1 flow is below it goes to side 0 (the discharge is dropped, like a sliver).
    side_one_floor: np.ndarray | None = None  # (D,)
    # A column that must be 0 on side 1 (a discharging EV's unmet energy), -1 where none: a
    # side the LP could not keep once integral is not implied.
    side_one_needs_zero: np.ndarray | None = None  # (D,) int

    def implied_sides(self, values: np.ndarray) -> np.ndarray:
        """(D,) 1 or 0 where one side's flow is positive and the other's is not, else nan."""
        if self.side_one is None or self.side_zero is None:
            return np.full(self.direction.size, np.nan)
        floor = 0.0 if self.side_one_floor is None else self.side_one_floor
        one = values[self.side_one] > np.maximum(floor - _EPS, _EPS)
        sliver = (values[self.side_one] > _EPS) & ~one
        if self.side_one_needs_zero is not None:
            needs = self.side_one_needs_zero
            sliver |= (needs >= 0) & (values[np.maximum(needs, 0)] > 1e-6)
            one &= ~sliver
        zero = (values[self.side_zero] > _EPS) | sliver
        return np.where(one & ~zero, 1.0, np.where(zero & ~one, 0.0, np.nan))


@dataclass(frozen=True)
class Dive:
    """What a dive ends with: an integral schedule (None if none could be made), and the last
    LP solution, whose few fractional pairs, if any, are where a MIP solver is still needed."""

    schedule: np.ndarray | None
    last_lp: np.ndarray
    complete: bool  # no pair was left fractional


def dive(
    relaxation: LiveRelaxation, start: np.ndarray, columns: DiveColumns, deadline: float
) -> Dive:
    """Round and re-solve until no pair is fractional, no rounding of a round is feasible,
    or the deadline.

    `start` is the relaxation's optimal solution for its current objective; the relaxation's
    bounds are restored afterwards. Pairs the relaxation leaves at 0 are fixed off: otherwise
    the sliver a rounded pair frees moves to another pair at 0, which turns fractional in turn,
    and the dive takes a round per sliver. A dive that cannot finish leaves its last solution
    with the fractional pairs at 0 (integral, and within every upper limit).
    """
    bounds = _Bounds(
        np.zeros(columns.setpoint.size),
        columns.upper.copy(),
        np.zeros(columns.direction.size),
        np.ones(columns.direction.size),
    )
    touched_setpoint = np.zeros(columns.setpoint.size, dtype=bool)
    # EV discharge directions may all be closed by an attempt (`_Bounds.rounded`).
    touched_direction = (
        columns.side_one_floor > 0
        if columns.side_one_floor is not None
        else np.zeros(columns.direction.size, dtype=bool)
    )
    values = start
    # The relaxation's optimal basis, for the next stage to start from (the dive's last one
    # is far from optimal once the bounds are restored: thousands of iterations instead of a
    # handful, measured).
    basis = relaxation.keep_basis()
    try:
        for _ in range(MAX_ROUNDS):
            x = values[columns.setpoint]
            off = (x <= _EPS) & (bounds.setpoint_upper > 0)
            fractional = (x > _EPS) & (x < columns.floor - _EPS) & (bounds.setpoint_upper > 0)
            on = (x >= columns.floor - _EPS) & (bounds.setpoint_upper > 0)
            d = values[columns.direction]
            split = (d > _EPS) & (d < 1 - _EPS) & (bounds.direction_lower < bounds.direction_upper)
            if not fractional.any() and not split.any():
                return Dive(values, values, complete=True)
            touched_setpoint |= off | fractional | on
            touched_direction |= split
            changed = (touched_setpoint, touched_direction)
            solved = None
            for attempt in _attempts(columns, x, off, fractional, on):
                if not attempt.towards and not split.any():
                    continue
                rounded = bounds.rounded(columns, attempt, d, split, columns.implied_sides(values))
                solved = _solve_with(relaxation, columns, rounded, changed, deadline)
                if solved is not None or time.perf_counter() >= deadline:
                    break
            if solved is None:
                break
            # Pairs held on for this round only: next round they may give way again.
            values, bounds = solved, rounded.released(columns, on & ~fractional, bounds)
        # Sides still split (a battery, an EV discharging, a phase setting): settled with the
        # fractional pairs off, the round that always ended a dive without them; sides a
        # settling splits anew are settled in turn.
        for _ in range(MAX_ROUNDS):
            if not split.any():
                return Dive(_rounded_down(values, columns), values, False)
            touched_direction |= split
            changed = (touched_setpoint, touched_direction)
            implied = columns.implied_sides(values)
            for towards in (True, False):  # the other way also closes every EV discharge
                settle = _Attempt(np.zeros_like(fractional), fractional, towards)
                settled = bounds.rounded(columns, settle, d, split, implied)
                solved = _solve_with(relaxation, columns, settled, changed, deadline)
                if solved is not None:
                    break
            if solved is None:
                # Last resort: what earlier rounds held (pairs on, sides) is let go, every EV
                # discharge closed and the fractional pairs off; the next rounds settle anew.
                touched_setpoint[:] = touched_direction[:] = True
                changed = (touched_setpoint, touched_direction)
                settled = bounds.released_for_settling(columns, fractional)
                solved = _solve_with(relaxation, columns, settled, changed, deadline)
            if solved is None:
                break
            values, bounds = solved, settled
            x, d = values[columns.setpoint], values[columns.direction]
            fractional = (x > _EPS) & (x < columns.floor - _EPS) & (bounds.setpoint_upper > 0)
            split = (d > _EPS) & (d < 1 - _EPS) & (bounds.direction_lower < bounds.direction_upper)
        return Dive(None, values, False)
    finally:
        original = _Bounds(
            np.zeros(columns.setpoint.size),
            columns.upper,
            np.zeros(columns.direction.size),
            np.ones(columns.direction.size),
        )
        _set_bounds(relaxation, columns, original, (touched_setpoint, touched_direction))
        relaxation.restore_basis(basis)


@dataclass(frozen=True)
class _Attempt:
    """One way to round a dive's round: pairs held at least at their minimum (`up`), pairs
    fixed at 0 (`down`), and which side split directions go to (`towards` the nearer)."""

    up: np.ndarray
    down: np.ndarray
    towards: bool


def _attempts(
    columns: DiveColumns, x: np.ndarray, off: np.ndarray, fractional: np.ndarray, on: np.ndarray
) -> Iterator[_Attempt]:
    """The roundings a round tries, until one is feasible.

    1. Every fractional pair at its minimum, the pairs already on kept at theirs, the pairs at
       0 fixed off: the LP trims sessions that are on to make room (how the relaxation's
       slivers are used without loss), and no pair can turn fractional again: one round
       usually ends the dive.
    2. The same with the pairs on free to go.
    3. The same with the split directions the other way, and no open EV discharge.
    4. In each slot only the fractional pair given the most (and of a session only its
       largest of those: a session short of little may not afford its minimum twice), the
       others left to the LP; then the same with the split directions the other way.
    If none is feasible the dive stops: what is left is a few pairs for a MIP solver (turning
    them off and freeing the rest again only moves the slivers around, measured: 30 rounds).
    """
    yield _Attempt(fractional | on, off, True)
    yield _Attempt(fractional, off, True)
    yield _Attempt(fractional, off, False)
    most = np.zeros_like(fractional)
    candidates = np.flatnonzero(fractional)
    if candidates.size:
        by_slot = _largest_per(columns.slot, candidates, x)
        most[_largest_per(columns.session, by_slot, x)] = True
    yield _Attempt(most, off, True)
    yield _Attempt(most, off, False)  # split directions the other way (only they differ)


def _largest_per(group: np.ndarray, candidates: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Of `candidates`, the one with the largest x in each group."""
    order = candidates[np.lexsort((-x[candidates], group[candidates]))]
    first = np.ones(order.size, dtype=bool)
    first[1:] = group[order[1:]] != group[order[:-1]]
    return order[first]


@dataclass(frozen=True)
class _Bounds:
    setpoint_lower: np.ndarray
    setpoint_upper: np.ndarray
    direction_lower: np.ndarray
    direction_upper: np.ndarray

    def released(self, columns: DiveColumns, held: np.ndarray, before: _Bounds) -> _Bounds:
        """These bounds with the lower bounds of `held` pairs back to what they were."""
        lower = np.where(held, before.setpoint_lower, self.setpoint_lower)
        return _Bounds(lower, self.setpoint_upper, self.direction_lower, self.direction_upper)

    def released_for_settling(self, columns: DiveColumns, off: np.ndarray) -> _Bounds:
        """No pair held on, `off` pairs fixed off, every side free but EV discharge closed."""
        upper = np.where(off, 0.0, self.setpoint_upper)
        closed = (
            columns.side_one_floor > 0
            if columns.side_one_floor is not None
            else np.zeros(columns.direction.size, dtype=bool)
        )
        return _Bounds(
            np.zeros(columns.setpoint.size),
            upper,
            np.zeros(columns.direction.size),
            np.where(closed, 0.0, 1.0),
        )

    def rounded(
        self,
        columns: DiveColumns,
        attempt: _Attempt,
        d: np.ndarray,
        split: np.ndarray,
        implied: np.ndarray,
    ) -> _Bounds:
        """These bounds with the attempt's pairs held on or fixed off; split directions to
        the side their flows take, else the nearer side (or, if the attempt says so, the
        farther one)."""
        lower, upper = self.setpoint_lower.copy(), self.setpoint_upper.copy()
        lower[attempt.up] = columns.floor[attempt.up]
        upper[attempt.down] = 0.0
        side = np.where(d >= 0.5, 1.0, 0.0)
        side = np.where(np.isnan(implied), side, implied)
        direction_lower = np.where(split, side, self.direction_lower)
        direction_upper = np.where(split, side, self.direction_upper)
        if not attempt.towards:
            # The other way: undecided sides flipped, and no EV discharges at all (a side
            # never needed, like a pair that may always go off; one held on by an earlier
            # round may be what leaves no rounding feasible).
            direction_lower = np.where(split & np.isnan(implied), 1.0 - side, direction_lower)
            direction_upper = np.where(split & np.isnan(implied), 1.0 - side, direction_upper)
            if columns.side_one_floor is not None:
                optional = columns.side_one_floor > 0
                direction_lower = np.where(optional, 0.0, direction_lower)
                direction_upper = np.where(optional, 0.0, direction_upper)
        return _Bounds(lower, upper, direction_lower, direction_upper)


def _rounded_down(values: np.ndarray, columns: DiveColumns) -> np.ndarray:
    """The last LP solution with every fractional set-point at 0: integral and within every
    upper limit (a dive cut short by the deadline still leaves a schedule); the caller
    re-derives the flows."""
    values = values.copy()
    x = values[columns.setpoint]
    values[columns.setpoint] = np.where(x < columns.floor - _EPS, 0.0, x)
    return values


def _solve_with(
    relaxation: LiveRelaxation,
    columns: DiveColumns,
    bounds: _Bounds,
    changed: tuple[np.ndarray, np.ndarray],
    deadline: float,
) -> np.ndarray | None:
    if time.perf_counter() >= deadline:
        return None
    _set_bounds(relaxation, columns, bounds, changed)
    solved = relaxation.solve(deadline)
    return None if solved is None else solved.values


def _set_bounds(
    relaxation: LiveRelaxation,
    columns: DiveColumns,
    bounds: _Bounds,
    changed: tuple[np.ndarray, np.ndarray],
) -> None:
    """Bounds of the columns marked in `changed` (set-points, directions)."""
    on_setpoint, on_direction = changed
    cols = np.concatenate([columns.setpoint[on_setpoint], columns.direction[on_direction]])
    if cols.size == 0:
        return
    lower = np.concatenate(
        [bounds.setpoint_lower[on_setpoint], bounds.direction_lower[on_direction]]
    )
    upper = np.concatenate(
        [bounds.setpoint_upper[on_setpoint], bounds.direction_upper[on_direction]]
    )
    relaxation.change_bounds(cols, lower, upper)
