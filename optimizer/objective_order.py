"""The strict objective order of SPEC §1, solved as a short sequence of stages.

1. `weighted`: one solve of the weighted objective (`optimizer.weights`). When it meets all the
   energy that counts, no schedule can do better on (1), so its cost is optimal within the gap
   and we are done: the common case costs one solve.
2. Otherwise, lexicographically, for each priority tier from the highest down: minimise the
   tier's total shortfall, hold it; minimise the tier's largest unmet fraction, hold it. Then
   minimise cost plus tie-breaks with all of that held. Each stage starts from the previous
   stage's schedule (a MIP start, feasible by construction), so a stage that runs out of time
   still returns at least what the stage before found. Sessions that may leave early (SPEC §6)
   add one stage before cost: minimise the energy not delivered by their early departures,
   hold it.

The model is anything with the small interface of `optimizer.solve.PyomoModel` (the reference)
and `optimizer.matrix_model.MatrixModel` (the fast path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from smartcharge.optimizer.solve import SolveResult, Termination

# What a held stage may lose against its own solve, so that rounding noise never makes the
# next stage infeasible: 1e-6 of the value, at least 0.01 Wh.
_HOLD_RELATIVE = 1e-6
_HOLD_ABSOLUTE_KWH = 1e-5
_SHORTFALL_TOLERANCE_KWH = 1e-4


class StagedModel(Protocol):
    tiers: tuple[int, ...]

    @property
    def has_early_departures(self) -> bool: ...

    def solve(
        self, time_limit_s: float, mip_gap: float, warm_start: bool = False
    ) -> SolveResult: ...
    def minimize(self, objective: tuple) -> None: ...
    def value(self, objective: tuple) -> float: ...
    def hold(self, objective: tuple, upper: float) -> None: ...
    def total_shortfall_kwh(self) -> float: ...
    def setpoints(self) -> tuple[np.ndarray, np.ndarray]: ...
    def model_size(self) -> dict[str, int]: ...


@dataclass
class StagedResult:
    stages: list[str] = field(default_factory=list)
    results: list[SolveResult] = field(default_factory=list)
    cost_stage: SolveResult | None = None

    @property
    def has_solution(self) -> bool:
        return any(r.has_solution for r in self.results)

    @property
    def all_optimal(self) -> bool:
        return all(r.termination == Termination.OPTIMAL for r in self.results)

    @property
    def solve_s(self) -> float:
        return sum(r.solve_s for r in self.results)

    @property
    def termination(self) -> str:
        return str(self.results[-1].termination) if self.results else "not_run"

    def record(self, name: str, result: SolveResult) -> None:
        self.stages.append(name)
        self.results.append(result)


def solve_in_objective_order(model: StagedModel, mip_gap: float, deadline: float) -> StagedResult:
    staged = StagedResult()
    weighted = model.solve(_remaining(deadline), mip_gap)
    staged.record("weighted", weighted)
    if not weighted.has_solution:
        return staged
    staged.cost_stage = weighted
    if model.total_shortfall_kwh() <= _SHORTFALL_TOLERANCE_KWH:
        return staged

    for r in reversed(range(len(model.tiers))):
        tier = model.tiers[r]
        if not _run_stage(model, staged, ("shortfall", r), f"shortfall:p{tier}", deadline, mip_gap):
            return staged
        held = model.value(("shortfall", r))
        model.hold(("shortfall", r), held * (1 + _HOLD_RELATIVE) + _HOLD_ABSOLUTE_KWH)
        if held <= _SHORTFALL_TOLERANCE_KWH:
            continue
        if not _run_stage(model, staged, ("fairness", r), f"fairness:p{tier}", deadline, mip_gap):
            return staged
        model.hold(("fairness", r), model.value(("fairness", r)) + _HOLD_RELATIVE)
    if model.has_early_departures:
        if not _run_stage(model, staged, ("early",), "early_departure", deadline, mip_gap):
            return staged
        held = model.value(("early",))
        model.hold(("early",), held * (1 + _HOLD_RELATIVE) + _HOLD_ABSOLUTE_KWH)
    if _run_stage(model, staged, ("cost",), "cost", deadline, mip_gap):
        staged.cost_stage = staged.results[-1]
    return staged


def _run_stage(
    model: StagedModel,
    staged: StagedResult,
    objective: tuple,
    name: str,
    deadline: float,
    mip_gap: float,
) -> bool:
    """Solve one stage from the current schedule; False when time has run out."""
    if _remaining(deadline) <= 0.05:
        return False
    model.minimize(objective)
    result = model.solve(_remaining(deadline), mip_gap, warm_start=True)
    staged.record(name, result)
    return result.has_solution


def _remaining(deadline: float) -> float:
    return deadline - time.perf_counter()
