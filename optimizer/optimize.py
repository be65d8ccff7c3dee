"""One plan, end to end: validate, index, build, solve in objective order, round, explain.

`optimize(problem)` never fails for a valid problem: without a solver schedule in time it
returns the water-filling fallback (`status: fallback`). Every schedule it returns has been
rounded to what chargers execute, and is never worse on delivered energy than the fallback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartcharge.optimizer.fallback import water_fill
from smartcharge.optimizer.flows import SiteFlows, session_power_kw, site_flows
from smartcharge.optimizer.index import ProblemIndex, build_index
from smartcharge.optimizer.kpis import (
    compute_kpis,
    demand_period_entries,
    discharged_kwh,
    session_energy,
)
from smartcharge.optimizer.limited_by import limited_by
from smartcharge.optimizer.matrix_model import MatrixModel
from smartcharge.optimizer.objective_order import (
    StagedModel,
    StagedResult,
    solve_in_objective_order,
)
from smartcharge.optimizer.problem import Problem, parse_problem
from smartcharge.optimizer.redispatch import redispatch_batteries
from smartcharge.optimizer.rounding import round_setpoints, within_net_energy
from smartcharge.optimizer.session_estimates import (
    SessionEstimate,
    SessionHistory,
    estimate_sessions,
)
from smartcharge.optimizer.solve import PyomoModel, highs_version
from smartcharge.optimizer.top_up import top_up

MODELS = {"matrix": MatrixModel, "pyomo": PyomoModel}

# Time kept back from the solver for rounding, the top-up, the fallback's comparison,
# explanations and OCPP payloads, so that the whole answer arrives within time_limit_s.
# Measured on an idle machine: 0.3-0.5 s at 1000 sessions x 96 slots (~6e-6 s per session and
# slot), and four to eight times what parsing, indexing and building took, which tracks how
# busy the machine is. A limit too short for both leaves the solver 40 % of it.
_POSTPROCESS_S_PER_SESSION_SLOT = 1e-5
_POSTPROCESS_PER_PREPARATION = 5.0
_POSTPROCESS_MAX_SHARE = 0.6


def solver_time_s(time_limit_s: float, index: ProblemIndex, prepared_s: float = 0.0) -> float:
    """The share of `time_limit_s` the solver may use, counted from the start, when parsing,
    indexing and building took `prepared_s`."""
    reserve_s = max(
        0.02 + _POSTPROCESS_S_PER_SESSION_SLOT * index.n_sessions * index.slots,
        _POSTPROCESS_PER_PREPARATION * prepared_s,
    )
    return time_limit_s - min(reserve_s, _POSTPROCESS_MAX_SHARE * time_limit_s)


@dataclass
class Plan:
    """A rounded schedule with its site flows, figures and solver report."""

    index: ProblemIndex
    setpoint: np.ndarray  # (S, T): A per phase on AC, kW on DC
    flows: SiteFlows
    status: str
    warnings: list[str]
    solver: dict[str, Any] = field(default_factory=dict)
    # The solved model, kept so that the next re-plan can change it in place (`previous=`).
    model: StagedModel | None = field(default=None, repr=False, compare=False)
    # Per session id, the departure and energy the engine estimated (SPEC §6).
    estimates: dict[str, SessionEstimate] = field(default_factory=dict)
    # SPEC §4: the batteries' power (B, T), + charging (None: idle), and the phases each
    # session uses per slot (S, T) where some switch (None: the nominal phases).
    battery_kw: np.ndarray | None = None
    phases: np.ndarray | None = None

    @property
    def problem(self) -> Problem:
        return self.index.problem

    @property
    def power_kw(self) -> np.ndarray:
        return session_power_kw(self.index, self.setpoint, self.phases)

    def battery_entries(self) -> list[dict[str, Any]]:
        """The answer's `batteries` (SPEC §4): power per slot and the state at each slot's end."""
        batteries = self.index.batteries
        if batteries is None:
            return []
        power_kw = np.round(self.battery_power_kw(), 6)
        soc_kwh = batteries.soc_kwh(power_kw, self.index.step_h)
        return [
            {"id": bid, "power_kw": power_kw[b].tolist(), "soc_kwh": _rounded(soc_kwh[b])}
            for b, bid in enumerate(batteries.ids)
        ]

    def battery_power_kw(self) -> np.ndarray:
        """(B, T) the batteries' power, 0 where idle."""
        if self.battery_kw is not None:
            return self.battery_kw
        return np.zeros((self.index.n_batteries, self.index.slots))

    def to_answer(self, explained_before: dict[str, list] | None = None) -> dict[str, Any]:
        """The SPEC §2 answer, without the OCPP payloads (those belong to `api.ocpp`).

        `explained_before` (session id -> `limited_by` of the plan before, for the sessions
        whose set-points this re-plan left as they were) is taken over instead of explained
        anew (`api.service.replan`).
        """
        index = self.index
        delivered_kwh, unmet_kwh = session_energy(index, self.setpoint, self.phases)
        discharged = discharged_kwh(index, self.setpoint, self.phases)
        kept = explained_before or {}
        explain = np.array([s not in kept for s in index.session_ids], dtype=bool)
        reasons = limited_by(
            index,
            self.setpoint,
            self.flows,
            self.status,
            explain if kept else None,
            phases=self.phases,
            battery_kw=self.battery_kw,
        )
        reasons = [
            kept[s] if r is None else r for s, r in zip(index.session_ids, reasons, strict=True)
        ]
        power_kw = np.round(self.power_kw, 6)
        phases_used = index.nominal_phases() if self.phases is None else self.phases
        sessions = []
        for s, session in enumerate(self.problem.sessions):
            estimate = self.estimates.get(session.id)
            entry = {
                "id": session.id,
                "charger_id": session.charger_id,
                "current_a": self.setpoint[s].tolist() if index.is_ac[s] else None,
                "power_kw": power_kw[s].tolist(),
                "energy_kwh": round(float(delivered_kwh[s]), 6),
                "unmet_kwh": round(float(unmet_kwh[s]), 6),
                "limited_by": reasons[s],
                "estimated": estimate.fields if estimate else [],
            }
            if estimate:
                entry["estimate"] = estimate.to_answer()
            if index.bidirectional[s]:
                entry["discharged_kwh"] = round(float(discharged[s]), 6)
            if index.switches[s]:
                entry["phases_used"] = phases_used[s].astype(int).tolist()
            sessions.append(entry)
        flows = self.flows
        answer: dict[str, Any] = {
            "status": self.status,
            "warnings": list(self.warnings),
            "kpis": compute_kpis(index, self.setpoint, flows, self.phases, self.battery_kw),
            "demand_periods": demand_period_entries(index, flows),
            "site": {
                "slot_start": [t.isoformat() for t in index.slot_times],
                "import_kw": _rounded(flows.import_kw),
                "export_kw": _rounded(flows.export_kw),
                "charging_kw": _rounded(flows.charging_kw),
                "base_load_kw": _rounded(index.base_load_kw),
                "pv_kw": _rounded(flows.pv_used_kw),
                "pv_available_kw": _rounded(index.pv_kw),
                "import_limit_kw": _rounded(index.import_limit_given_kw),
                "export_limit_kw": _rounded(index.export_limit_given_kw),
                "phase_limit_a": [
                    None if np.isinf(limit) else round(float(limit), 6)
                    for limit in index.grid_phase_limit_a
                ],
                "import_price_per_kwh": _rounded(index.import_price),
                "export_price_per_kwh": _rounded(index.export_price),
            },
            "sessions": sessions,
            "solver": dict(self.solver),
        }
        if index.batteries is not None:
            answer["batteries"] = self.battery_entries()
            answer["site"]["battery_kw"] = _rounded(self.battery_power_kw().sum(axis=0))
        return answer


def optimize(
    problem: Problem | dict[str, Any],
    previous: Plan | None = None,
    session_history: SessionHistory | None = None,
) -> Plan:
    """Plan one site: the schedule that is best in the strict order of SPEC §1.

    With `previous` (the plan of the same site a moment ago, differing only by departed
    sessions), its model is changed in place instead of built anew: the LP relaxation then
    re-solves from its last basis (see `MatrixModel.retire_sessions`). Missing departures and
    energies are estimated from `session_history` (the site's finished sessions) or the
    distributions of the site's kind (`optimizer.session_estimates`).
    """
    started = time.perf_counter()
    problem = parse_problem(problem)
    warnings: list[str] = []
    problem = _forecasts_as_given(problem, warnings)
    problem, estimates = estimate_sessions(problem, session_history)
    index = build_index(problem)
    warnings.extend(index.warnings)

    model, session_rows = _reuse_model(previous, problem, problem.options.threads)
    if model is None:
        model = MODELS[problem.options.model](index, threads=problem.options.threads)
    build_s = time.perf_counter() - started
    deadline = started + solver_time_s(problem.options.time_limit_s, index, build_s)
    staged = solve_in_objective_order(model, problem.options.mip_gap, deadline)
    report = _solver_report(model, staged, build_s, problem.options.model)

    battery_kw, phases = None, None
    if staged.has_solution:
        setpoint, pv_hint = model.setpoints()
        battery_kw, phases = _dispatch(model)
        if session_rows is not None:
            setpoint = setpoint[session_rows]
            phases = None if phases is None else phases[session_rows]
        status = "optimal" if staged.all_optimal else "feasible"
    else:
        setpoint, pv_hint = water_fill(index), None
        status = "fallback"
        warnings.append(
            f"the solver found no schedule in {problem.options.time_limit_s:g} s "
            f"({report['termination']}): a rule-based schedule is returned"
        )
    solved = setpoint
    setpoint = within_net_energy(index, round_setpoints(index, setpoint, phases), phases)
    if status != "fallback":
        # An optimal schedule leaves room only where rounding freed it: fill that without a
        # peak the plan avoided. A schedule cut short by the time limit may leave much more,
        # which goes to energy first (SPEC §1: energy before cost), whatever the peak.
        cap_kw: float | np.ndarray = np.inf
        if status == "optimal":
            # Per slot, the peak of its billing period (or what that period had paid).
            demand = index.demand
            solved_flows = site_flows(index, solved, pv_hint, battery_kw, phases)
            peak_kw = demand.peak_kw(solved_flows.import_kw)
            cap_kw = peak_kw[demand.of_slot] + 1e-6
        setpoint, pv_hint = top_up(
            index, setpoint, cap_kw, pv_hint, battery_kw=battery_kw, phases=phases
        )
        setpoint, status = _never_below_fallback(index, setpoint, solved, status, warnings, phases)
        if status == "fallback":
            pv_hint, battery_kw, phases = None, None, None
        elif battery_kw is not None:
            redispatched = redispatch_batteries(index, setpoint, battery_kw, phases)
            if redispatched is not None:
                battery_kw = redispatched
    if status == "fallback":
        _warn_idle_batteries(index, warnings)
    flows = site_flows(index, setpoint, pv_hint, battery_kw, phases)
    report["total_s"] = round(time.perf_counter() - started, 4)
    return Plan(
        index,
        setpoint,
        flows,
        status,
        warnings,
        report,
        model,
        estimates=estimates,
        battery_kw=battery_kw,
        phases=phases,
    )


def _dispatch(model: StagedModel) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The batteries' power and the phases used of a solved model (SPEC §4)."""
    dispatch = getattr(model, "dispatch", None)
    return (None, None) if dispatch is None else dispatch()


def _warn_idle_batteries(index: ProblemIndex, warnings: list[str]) -> None:
    """The rule-based schedule leaves every battery idle: say where that misses its final
    state of charge (the checker accepts it only with this warning)."""
    batteries = index.batteries
    if batteries is None:
        return
    for b, bid in enumerate(batteries.ids):
        final = index.problem.site.batteries[b].final_target_kwh
        if final > batteries.soc0_kwh[b] + 1e-9:
            warnings.append(
                f"battery '{bid}' is left idle by the rule-based schedule: its final_soc_kwh "
                f"{final:g} is not reached (it stays at {batteries.soc0_kwh[b]:g} kWh)"
            )


def fallback_plan(
    problem: Problem | dict[str, Any],
    reason: str,
    session_history: SessionHistory | None = None,
) -> Plan:
    """The rule-based schedule alone (`status: fallback`), without the solver: what a service
    answers when it had to give up on a solve. `reason` becomes the answer's warning."""
    started = time.perf_counter()
    problem = parse_problem(problem)
    warnings: list[str] = []
    problem = _forecasts_as_given(problem, warnings)
    problem, estimates = estimate_sessions(problem, session_history)
    index = build_index(problem)
    warnings.extend(index.warnings)
    warnings.append(reason)
    _warn_idle_batteries(index, warnings)
    setpoint = round_setpoints(index, water_fill(index))
    report: dict[str, Any] = {
        "name": "highs",
        "version": highs_version(),
        "model": problem.options.model,
        "termination": "abandoned",
        "mip_gap": None,
        "build_s": 0.0,
        "solve_s": 0.0,
        "stages": [],
        "speedups": [],
        "total_s": round(time.perf_counter() - started, 4),
    }
    flows = site_flows(index, setpoint)
    return Plan(index, setpoint, flows, "fallback", warnings, report, estimates=estimates)


def changed_sessions(plan: Plan, previous: Plan) -> np.ndarray:
    """(S,) whether each session of `plan` is new or got other set-points than in `previous`
    (all of them when the site, its horizon or its tariff changed)."""
    changed = np.ones(plan.index.n_sessions, dtype=bool)
    if _without_sessions(plan.problem) != _without_sessions(previous.problem):
        return changed
    before = {sid: row for row, sid in enumerate(previous.index.session_ids)}
    for row, sid in enumerate(plan.index.session_ids):
        old = before.get(sid)
        if old is not None and previous.problem.sessions[old] == plan.problem.sessions[row]:
            changed[row] = not np.array_equal(plan.setpoint[row], previous.setpoint[old])
    return changed


def _reuse_model(
    previous: Plan | None, problem: Problem, threads: int
) -> tuple[MatrixModel | None, np.ndarray | None]:
    """A model of `problem` that continues from the previous plan's live relaxation, when
    only sessions differ; with the model row of each of the problem's sessions.

    The model keeps every session it ever had, in its order: a departed (or changed) session
    stays as a row with no energy and its set-points fixed at 0, and arriving (or changed)
    sessions are appended, so that the relaxation is patched rather than rebuilt and its
    basis carries over (`LiveRelaxation.patch_to`).
    """
    if previous is None or not isinstance(previous.model, MatrixModel) or not problem.sessions:
        return None, None
    old = previous.model
    if _without_sessions(problem) != _without_sessions(old.index.problem):
        return None, None
    current = {s.id: s for s in problem.sessions}
    rows: dict[str, int] = {}
    sessions, retired = [], []
    for row, session in enumerate(old.index.problem.sessions):
        if not old.retired[row] and current.get(session.id) == session:
            rows[session.id] = row
            sessions.append(session)
        else:
            retired.append(row)
            # Its priority stays: tiers are numbered in the model, one vanishing renumbers them.
            sessions.append(session.model_copy(update={"energy_kwh": 0.0}))
    if len(retired) > MAX_RETIRED_SHARE * len(sessions):
        return None, None  # mostly empty rows by now: a cold model is smaller
    for session in problem.sessions:
        if session.id not in rows:
            rows[session.id] = len(sessions)
            sessions.append(session)
    if tuple(sorted({s.priority for s in sessions})) != old.tiers:
        return None, None  # tiers are numbered in the model: a new one renumbers them
    model = MatrixModel(
        build_index(problem.model_copy(update={"sessions": sessions})), threads=threads
    )
    model.retired[retired] = True
    model.retire_sessions(np.asarray(retired, dtype=int))
    model.continue_from(old)
    previous.model = None  # its relaxation now belongs to the new plan
    return model, np.array([rows[s.id] for s in problem.sessions], dtype=int)


# A reused model whose rows are more than this share of departed sessions is built anew.
MAX_RETIRED_SHARE = 0.5


def _without_sessions(problem: Problem) -> dict[str, Any]:
    """What must not change for a model to be reused: all but the sessions and the limits
    of the solve itself."""
    return problem.model_dump(
        exclude={
            "sessions": True,
            "options": {"time_limit_s", "mip_gap", "include_default_profiles"},
        }
    )


def _forecasts_as_given(problem: Problem, warnings: list[str]) -> Problem:
    """The optimizer plans against numbers; forecasting fills nulls before it is called."""
    updates = {}
    if problem.base_load_kw is None:
        updates["base_load_kw"] = 0.0
        warnings.append("base_load_kw is null and no forecast was given: taken as 0 kW")
    if problem.pv_kw is None:
        updates["pv_kw"] = 0.0
        if problem.site.pv:
            warnings.append("pv_kw is null and no PV forecast was given: taken as 0 kW")
    return problem.model_copy(update=updates) if updates else problem


def _never_below_fallback(
    index: ProblemIndex,
    setpoint: np.ndarray,
    solved: np.ndarray,
    status: str,
    warnings: list[str],
    phases: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """Never return less energy than the rules would deliver (beyond the accepted gap).

    The MILP maximises energy within `mip_gap` before rounding; flooring to 0.1 A and the
    semi-continuous floor can cost a shortage case a little. If the water-filling rules
    deliver more, in priority order, by more than `mip_gap` of the energy that counts (the
    SPEC's own notion of optimal on (1)), the rules' schedule is returned instead.
    """
    _, unmet = session_energy(index, setpoint, phases)
    tolerance_kwh = index.problem.options.mip_gap * float(index.energy_counts_kwh.sum())
    # The rules' schedule is feasible for the MILP, so an optimal schedule delivers at least
    # as much (within the gap): only rounding can lose more, and only then is it worth
    # computing the rules' schedule to compare. A schedule cut short by the time limit is
    # always compared.
    _, solved_unmet = session_energy(index, solved, phases)
    if status == "optimal" and unmet.sum() <= solved_unmet.sum() + tolerance_kwh:
        return setpoint, status
    rules = water_fill(index)
    _, rules_unmet = session_energy(index, rules)
    for tier in sorted(set(index.priority.tolist()), reverse=True):
        in_tier = index.priority == tier
        plan_short, rules_short = unmet[in_tier].sum(), rules_unmet[in_tier].sum()
        if rules_short < plan_short - tolerance_kwh - 1e-6:
            warnings.append("the rule-based schedule delivers more energy after rounding: used")
            return rules, "fallback"
        if plan_short < rules_short - 1e-6:
            break
    return setpoint, status


def _solver_report(
    model: StagedModel, staged: StagedResult, build_s: float, model_name: str
) -> dict[str, Any]:
    final = staged.cost_stage
    report: dict[str, Any] = {
        "name": "highs",
        "version": highs_version(),
        "model": model_name,
        "termination": staged.termination,
        "mip_gap": None if final is None or final.gap is None else round(final.gap, 6),
        "build_s": round(build_s, 4),
        "solve_s": round(staged.solve_s, 4),
        "stages": staged.stages,
        "stage_s": [round(r.solve_s, 4) for r in staged.results],
        "speedups": sorted(getattr(model, "speedups", ())),
    }
    report.update(model.model_size())
    return report


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(values, 6).tolist()
