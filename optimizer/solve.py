"""The one module that talks to HiGHS through Pyomo (`pyomo.contrib.solver`), and the typed
result every solve returns.

Pyomo marks that interface a preview, so everything it touches stays here: the persistent
solver, MIP starts (handed to highspy directly), and the translation of HiGHS's model status.
Pyomo is imported when a `PyomoModel` is made (0.25 s of a cold start the matrix path never
needs).
`PyomoModel` and `optimizer.matrix_model.MatrixModel` offer the same small interface, which is
all `optimizer.objective_order` uses: solve, minimize, value, hold, setpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

import highspy
import numpy as np

from smartcharge.optimizer.highs_runs import c_stdout_to_stderr
from smartcharge.optimizer.index import ProblemIndex

# A relative gap means little when the objective is near 0 (a cheap night, a demand charge
# already paid): one cent of absolute gap is also accepted as optimal. Stages measured in
# energy or in a fraction accept far less (1 Wh, 1e-6): their relative gap is on a shortfall
# that may be tiny, and the SPEC's gap on (1) is a share of all the energy that counts. The
# energy missing by early departures (SPEC §6) is a shortfall too.
ABSOLUTE_GAP = 0.01
ABSOLUTE_GAP_BY_STAGE = {"shortfall": 1e-3, "fairness": 1e-6, "early": 1e-3}


def absolute_gap(objective: tuple) -> float:
    """The absolute gap accepted as optimal for one objective of the strict order."""
    return ABSOLUTE_GAP_BY_STAGE.get(objective[0], ABSOLUTE_GAP)


# What a held stage may lose against its own solve, so that the solver's round-off never
# makes the next stage infeasible: 1e-6 of the value, at least 0.01 Wh.
HOLD_RELATIVE = 1e-6
HOLD_ABSOLUTE = 1e-5


class Termination(StrEnum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


_STATUS = highspy.HighsModelStatus
_TERMINATION = {
    _STATUS.kOptimal: Termination.OPTIMAL,
    _STATUS.kTimeLimit: Termination.TIME_LIMIT,
    _STATUS.kIterationLimit: Termination.TIME_LIMIT,
    _STATUS.kSolutionLimit: Termination.TIME_LIMIT,
    _STATUS.kInterrupt: Termination.TIME_LIMIT,
    _STATUS.kInfeasible: Termination.INFEASIBLE,
    _STATUS.kUnboundedOrInfeasible: Termination.INFEASIBLE,
}


def termination_of(status: highspy.HighsModelStatus) -> Termination:
    return _TERMINATION.get(status, Termination.ERROR)


def highs_version() -> str:
    return (
        f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    )


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
        if self.objective is None or self.bound is None or not math.isfinite(self.bound):
            return None
        if math.isclose(self.objective, self.bound, rel_tol=1e-12, abs_tol=1e-9):
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)


class PyomoModel:
    """The Pyomo model of `optimizer.model` on a persistent HiGHS instance."""

    def __init__(self, index: ProblemIndex, threads: int = 1):
        from pyomo.contrib.solver.solvers.highs import Highs

        from smartcharge.optimizer.model import build_model

        self.index = index
        self.model = build_model(index)
        self.weights = self.model.weights
        self.tiers = self.weights.tiers
        self._solver = Highs()
        self._threads = threads
        self._instance_set = False
        self.active: tuple = ("weighted",)

    def _expression(self, objective: tuple):
        model = self.model
        match objective:
            case ("weighted",):
                return model.weighted.expr
            case ("shortfall", r):
                return model.tier_shortfall_kwh[r]
            case ("fairness", r):
                return model.tier_max_unmet_fraction[r]
            case ("early",):
                return model.early_shortfall_kwh
            case ("cost",):
                return model.cost + model.tie_break
        raise KeyError(objective)

    @property
    def has_early_departures(self) -> bool:
        return len(self.model.SE) > 0

    def solve(self, time_limit_s: float, mip_gap: float, warm_start: bool = False) -> SolveResult:
        """Solve the active objective; load the incumbent into the model when there is one.

        `warm_start` is accepted for the interface but not used: through Pyomo's interface
        HiGHS (1.16) reports the optimum of a warm-started MIP but hands back the start as its
        solution (options are set after the start). The reference path trades that speed for
        correctness; `MatrixModel` warm-starts.
        """
        started = time.perf_counter()
        if not self._instance_set:
            with c_stdout_to_stderr():  # Pyomo makes the HiGHS instance, whose banner it prints
                self._solver.set_instance(self.model)
            self._instance_set = True
        else:
            self._solver.update()
        results = self._solver.solve(
            self.model,
            time_limit=max(time_limit_s, 0.01),
            rel_gap=mip_gap,
            abs_gap=absolute_gap(self.active),
            threads=self._threads,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )
        from pyomo.contrib.solver.common.results import SolutionStatus

        has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
        if has_solution:
            results.solution_loader.load_vars()
        highs: highspy.Highs = self._solver._solver_model
        return SolveResult(
            termination=termination_of(highs.getModelStatus()),
            has_solution=has_solution,
            objective=results.incumbent_objective,
            bound=results.objective_bound,
            solve_s=time.perf_counter() - started,
        )

    def minimize(self, objective: tuple) -> None:
        import pyomo.environ as pyo

        self.active = objective
        model = self.model
        model.weighted.deactivate()
        if model.find_component("stage_objective") is not None:
            model.del_component(model.stage_objective)
        model.stage_objective = pyo.Objective(expr=self._expression(objective))

    def value(self, objective: tuple) -> float:
        import pyomo.environ as pyo

        return float(pyo.value(self._expression(objective)))

    def hold(self, objective: tuple, value: float) -> float:
        """Keep `objective` at most `value` from now on, give or take the solver's round-off
        in that value (what a full MIP returns is feasible within 1e-6); returns the bound."""
        import pyomo.environ as pyo

        model = self.model
        if model.find_component("held") is None:
            model.held = pyo.ConstraintList(doc="what earlier stages of the objective order held")
        upper = value + HOLD_RELATIVE * abs(value) + HOLD_ABSOLUTE
        model.held.add(self._expression(objective) <= upper)
        return upper

    def total_shortfall_kwh(self) -> float:
        import pyomo.environ as pyo

        return float(sum(pyo.value(self.model.unmet_kwh[s]) for s in self.model.S))

    def setpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(S, T) set-points, negative where a session discharges, and the PV used."""
        model, index = self.model, self.index
        pairs = model.pairs
        values = np.array([model.x[k].value or 0.0 for k in range(pairs.session.size)])
        for k in model.KS:
            values[k] += model.x_one[k].value or 0.0
        for k in model.KV:
            values[k] -= model.discharge[k].value or 0.0
        setpoint = np.zeros(index.plugged.shape)
        setpoint[pairs.session, pairs.slot] = values
        pv_used = np.array([model.pv_used_kw[t].value or 0.0 for t in range(index.slots)])
        return setpoint, pv_used

    def dispatch(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The batteries' net power (B, T) and the phases used (S, T), where there are any."""
        from smartcharge.optimizer.matrix_model import fill_idle_phases

        model, index = self.model, self.index
        battery_kw = None
        if index.batteries is not None:
            battery_kw = np.array(
                [
                    [
                        (model.battery_charge_kw[b, t].value or 0.0)
                        - (model.battery_discharge_kw[b, t].value or 0.0)
                        for t in range(index.slots)
                    ]
                    for b in range(index.n_batteries)
                ]
            )
        if not len(model.KS):
            return battery_kw, None
        phases = index.nominal_phases()
        pairs = model.pairs
        for k in model.KS:
            one = (model.x_one[k].value or 0.0) > 1e-9 or (
                (model.x[k].value or 0.0) <= 1e-9 and (model.three_phase[k].value or 0.0) < 0.5
            )
            phases[pairs.session[k], pairs.slot[k]] = 1 if one else 3
        return battery_kw, fill_idle_phases(index, phases)

    def model_size(self) -> dict[str, int]:
        highs: highspy.Highs = self._solver._solver_model
        lp = highs.getLp()
        return {
            "variables": int(lp.num_col_),
            "binaries": sum(1 for v in lp.integrality_ if v == highspy.HighsVarType.kInteger),
            "constraints": int(lp.num_row_),
        }
