"""The one module that talks to HiGHS (through Pyomo's `pyomo.contrib.solver` interface).

Pyomo marks that interface a preview, so everything it touches stays here: the persistent
solver, MIP starts (handed to highspy directly), and the translation of HiGHS's model status
into a typed `SolveResult`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

import highspy
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs


class Termination(StrEnum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


_TERMINATION = {
    TerminationCondition.convergenceCriteriaSatisfied: Termination.OPTIMAL,
    TerminationCondition.maxTimeLimit: Termination.TIME_LIMIT,
    TerminationCondition.iterationLimit: Termination.TIME_LIMIT,
    TerminationCondition.provenInfeasible: Termination.INFEASIBLE,
    TerminationCondition.locallyInfeasible: Termination.INFEASIBLE,
    TerminationCondition.infeasibleOrUnbounded: Termination.INFEASIBLE,
}


@dataclass(frozen=True)
class SolveResult:
    termination: Termination
    has_solution: bool
    objective: float | None
    bound: float | None
    solve_s: float

    @property
    def gap(self) -> float | None:
        """Relative gap between incumbent and bound, as HiGHS defines mip_rel_gap."""
        if self.objective is None or self.bound is None:
            return None
        if self.termination == Termination.OPTIMAL and math.isclose(
            self.objective, self.bound, rel_tol=1e-12, abs_tol=1e-12
        ):
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)


class HighsSolver:
    """A persistent HiGHS instance for one model, re-solved as objectives and cuts change."""

    def __init__(self, model: pyo.ConcreteModel, threads: int = 1):
        self.model = model
        self._solver = Highs()
        self._threads = threads
        self._instance_set = False

    @staticmethod
    def version() -> str:
        return ".".join(str(v) for v in Highs().version())

    def solve(
        self, time_limit_s: float, mip_gap: float, warm_start: bool = False
    ) -> SolveResult:
        """Solve the active objective; load the incumbent into the model when there is one.

        With `warm_start`, the values the model's variables hold now are passed to HiGHS as a
        MIP start (they are feasible whenever they come from the previous stage's solution).
        """
        started = time.perf_counter()
        if not self._instance_set:
            self._solver.set_instance(self.model)
            self._instance_set = True
        else:
            self._solver.update()
        if warm_start:
            self._pass_mip_start()
        results = self._solver.solve(
            self.model,
            time_limit=max(time_limit_s, 0.01),
            rel_gap=mip_gap,
            threads=self._threads,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )
        has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
        if has_solution:
            results.solution_loader.load_vars()
        termination = _TERMINATION.get(results.termination_condition, Termination.ERROR)
        return SolveResult(
            termination=termination,
            has_solution=has_solution,
            objective=results.incumbent_objective,
            bound=results.objective_bound,
            solve_s=time.perf_counter() - started,
        )

    def _pass_mip_start(self) -> None:
        highs: highspy.Highs = self._solver._solver_model
        column_of = self._solver._pyomo_var_to_solver_var_map
        values = [0.0] * highs.getNumCol()
        for var in self.model.component_data_objects(pyo.Var, active=True):
            column = column_of.get(id(var))
            if column is not None and var.value is not None:
                values[column] = float(var.value)
        solution = highspy.HighsSolution()
        solution.col_value = values
        solution.value_valid = True
        highs.setSolution(solution)

    def model_size(self) -> dict[str, int]:
        highs: highspy.Highs = self._solver._solver_model
        lp = highs.getLp()
        integrality = list(lp.integrality_)
        return {
            "variables": int(lp.num_col_),
            "binaries": sum(1 for v in integrality if v == highspy.HighsVarType.kInteger),
            "constraints": int(lp.num_row_),
        }
