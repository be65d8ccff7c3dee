"""The MILP of `optimizer.model`, built as sparse matrices and solved by highspy directly.

Same variables, same constraint families, same objectives, in the same order and notation as
the Pyomo model (read that one for the math); this one exists for speed: each family is a few
whole-array operations instead of one Python object per constraint, so a 1000-charger site
builds in a fraction of a second. `tests/test_backends.py` proves both give the same objective.
"""

from __future__ import annotations

import math
import time

import highspy
import numpy as np

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.pairs import PairIndex
from smartcharge.optimizer.solve import SolveResult, Termination, termination_of
from smartcharge.optimizer.sparse_lp import SparseLP
from smartcharge.optimizer.units import phase_current_of_balanced_kw
from smartcharge.optimizer.weights import energy_weights

# A relative gap means little when the objective is near 0 (a cheap night, a demand charge
# already paid): one cent of absolute gap is also accepted as optimal.
ABSOLUTE_GAP = 0.01


class MatrixModel:
    """The MILP as a highspy instance, with the objectives of the strict order as vectors."""

    def __init__(self, index: ProblemIndex, threads: int = 1):
        self.index = index
        self.pairs = PairIndex.of(index)
        self.weights = energy_weights(index)
        self.tiers = self.weights.tiers
        self.lp = SparseLP()
        add_sessions(self)
        add_early_departures(self)
        add_grid(self)
        add_phase_limits(self)
        add_circuits(self)
        self.objectives = objective_vectors(self)
        self._active_cost, offset = self.objectives[("weighted",)]
        self.highs = self.lp.to_highs(self._active_cost, threads)
        # The relaxation lives in its own instance so that its simplex basis survives from
        # stage to stage: re-solving after a new objective or a held row takes few iterations.
        self.relaxation = self.lp.to_highs(self._active_cost, threads, relaxed=True)
        self._set_offset(offset)
        self.values = np.zeros(self.lp.n_cols)
        self.base_rows = self.highs.getNumRow()
        self.speedups: set[str] = set()

    # -- the interface `optimizer.objective_order` drives --------------------------------
    def solve(self, time_limit_s: float, mip_gap: float, warm_start: bool = False) -> SolveResult:
        started = time.perf_counter()
        highs = self.highs
        highs.setOptionValue("time_limit", max(time_limit_s, 0.01))
        highs.setOptionValue("mip_rel_gap", mip_gap)
        highs.setOptionValue("mip_abs_gap", ABSOLUTE_GAP)
        if self.lp.blocks["on"].size:
            proven = self._solve_from_relaxation(time_limit_s, mip_gap, warm_start, started)
            if proven is not None:
                return proven
            warm_start = bool(np.any(self.values))
            remaining_s = time_limit_s - (time.perf_counter() - started)
            highs.setOptionValue("time_limit", max(remaining_s, 0.01))
        if warm_start:
            solution = highspy.HighsSolution()
            solution.col_value = self.values.tolist()
            solution.value_valid = True
            highs.setSolution(solution)
        with StallStop.for_limit(highs, time_limit_s):
            highs.run()
        if warm_start and not self._solution_matches_objective():
            # HiGHS 1.16 may report the optimum of a warm-started MIP solved at the root yet
            # return the start as its solution; then solve again without the start.
            highs.clearSolver()
            highs.run()
        info = highs.getInfo()
        has_solution = info.primal_solution_status == 2
        if has_solution:
            self.values = np.asarray(highs.getSolution().col_value)
        status = highs.getModelStatus()
        objective = info.objective_function_value if has_solution else None
        bound = info.mip_dual_bound if info.mip_node_count >= 0 else objective
        return SolveResult(
            termination=termination_of(status),
            has_solution=has_solution,
            objective=objective,
            bound=bound,
            solve_s=time.perf_counter() - started,
        )

    def _solve_from_relaxation(
        self, time_limit_s: float, mip_gap: float, has_incumbent: bool, started: float
    ) -> SolveResult | None:
        """Prove a schedule optimal from the LP relaxation alone, or leave the best start.

        1. Solve the relaxation; its optimum bounds the MILP. An incumbent (the previous
           stage's schedule) within the gap of it is optimal: done.
        2. Fix every binary the relaxation leaves integral and solve the small MIP over the
           rest (a RINS-like neighbourhood). On these models the relaxation is integral for
           all but a few percent of the pairs, so this is quick and usually within the gap.
           It is always feasible: every fractional set-point switched off lowers charging
           only, which keeps every upper limit and lets PV curtailment keep export and the
           phases' lower limits.
        Returns None when neither proves optimality; `self.values` then holds the best
        schedule found, for the full MIP to start from.
        """
        highs, blocks = self.highs, self.lp.blocks
        binaries = np.concatenate([blocks["on"], blocks["importing"]]).astype(np.int32)
        n = binaries.size
        incumbent = self._active_cost @ self.values + self._offset if has_incumbent else np.inf
        relaxation = self.relaxation
        relaxation.setOptionValue("time_limit", max(time_limit_s, 0.01))
        relaxation.run()
        if relaxation.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        bound = relaxation.getInfo().objective_function_value
        relaxed = np.asarray(relaxation.getSolution().col_value)

        def proven(objective: float, speedup: str) -> SolveResult | None:
            result = SolveResult(
                Termination.OPTIMAL, True, objective, bound, time.perf_counter() - started
            )
            within_abs = result.bound is not None and objective - result.bound <= ABSOLUTE_GAP
            if not within_abs and (result.gap is None or result.gap > mip_gap):
                return None
            self.speedups.add(speedup)
            return result

        if has_incumbent and (result := proven(incumbent, "incumbent_proven_by_relaxation")):
            return result
        binary_pairs = np.flatnonzero(self.pairs.binary)
        floor = self.index.unit_min[self.pairs.session[binary_pairs]]
        x = relaxed[blocks["x"][binary_pairs]]
        importing = relaxed[blocks["importing"]]
        lower = np.concatenate([x >= floor - 1e-7, importing >= 1 - 1e-7]).astype(float)
        upper = np.concatenate([x > 1e-7, importing > 1e-7]).astype(float)
        highs.changeColsBounds(n, binaries, lower, upper)
        remaining_s = time_limit_s - (time.perf_counter() - started)
        highs.setOptionValue("time_limit", max(remaining_s, 0.01))
        try:
            with StallStop.for_limit(highs, time_limit_s):
                highs.run()
            if highs.getInfo().primal_solution_status == 2:
                objective = highs.getInfo().objective_function_value
                if objective < incumbent:
                    self.values = np.asarray(highs.getSolution().col_value)
                    incumbent = objective
        finally:
            highs.changeColsBounds(n, binaries, np.zeros(n), np.ones(n))
        if np.isfinite(incumbent):
            return proven(float(incumbent), "fixed_relaxation")
        return None

    def _solution_matches_objective(self) -> bool:
        info = self.highs.getInfo()
        if info.primal_solution_status != 2:
            return True
        values = np.asarray(self.highs.getSolution().col_value)
        reported = info.objective_function_value
        return abs(self._active_cost @ values + self._offset - reported) <= 1e-7 * max(
            1.0, abs(reported)
        )

    def minimize(self, objective: tuple) -> None:
        cost, constant = self.objectives[objective]
        self._active_cost = cost
        self._set_offset(constant)
        for highs in (self.highs, self.relaxation):
            highs.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)

    def value(self, objective: tuple) -> float:
        cost, constant = self.objectives[objective]
        return float(cost @ self.values + constant)

    def hold(self, objective: tuple, upper: float) -> None:
        cost, constant = self.objectives[objective]
        cols = np.flatnonzero(cost).astype(np.int32)
        for highs in (self.highs, self.relaxation):
            highs.addRow(-highspy.kHighsInf, upper - constant, cols.size, cols, cost[cols])

    def _set_offset(self, constant: float) -> None:
        # The constant (the demand charge already paid on peak_so_far) is part of the
        # objective HiGHS sees, so that its relative gap is a gap on the true cost.
        self._offset = constant
        for highs in (self.highs, self.relaxation):
            highs.changeObjectiveOffset(constant)

    def reset_stages(self) -> None:
        """Drop what the stages of a previous solve held; back to the weighted objective."""
        for highs in (self.highs, self.relaxation):
            extra = highs.getNumRow() - self.base_rows
            if extra:
                rows = np.arange(self.base_rows, self.base_rows + extra, dtype=np.int32)
                highs.deleteRows(extra, rows)
        self.minimize(("weighted",))

    def retire_session(self, session: int) -> None:
        """Take a departed session out in place: no set-point, no energy that counts.

        Only bounds change, so both HiGHS instances keep their model and the relaxation its
        basis: the re-plan after a departure starts where the last plan ended.
        """
        blocks, pairs = self.lp.blocks, self.pairs
        columns = blocks["x"][pairs.session == session]
        binary_pairs = np.flatnonzero(pairs.binary)
        columns = np.concatenate(
            [columns, blocks["on"][pairs.session[binary_pairs] == session]]
        ).astype(np.int32)
        unmet_row = np.array([self.lp.row_offset("unmet_definition") + session], dtype=np.int32)
        for highs in (self.highs, self.relaxation):
            zeros = np.zeros(columns.size)
            highs.changeColsBounds(columns.size, columns, zeros, zeros)
            highs.changeRowsBounds(1, unmet_row, np.zeros(1), np.full(1, highspy.kHighsInf))
        self.values[columns] = 0.0
        early = np.flatnonzero(self.early_sessions == session)
        if early.size:
            early_row = (self.lp.row_offset("early_unmet_definition") + early).astype(np.int32)
            for highs in (self.highs, self.relaxation):
                highs.changeRowsBounds(1, early_row, np.zeros(1), np.full(1, highspy.kHighsInf))

    @property
    def has_early_departures(self) -> bool:
        return bool(self.early_sessions.size)

    def total_shortfall_kwh(self) -> float:
        return float(self.values[self.lp.blocks["unmet_kwh"]].sum())

    def setpoints(self) -> tuple[np.ndarray, np.ndarray]:
        setpoint = np.zeros(self.index.plugged.shape)
        setpoint[self.pairs.session, self.pairs.slot] = self.values[self.lp.blocks["x"]]
        return setpoint, self.values[self.lp.blocks["pv_used_kw"]]

    def model_size(self) -> dict[str, int]:
        return {
            "variables": self.lp.n_cols,
            "binaries": int(sum(i.sum() for i in self.lp.integer)),
            "constraints": self.highs.getNumRow(),
        }


def add_sessions(m: MatrixModel) -> None:
    """x = 0 or unit_min <= x <= unit_max; E[s] <= energy; unmet >= counts - E; ramps."""
    index, pairs, lp = m.index, m.pairs, m.lp
    s_of_k = pairs.session
    n_pairs = s_of_k.size
    x = lp.add_vars("x", np.zeros(n_pairs), index.unit_max[s_of_k])
    binary_pairs = np.flatnonzero(pairs.binary)
    on = lp.add_vars("on", np.zeros(binary_pairs.size), np.ones(binary_pairs.size), integer=True)
    local = np.arange(binary_pairs.size)
    floor = index.unit_min[s_of_k[binary_pairs]]
    ceiling = index.unit_max[s_of_k[binary_pairs]]
    lp.add_rows(
        "semi_continuous_floor",
        np.concatenate([local, local]),
        np.concatenate([x[binary_pairs], on]),
        np.concatenate([np.ones(local.size), -floor]),
        0.0,
        np.inf,
        n_rows=local.size,
    )
    lp.add_rows(
        "semi_continuous_ceiling",
        np.concatenate([local, local]),
        np.concatenate([x[binary_pairs], on]),
        np.concatenate([np.ones(local.size), -ceiling]),
        -np.inf,
        0.0,
        n_rows=local.size,
    )
    kwh_per_unit = index.kw_per_unit[s_of_k] * index.step_h
    n_sessions = index.n_sessions
    lp.add_rows("energy_cap", s_of_k, x, kwh_per_unit, -np.inf, index.energy_kwh, n_sessions)
    unmet = lp.add_vars("unmet_kwh", np.zeros(n_sessions), np.full(n_sessions, np.inf))
    sessions = np.arange(n_sessions)
    lp.add_rows(
        "unmet_definition",
        np.concatenate([sessions, s_of_k]),
        np.concatenate([unmet, x]),
        np.concatenate([np.ones(n_sessions), kwh_per_unit]),
        index.energy_counts_kwh,
        np.inf,
        n_sessions,
    )
    ramped = pairs.ramped
    ramp = lp.add_vars("ramp_up_kw", np.zeros(ramped.size), np.full(ramped.size, np.inf))
    kw_per_unit = index.kw_per_unit[s_of_k[ramped]]
    previous = pairs.previous[ramped]
    has_previous = previous >= 0
    r = np.arange(ramped.size)
    lp.add_rows(
        "ramp_up_definition",
        np.concatenate([r, r, r[has_previous]]),
        np.concatenate([ramp, x[ramped], x[previous[has_previous]]]),
        np.concatenate([np.ones(ramped.size), -kw_per_unit, kw_per_unit[has_previous]]),
        0.0,
        np.inf,
        ramped.size,
    )


def add_early_departures(m: MatrixModel) -> None:
    """early_unmet[s] >= early_kwh[s] - sum of p[k] dt over s's slots before its early
    departure: the energy that should be in the car if the driver leaves early (SPEC §6)."""
    index, pairs, lp = m.index, m.pairs, m.lp
    sessions = np.flatnonzero(index.early_kwh > 1e-9)
    m.early_sessions = sessions
    row_of_session = np.full(index.n_sessions, -1)
    row_of_session[sessions] = np.arange(sessions.size)
    unmet = lp.add_vars("early_unmet_kwh", np.zeros(sessions.size), np.full(sessions.size, np.inf))
    due = (row_of_session[pairs.session] >= 0) & (pairs.slot < index.early_slot[pairs.session])
    rows = np.arange(sessions.size)
    lp.add_rows(
        "early_unmet_definition",
        np.concatenate([rows, row_of_session[pairs.session[due]]]),
        np.concatenate([unmet, lp.blocks["x"][due]]),
        np.concatenate(
            [np.ones(sessions.size), index.kw_per_unit[pairs.session[due]] * index.step_h]
        ),
        index.early_kwh[sessions],
        np.inf,
        sessions.size,
    )


def add_grid(m: MatrixModel) -> None:
    """import - export - charging + pv_used = base; limits as bounds; peak[period] >= import."""
    index, pairs, lp = m.index, m.pairs, m.lp
    base, pv, slots = index.base_load_kw, index.pv_kw, index.slots
    import_limit, export_limit = index.import_limit_kw, index.export_limit_kw
    pv_used = lp.add_vars("pv_used_kw", np.zeros(slots), pv)
    grid_import = lp.add_vars("grid_import_kw", np.zeros(slots), import_limit)
    grid_export = lp.add_vars("grid_export_kw", np.zeros(slots), export_limit)
    t = np.arange(slots)
    x = lp.blocks["x"]
    lp.add_rows(
        "grid_balance",
        np.concatenate([t, t, t, pairs.slot]),
        np.concatenate([grid_import, grid_export, pv_used, x]),
        np.concatenate(
            [np.ones(slots), -np.ones(slots), np.ones(slots), -index.kw_per_unit[pairs.session]]
        ),
        base,
        base,
        slots,
    )
    inverted = np.flatnonzero(index.export_price > index.import_price)
    importing = lp.add_vars("importing", np.zeros(inverted.size), np.ones(inverted.size), True)
    n_inv = np.arange(inverted.size)
    lp.add_rows(
        "import_only_when_importing",
        np.concatenate([n_inv, n_inv]),
        np.concatenate([grid_import[inverted], importing]),
        np.concatenate([np.ones(inverted.size), -import_limit[inverted]]),
        -np.inf,
        0.0,
        inverted.size,
    )
    lp.add_rows(
        "export_only_when_exporting",
        np.concatenate([n_inv, n_inv]),
        np.concatenate([grid_export[inverted], importing]),
        np.concatenate([np.ones(inverted.size), export_limit[inverted]]),
        -np.inf,
        export_limit[inverted],
        inverted.size,
    )
    peak = lp.add_vars("peak_import_kw", index.demand.peak_so_far_kw, np.inf)
    lp.add_rows(
        "peak_above_import",
        np.concatenate([t, t]),
        np.concatenate([peak[index.demand.of_slot], grid_import]),
        np.concatenate([np.ones(slots), -np.ones(slots)]),
        0.0,
        np.inf,
        slots,
    )


def add_phase_limits(m: MatrixModel) -> None:
    """lower <= sum_k I[phi,k] + (base - pv_used) * 1000/(3V) <= upper, each phase, limited slot."""
    index, pairs, lp = m.index, m.pairs, m.lp
    limited = np.flatnonzero(np.isfinite(index.grid_phase_limit_a))
    if limited.size == 0:
        return
    n = limited.size
    row_of_slot = np.full(index.slots, -1)
    row_of_slot[limited] = np.arange(n)
    amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
    x, pv_used = lp.blocks["x"], lp.blocks["pv_used_kw"]
    rows, cols, values = [], [], []
    for phi in range(3):
        coefficient = index.phase_a_per_unit[pairs.session, phi]
        on_phase = (coefficient > 0) & (row_of_slot[pairs.slot] >= 0)
        rows += [phi * n + row_of_slot[pairs.slot[on_phase]], phi * n + np.arange(n)]
        cols += [x[on_phase], pv_used[limited]]
        values += [coefficient[on_phase], np.full(n, -amps_per_kw)]
    base_a = np.tile(amps_per_kw * index.base_load_kw[limited], 3)
    lp.add_rows(
        "grid_phase_limit",
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(values),
        np.tile(index.phase_lower_a[limited], 3) - base_a,
        np.tile(index.phase_upper_a[limited], 3) - base_a,
        3 * n,
    )


def add_circuits(m: MatrixModel) -> None:
    """Per circuit and slot: sum of p below it <= limit_kw; per phase sum of I <= phase_limit_a."""
    index, pairs, lp = m.index, m.pairs, m.lp
    circuits, slots, x = index.circuits, index.slots, lp.blocks["x"]
    n_circuits = len(circuits.ids)
    if n_circuits == 0:
        return
    circuit_of, pair_of = np.nonzero(circuits.contains_session[:, pairs.session])
    limited = np.isfinite(circuits.limit_kw[circuit_of])
    lp.add_rows(
        "circuit_power_limit",
        circuit_of[limited] * slots + pairs.slot[pair_of[limited]],
        x[pair_of[limited]],
        index.kw_per_unit[pairs.session[pair_of[limited]]],
        -np.inf,
        np.repeat(circuits.limit_kw, slots),
        n_circuits * slots,
    )
    rows, cols, values = [], [], []
    for phi in range(3):
        coefficient = index.phase_a_per_unit[pairs.session[pair_of], phi]
        use = (coefficient > 0) & np.isfinite(circuits.phase_limit_a[circuit_of])
        rows.append((circuit_of[use] * 3 + phi) * slots + pairs.slot[pair_of[use]])
        cols.append(x[pair_of[use]])
        values.append(coefficient[use])
    lp.add_rows(
        "circuit_phase_limit",
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(values),
        -np.inf,
        np.repeat(circuits.phase_limit_a, 3 * slots),
        n_circuits * 3 * slots,
    )


def objective_vectors(m: MatrixModel) -> dict[tuple, tuple[np.ndarray, float]]:
    """(cost vector, constant) of every objective of the strict order; see `add_objective`."""
    index, pairs, lp, weights = m.index, m.pairs, m.lp, m.weights
    n, dt = lp.n_cols, index.step_h
    blocks = lp.blocks
    counts = index.energy_counts_kwh
    tiers = weights.tiers
    z = lp.add_vars("tier_max_unmet_fraction", np.zeros(len(tiers)), np.ones(len(tiers)))
    n = lp.n_cols
    counted = np.flatnonzero(counts > 1e-9)
    tier_of = np.searchsorted(np.array(tiers), index.priority[counted])
    lp.add_rows(
        "max_unmet_fraction_definition",
        np.concatenate([np.arange(counted.size)] * 2),
        np.concatenate([z[tier_of], blocks["unmet_kwh"][counted]]),
        np.concatenate([np.ones(counted.size), -1.0 / counts[counted]]),
        0.0,
        np.inf,
        counted.size,
    )
    tariff = index.problem.tariff
    cost = np.zeros(n)
    cost[blocks["grid_import_kw"]] = dt * index.import_price
    cost[blocks["grid_export_kw"]] = -dt * index.export_price
    cost[blocks["peak_import_kw"]] = tariff.demand_charge_per_kw
    cost_constant = -tariff.demand_charge_per_kw * float(index.demand.peak_so_far_kw.sum())
    tie = np.zeros(n)
    position = pairs.slot / max(index.slots - 1, 1)
    tie[blocks["x"]] = (
        weights.earlier_delivery_per_kwh_slot
        * index.slots
        * position
        * index.kw_per_unit[pairs.session]
        * dt
    )
    tie[blocks["ramp_up_kw"]] = weights.setpoint_change_per_kw
    objectives: dict[tuple, tuple[np.ndarray, float]] = {("cost",): (cost + tie, cost_constant)}
    weighted = cost + tie
    for r, tier in enumerate(tiers):
        shortfall = np.zeros(n)
        shortfall[blocks["unmet_kwh"][index.priority == tier]] = 1.0
        fairness = np.zeros(n)
        fairness[z[r]] = 1.0
        objectives[("shortfall", r)] = (shortfall, 0.0)
        objectives[("fairness", r)] = (fairness, 0.0)
        weighted = weighted + weights.per_kwh_by_tier[r] * (
            shortfall + weights.fairness_kwh_per_fraction[r] * fairness
        )
    early = np.zeros(n)
    early[blocks["early_unmet_kwh"]] = 1.0
    objectives[("early",)] = (early, 0.0)
    weighted = weighted + weights.early_per_kwh * early
    objectives[("weighted",)] = (weighted, cost_constant)
    return objectives


__all__ = ["MatrixModel", "Termination"]


# The full MIP stops when its best schedule has not improved by more than the absolute gap for
# this long: on these models branch and bound rarely moves a weak bound (a demand charge
# spread over semi-continuous currents), and the schedule found early is the one it returns.
STALL_MIN_S = 0.5
STALL_SHARE = 0.03


class StallStop:
    """Interrupt a HiGHS MIP whose incumbent has stalled for `stall_s` seconds."""

    def __init__(self, highs: highspy.Highs, stall_s: float) -> None:
        self.highs = highs
        self.stall_s = stall_s
        self.best = math.inf
        self.improved_at = 0.0

    @classmethod
    def for_limit(cls, highs: highspy.Highs, time_limit_s: float) -> StallStop:
        return cls(highs, stall_s=max(STALL_MIN_S, STALL_SHARE * time_limit_s))

    def __enter__(self) -> StallStop:
        self.highs.cbMipInterrupt.subscribe(self._check)
        return self

    def __exit__(self, *_: object) -> None:
        self.highs.cbMipInterrupt.unsubscribe(self._check)

    def _check(self, event: highspy.highs.HighsCallbackEvent) -> None:
        out = event.data_out
        if out.mip_primal_bound < self.best - ABSOLUTE_GAP:
            self.best = out.mip_primal_bound
            self.improved_at = out.running_time
        elif math.isfinite(self.best) and out.running_time - self.improved_at > self.stall_s:
            event.interrupt()
