"""One stage of the strict order on the matrix model: relaxation first, then a dive, then the
MIP solver only for what those leave open.

1. The LP relaxation (a warm re-solve on the live instance) bounds the stage. The schedule the
   previous stage left (the incumbent) within the gap of that bound is optimal: done. On
   these models that is the common case for every stage after the first.
2. A dive (`optimizer.dive`) rounds the relaxation's few fractional set-points and re-solves:
   an integral schedule, usually at the bound itself.
3. Only if neither proves the stage, the MILP is handed to HiGHS with every binary the dive's
   last LP leaves integral fixed (a RINS-like neighbourhood, the handful of pairs the dive
   could not round; those the relaxation leaves fractional if the dive ended integral),
   starting from the best schedule so far; and, on small models where it is quick, the whole
   MILP. Both run against the deadline and stop when their incumbent stalls.

Whatever happens, the model keeps the best schedule found (`model.values`): a stage never
leaves a worse schedule than the one it started from.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import highspy
import numpy as np

from smartcharge.optimizer.dive import dive
from smartcharge.optimizer.highs_runs import StallStop, run_until
from smartcharge.optimizer.solve import SolveResult, Termination, absolute_gap

if TYPE_CHECKING:
    from smartcharge.optimizer.matrix_model import MatrixModel

# The whole MILP is only tried on models this small: on larger ones HiGHS can spend tens of
# seconds in its root cut loop without looking at the clock (measured on 200 x 96: 13 s
# under a 1 s limit), which no deadline could then keep.
FULL_MIP_MAX_BINARIES = 2000
# A MIP stops when its best schedule has not improved for this long after its root node.
STALL_MIN_S = 0.5
STALL_SHARE = 0.1


def solve_relaxation_first(model: MatrixModel, deadline: float, mip_gap: float) -> SolveResult:
    started = time.perf_counter()
    stage = _Stage(model, deadline, mip_gap, started)
    relaxed = model.relaxation.solve(deadline)
    if relaxed is None:
        if time.perf_counter() >= deadline:
            return stage.result(Termination.TIME_LIMIT)
        # The LP failed on its own (numerics): HiGHS's MIP scales and presolves it anew.
        stage.solve_mip(None, neighbourhood=False)
        return stage.result(Termination.OPTIMAL if stage.proven() else Termination.ERROR)
    stage.bound = relaxed.objective
    if model.active == ("weighted",):
        model.relaxation.remember_weighted_basis()
    if stage.proven():
        model.speedups.add("incumbent_proven_by_relaxation")
        return stage.result(Termination.OPTIMAL)
    dived = dive(model.relaxation, relaxed.values, model.dive_columns(), deadline)
    if dived.schedule is not None:
        stage.offer(dived.schedule)
        if stage.proven():
            model.speedups.add("dive")
            return stage.result(Termination.OPTIMAL)
    elif not math.isfinite(stage.incumbent):
        rules = model.rule_based_values()  # SPEC §4 sides: a start the MIP can improve on
        if rules is not None:
            stage.offer(rules)
    if time.perf_counter() >= deadline:
        return stage.result(Termination.TIME_LIMIT)
    # The MIP solver on what the dive left open: its last LP has far fewer fractional pairs
    # than the relaxation (a handful instead of a few hundred), a much smaller neighbourhood.
    # A dive that ended integral but not good enough left nothing open: then the pairs the
    # relaxation leaves fractional are the neighbourhood.
    stage.solve_mip(relaxed.values if dived.complete else dived.last_lp, neighbourhood=True)
    if stage.proven():
        model.speedups.add("fixed_relaxation")
        return stage.result(Termination.OPTIMAL)
    binaries = int(sum(i.sum() for i in model.lp.integer))
    if binaries <= FULL_MIP_MAX_BINARIES and time.perf_counter() < deadline:
        stage.solve_mip(relaxed.values, neighbourhood=False)
        if stage.proven():
            return stage.result(Termination.OPTIMAL)
    return stage.result(Termination.TIME_LIMIT)


class _Stage:
    def __init__(self, model: MatrixModel, deadline: float, mip_gap: float, started: float):
        self.model = model
        self.deadline = deadline
        self.mip_gap = mip_gap
        self.started = started
        self.bound = -math.inf
        self.absolute_gap = absolute_gap(model.active)
        self.incumbent = model.objective_value(model.values) if model.has_incumbent else math.inf

    def offer(self, values: np.ndarray) -> None:
        """Keep `values` (an integral schedule) if it is better than the incumbent."""
        from smartcharge.optimizer.matrix_model import tightened

        candidate = tightened(self.model, values)
        objective = self.model.objective_value(candidate)
        model = self.model
        if (
            objective < self.incumbent
            and model.is_integral(candidate)
            and model.keeps_holds(candidate)
            and model.is_feasible(candidate)
        ):
            model.values = candidate
            model.has_incumbent = True
            self.incumbent = objective

    def proven(self) -> bool:
        if not math.isfinite(self.incumbent) or not math.isfinite(self.bound):
            return False
        slack = self.incumbent - self.bound
        return slack <= self.absolute_gap or slack <= self.mip_gap * abs(self.incumbent)

    def result(self, termination: Termination) -> SolveResult:
        found = math.isfinite(self.incumbent)
        return SolveResult(
            termination=termination,
            has_solution=found,
            objective=self.incumbent if found else None,
            bound=self.bound if math.isfinite(self.bound) else None,
            solve_s=time.perf_counter() - self.started,
        )

    def solve_mip(self, relaxed: np.ndarray | None, neighbourhood: bool) -> None:
        """HiGHS on the MILP (with the binaries the relaxation leaves integral fixed, in the
        `neighbourhood` case), from the incumbent, until the deadline or a stall."""
        model, mip = self.model, self.model.mip
        columns = model.dive_columns()
        on = columns.on
        direction = columns.direction
        lower, upper = model.lp.column_bounds()
        binaries = np.concatenate([on, direction]).astype(np.int32)
        if neighbourhood and relaxed is not None:
            x = relaxed[columns.setpoint]
            d = relaxed[direction]
            fixed_lower = np.concatenate([x >= columns.floor - 1e-7, d >= 1 - 1e-7])
            fixed_upper = np.concatenate([x > 1e-7, d > 1e-7])
            mip.changeColsBounds(
                binaries.size,
                binaries,
                np.maximum(fixed_lower.astype(float), lower[binaries]),
                np.minimum(fixed_upper.astype(float), upper[binaries]),
            )
        mip.setOptionValue("mip_rel_gap", self.mip_gap)
        mip.setOptionValue("mip_abs_gap", self.absolute_gap)
        if math.isfinite(self.incumbent):
            start = highspy.HighsSolution()
            start.col_value = model.values.tolist()
            start.value_valid = True
            mip.setSolution(start)
        try:
            self._run_mip(mip)
            if math.isfinite(self.incumbent) and self._returned_the_start(mip):
                # HiGHS 1.16 may solve a warm-started MIP at the root, report the optimum's
                # objective and return the start as its solution: solve again without it.
                mip.clearSolver()
                self._run_mip(mip)
            info = mip.getInfo()
            if info.primal_solution_status == 2:
                self.offer(np.asarray(mip.getSolution().col_value))
            # With binaries fixed, the MIP's bound is a bound of the neighbourhood only.
            if not neighbourhood and info.mip_node_count >= 0:
                self.bound = max(self.bound, info.mip_dual_bound)
        finally:
            if neighbourhood:
                mip.changeColsBounds(binaries.size, binaries, lower[binaries], upper[binaries])
            mip.clearSolver()

    def _run_mip(self, mip: highspy.Highs) -> None:
        left_s = self.deadline - time.perf_counter()
        stall = StallStop(max(STALL_MIN_S, STALL_SHARE * left_s), self.absolute_gap)
        run_until(mip, self.deadline, stall)

    def _returned_the_start(self, mip: highspy.Highs) -> bool:
        info = mip.getInfo()
        if info.primal_solution_status != 2:
            return False
        values = np.asarray(mip.getSolution().col_value)
        returned = self.model.objective_value(values)
        reported = info.objective_function_value
        return returned - reported > 1e-7 * max(1.0, abs(reported))
