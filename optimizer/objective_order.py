"""The strict objective order of SPEC §1, solved as a short sequence of stages.

1. `weighted`: one solve of the weighted objective (`optimizer.weights`). When it meets all the
   energy that counts, no schedule can do better on (1), so its cost is optimal within the gap
   and we are done: the common case costs one solve.
2. Otherwise, lexicographically, for each priority tier from the highest down: minimise the
   tier's total shortfall, hold it; minimise the tier's largest unmet fraction, hold it. Then
   minimise cost plus tie-breaks with all of that held. Each stage starts from the previous
   stage's schedule (a MIP start, feasible by construction), so a stage that runs out of time
   still returns at least what the stage before found. Each stage holds the value the
   schedule in hand achieves (plus the model's own slack for round-off, `hold`'s return).
3. The cost stage is skipped when the weighted solve's bound already proves it
   (`_cost_proven_by_weights`).

The model is anything with the small interface of `optimizer.solve.PyomoModel` (the reference)
and `optimizer.matrix_model.MatrixModel` (the fast path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from smartcharge.optimizer.solve import SolveResult, Termination
from smartcharge.optimizer.weights import EnergyWeights

_SHORTFALL_TOLERANCE_KWH = 1e-4
# One cent (see `optimizer.solve.ABSOLUTE_GAP`).
_ABSOLUTE_GAP = 0.01


class StagedModel(Protocol):
    tiers: tuple[int, ...]
    weights: EnergyWeights

    def solve(
        self, time_limit_s: float, mip_gap: float, warm_start: bool = False
    ) -> SolveResult: ...
    def minimize(self, objective: tuple) -> None: ...
    def value(self, objective: tuple) -> float: ...
    def hold(self, objective: tuple, upper: float) -> float: ...
    def total_shortfall_kwh(self) -> float: ...
    def setpoints(self) -> tuple[np.ndarray, np.ndarray]: ...
    def model_size(self) -> dict[str, int]: ...


@dataclass
class StagedResult:
    stages: list[str] = field(default_factory=list)
    results: list[SolveResult] = field(default_factory=list)
    cost_stage: SolveResult | None = None
    complete: bool = False  # every stage the order needs has run (none cut by the deadline)

    @property
    def has_solution(self) -> bool:
        return any(r.has_solution for r in self.results)

    @property
    def all_optimal(self) -> bool:
        return self.complete and all(r.termination == Termination.OPTIMAL for r in self.results)

    @property
    def solve_s(self) -> float:
        return sum(r.solve_s for r in self.results)

    @property
    def termination(self) -> str:
        if not self.results:
            return "not_run"
        if not self.complete and self.results[-1].termination == Termination.OPTIMAL:
            return str(Termination.TIME_LIMIT)  # the last stage finished, the order did not
        return str(self.results[-1].termination)

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
        staged.complete = True
        return staged

    held: list[tuple[float, float]] = []  # (weight in the weighted objective, held value)
    for r in reversed(range(len(model.tiers))):
        tier = model.tiers[r]
        if not _run_stage(model, staged, ("shortfall", r), f"shortfall:p{tier}", deadline, mip_gap):
            return staged
        shortfall = model.hold(("shortfall", r), model.value(("shortfall", r)))
        held.append((model.weights.per_kwh_by_tier[r], shortfall))
        if shortfall <= _SHORTFALL_TOLERANCE_KWH:
            continue
        if not _run_stage(model, staged, ("fairness", r), f"fairness:p{tier}", deadline, mip_gap):
            return staged
        fairness = model.hold(("fairness", r), model.value(("fairness", r)))
        weight = model.weights.per_kwh_by_tier[r] * model.weights.fairness_kwh_per_fraction[r]
        held.append((weight, fairness))
    proof = _cost_proven_by_weights(model, weighted, held, mip_gap)
    if proof is not None:
        staged.record("cost", proof)
        staged.cost_stage = proof
        staged.complete = True
        return staged
    if _run_stage(model, staged, ("cost",), "cost", deadline, mip_gap):
        staged.cost_stage = staged.results[-1]
        staged.complete = True
    return staged


def _cost_proven_by_weights(
    model: StagedModel,
    weighted: SolveResult,
    held: list[tuple[float, float]],
    mip_gap: float,
) -> SolveResult | None:
    """The cost stage, proven without a solve when the weighted stage already settles it.

    The weighted objective is cost + sum of w_k * (held objective k). For every schedule that
    keeps the holds (objective k <= H_k), cost >= weighted bound - sum w_k * H_k: a Lagrangian
    bound with the weights as multipliers. When the schedule in hand is within the gap of it,
    the cost stage is optimal as it stands; on these models that is the common case once the
    tiers' stages have confirmed the weighted schedule (their holds are its own values).
    """
    if weighted.bound is None:
        return None
    started = time.perf_counter()
    bound = weighted.bound - sum(weight * value for weight, value in held)
    cost = model.value(("cost",))
    slack = cost - bound
    if slack > _ABSOLUTE_GAP and slack > mip_gap * abs(cost):
        return None
    speedups = getattr(model, "speedups", None)
    if speedups is not None:
        speedups.add("cost_proven_by_weights")
    return SolveResult(Termination.OPTIMAL, True, cost, bound, time.perf_counter() - started)


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
