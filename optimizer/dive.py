"""Integral schedules from the LP relaxation: round the few fractional set-points, re-solve.

The relaxation of these models is integral for all but a few tenths of a percent of the
semi-continuous (session, slot) pairs: a session given less than its minimum current where a
limit leaves a sliver. A dive rounds those — up to the minimum where the relaxation gives at
least half of it, to 0 elsewhere — fixes them, re-solves the LP from its basis (dual simplex, a
few hundred iterations where a MIP solver would first presolve and cut the whole model) and
repeats until no pair is fractional. Rounding down is always feasible (charging less keeps
every upper limit; curtailing PV keeps export and the phases' lower limits), so a round whose
roundings up make the LP infeasible is redone with those pairs off. The binaries that choose
a slot's direction (import or export, where exporting pays more than importing costs) are
rounded to the nearer side, the other side if that is infeasible.

The result is a schedule of the MILP (every pair 0 or at least its minimum) whose objective the
caller compares with the relaxation's bound: a dive proves nothing by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from smartcharge.optimizer.live_relaxation import LiveRelaxation

_EPS = 1e-7
# Each round first tries every fractional pair at its minimum with the pairs already on kept
# at theirs (the LP then trims sessions that are on to make room, which is how the
# relaxation's slivers are used without loss, and no pair can turn fractional again: one round
# usually ends the dive), then the same with pairs on free to go, then only the fractional
# pairs given at least half of their minimum, then none.
ROUNDINGS = ((0.0, True), (0.0, False), (0.5, False), (np.inf, False))  # (up share, hold on)
MAX_ROUNDS = 30


@dataclass(frozen=True)
class DiveColumns:
    """The columns a dive rounds, with the bounds they have outside it."""

    setpoint: np.ndarray  # (B,) int32: x columns of the semi-continuous pairs
    floor: np.ndarray  # (B,) minimum set-point when on
    upper: np.ndarray  # (B,) current upper bound (0 for a retired session)
    direction: np.ndarray  # (D,) int32: the import/export binaries (continuous in the LP)


def dive(
    relaxation: LiveRelaxation, start: np.ndarray, columns: DiveColumns, deadline: float
) -> np.ndarray | None:
    """Column values of an integral schedule, or None when time ran out or the LP failed.

    `start` is the relaxation's optimal solution for its current objective; the relaxation's
    bounds are restored afterwards. Pairs the relaxation leaves at 0 are fixed off for the
    dive: otherwise the sliver a rounded pair frees moves to another pair at 0, which turns
    fractional in turn, and the dive takes a round per sliver.
    """
    bounds = _Bounds(
        np.zeros(columns.setpoint.size),
        columns.upper.copy(),
        np.zeros(columns.direction.size),
        np.ones(columns.direction.size),
    )
    touched_setpoint = np.zeros(columns.setpoint.size, dtype=bool)
    touched_direction = np.zeros(columns.direction.size, dtype=bool)
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
                return values
            changed = (off | fractional | on, split)
            touched_setpoint |= changed[0]
            touched_direction |= split
            solved = None
            for attempt, (share, hold_on) in enumerate(ROUNDINGS):
                towards = attempt < len(ROUNDINGS) - 1  # the last attempt turns directions
                held = on if hold_on else np.zeros_like(on)
                rounded = bounds.rounded(
                    columns, x, d, off, fractional, share, held, split, towards
                )
                solved = _solve_with(relaxation, columns, rounded, changed, deadline)
                if solved is not None or time.perf_counter() >= deadline:
                    break
            if solved is None:
                return _rounded_down(values, columns) if not split.any() else None
            values, bounds = solved, rounded
        return _rounded_down(values, columns) if not split.any() else None
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
class _Bounds:
    setpoint_lower: np.ndarray
    setpoint_upper: np.ndarray
    direction_lower: np.ndarray
    direction_upper: np.ndarray

    def rounded(
        self,
        columns: DiveColumns,
        x: np.ndarray,
        d: np.ndarray,
        off: np.ndarray,
        fractional: np.ndarray,
        up_share: float,
        held_on: np.ndarray,
        split: np.ndarray,
        towards: bool,
    ) -> _Bounds:
        """These bounds with `off` pairs fixed at 0, fractional pairs at or above `up_share`
        of their minimum and the `held_on` pairs kept at least at it, the rest off; split
        directions to the nearer side (`towards`) or the farther one."""
        up = fractional & (x >= up_share * columns.floor)
        lower, upper = self.setpoint_lower.copy(), self.setpoint_upper.copy()
        lower[up | held_on] = columns.floor[up | held_on]
        upper[off | (fractional & ~up)] = 0.0
        side = np.where(d >= 0.5, 1.0, 0.0)
        if not towards:
            side = 1.0 - side
        return _Bounds(
            lower,
            upper,
            np.where(split, side, self.direction_lower),
            np.where(split, side, self.direction_upper),
        )


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
