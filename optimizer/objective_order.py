"""The strict objective order of SPEC §1, solved as a short sequence of stages.

1. `weighted`: one solve of the weighted objective (`optimizer.model.EnergyWeights`). When it
   meets all the energy that counts, no schedule can do better on (1), so its cost is optimal
   within the gap and we are done: the common case costs one solve.
2. Otherwise, lexicographically, for each priority tier from the highest down: minimise the
   tier's total shortfall, hold it; minimise the tier's largest unmet fraction, hold it. Then
   minimise cost plus tie-breaks with all of that held. Each stage starts from the previous
   stage's schedule (a MIP start, feasible by construction), so a stage that runs out of time
   still returns at least what the stage before found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyomo.environ as pyo

from optimizer.solve import HighsSolver, SolveResult, Termination

# What a held stage may lose against its own solve, so that rounding noise never makes the
# next stage infeasible: 1e-6 of the tier's energy, at least 1 Wh.
_HOLD_RELATIVE = 1e-6
_HOLD_ABSOLUTE_KWH = 1e-3
_SHORTFALL_TOLERANCE_KWH = 1e-4


@dataclass
class StagedResult:
    last: SolveResult | None = None
    cost_stage: SolveResult | None = None
    stages: list[str] = field(default_factory=list)
    terminations: list[Termination] = field(default_factory=list)

    @property
    def has_solution(self) -> bool:
        return self.last is not None and self.last.has_solution

    @property
    def all_optimal(self) -> bool:
        return all(t == Termination.OPTIMAL for t in self.terminations)

    @property
    def solve_s(self) -> float:
        return sum(stage.solve_s for stage in self._results)

    _results: list[SolveResult] = field(default_factory=list)

    def record(self, name: str, result: SolveResult) -> None:
        self.stages.append(name)
        self.terminations.append(result.termination)
        self._results.append(result)
        if result.has_solution:
            self.last = result


def solve_in_objective_order(
    model: pyo.ConcreteModel, solver: HighsSolver, mip_gap: float, deadline: float
) -> StagedResult:
    staged = StagedResult()
    weighted = solver.solve(_remaining(deadline), mip_gap)
    staged.record("weighted", weighted)
    if not weighted.has_solution:
        return staged
    staged.cost_stage = weighted
    if _total_shortfall_kwh(model) <= _SHORTFALL_TOLERANCE_KWH:
        return staged

    model.weighted.deactivate()
    model.held = pyo.ConstraintList(doc="what earlier stages of the objective order achieved")
    for r in reversed(list(model.R)):
        tier = model.weights.tiers[r]
        shortfall = model.tier_shortfall_kwh[r]
        if not _run_stage(model, solver, staged, f"shortfall:p{tier}", shortfall, deadline, mip_gap):
            return staged
        held = pyo.value(shortfall)
        model.held.add(shortfall <= held * (1 + _HOLD_RELATIVE) + _HOLD_ABSOLUTE_KWH)
        if held <= _SHORTFALL_TOLERANCE_KWH:
            continue
        fraction = model.tier_max_unmet_fraction[r]
        if not _run_stage(model, solver, staged, f"fairness:p{tier}", fraction, deadline, mip_gap):
            return staged
        model.held.add(fraction <= pyo.value(fraction) + _HOLD_RELATIVE)
    if _run_stage(model, solver, staged, "cost", model.cost + model.tie_break, deadline, mip_gap):
        staged.cost_stage = staged.last
    return staged


def _run_stage(
    model: pyo.ConcreteModel,
    solver: HighsSolver,
    staged: StagedResult,
    name: str,
    expression,
    deadline: float,
    mip_gap: float,
) -> bool:
    """Solve one stage from the current schedule; False when time has run out."""
    if _remaining(deadline) <= 0.05:
        return False
    if model.find_component("stage_objective") is not None:
        model.del_component(model.stage_objective)
    model.stage_objective = pyo.Objective(expr=expression, sense=pyo.minimize)
    result = solver.solve(_remaining(deadline), mip_gap, warm_start=True)
    staged.record(name, result)
    return result.has_solution


def _total_shortfall_kwh(model: pyo.ConcreteModel) -> float:
    return float(sum(pyo.value(model.unmet_kwh[s]) for s in model.S))


def _remaining(deadline: float) -> float:
    return deadline - time.perf_counter()
