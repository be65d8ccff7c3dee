"""The MILP of `optimizer.model`, built as sparse matrices and solved by highspy directly.

Same variables, same constraint families, same objectives, in the same order and notation as
the Pyomo model (read that one for the math); this one exists for speed: each family is a few
whole-array operations instead of one Python object per constraint, so a 1000-charger site
builds in a fraction of a second. `tests/test_backends.py` proves both give the same objective.
"""

from __future__ import annotations

import time

import highspy
import numpy as np

from smartcharge.optimizer.dive import DiveColumns
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.live_relaxation import LiveRelaxation
from smartcharge.optimizer.matrix_storage import (
    add_batteries,
    add_discharge,
    add_discharge_only_when_served,
    add_phase_switching,
    bidirectional_pairs,
    same_session_previous,
    session_energy_terms,
    site_power_terms,
    switching_pairs,
)
from smartcharge.optimizer.pairs import PairIndex
from smartcharge.optimizer.relaxation_first import solve_relaxation_first
from smartcharge.optimizer.solve import SolveResult
from smartcharge.optimizer.sparse_lp import SparseLP
from smartcharge.optimizer.units import kw_per_a, phase_current_of_balanced_kw
from smartcharge.optimizer.weights import energy_weights

# The LP relaxation leaves out the on columns (fixed at 0, so that columns keep their numbers)
# and their rows: with on in [0, 1], unit_min * on <= x <= unit_max * on projects onto
# 0 <= x <= unit_max, which x's bounds already say. It is half the size and its solves are
# several times faster than with them (warm re-solves skip presolve, which would remove them).
# The same holds for set-points on one phase (SPEC §4 phase switching).
RELAXATION_WITHOUT_ROWS = frozenset(
    {"semi_continuous_floor", "semi_continuous_ceiling", "one_phase_floor", "one_phase_ceiling"}
)
RELAXATION_FIXED_TO_ZERO = frozenset({"on", "on_one"})
# The binaries that choose a side, rounded by a dive as directions: import or export, a
# battery charging or discharging, an EV charging or discharging, three phases or one.
DIRECTION_BLOCKS = ("importing", "battery_charging", "discharging", "three_phase")


class MatrixModel:
    """The MILP as sparse arrays, with the objectives of the strict order as vectors, solved
    relaxation first (`optimizer.relaxation_first`) on HiGHS instances made when needed."""

    def __init__(self, index: ProblemIndex, threads: int = 1):
        self.index = index
        self.threads = threads
        self.pairs = PairIndex.of(index)
        self.weights = energy_weights(index)
        self.tiers = self.weights.tiers
        self.lp = SparseLP()
        add_sessions(self)
        add_phase_switching(self)
        add_discharge(self)
        add_energy(self)
        add_early_departures(self)
        add_discharge_only_when_served(self)
        add_batteries(self)
        self.power_terms = site_power_terms(self)
        add_grid(self)
        add_phase_limits(self)
        add_circuits(self)
        self.objectives = objective_vectors(self)
        self.values = np.zeros(self.lp.n_cols)
        self.has_incumbent = False  # whether `values` is a schedule of the MILP
        self.retired = np.zeros(index.n_sessions, dtype=bool)  # rows kept for a reused model
        self.speedups: set[str] = set()
        self.active: tuple = ("weighted",)
        self.held: list[tuple[np.ndarray, np.ndarray, float]] = []  # (cols, coefficients, upper)
        self._relaxation: LiveRelaxation | None = None
        self._mip: highspy.Highs | None = None
        self._dive_columns: DiveColumns | None = None

    # -- the HiGHS instances ------------------------------------------------------------------
    @property
    def relaxation(self) -> LiveRelaxation:
        if self._relaxation is None:
            cost, offset = self.objectives[self.active]
            self._relaxation = LiveRelaxation(
                self.lp, cost, self.threads, RELAXATION_WITHOUT_ROWS, RELAXATION_FIXED_TO_ZERO
            )
            self._relaxation.set_cost(cost, offset)
            for cols, coefficients, upper in self.held:
                self._relaxation.add_row(cols, coefficients, upper)
        return self._relaxation

    @property
    def mip(self) -> highspy.Highs:
        """The MILP itself, for the few stages the relaxation and a dive do not settle."""
        if self._mip is None:
            cost, offset = self.objectives[self.active]
            self._mip = self.lp.to_highs(cost, self.threads)
            self._mip.changeObjectiveOffset(offset)
            for cols, coefficients, upper in self.held:
                self._mip.addRow(-highspy.kHighsInf, upper, cols.size, cols, coefficients)
        return self._mip

    def dive_columns(self) -> DiveColumns:
        if self._dive_columns is None:
            self._dive_columns = dive_columns(self)
        return self._dive_columns

    def retire_sessions(self, sessions: np.ndarray) -> None:
        """Fix the set-points of `sessions` (rows of the index) at 0: departed, or replaced by
        a changed copy appended to the model (see `optimizer.optimize`)."""
        pairs, blocks = self.pairs, self.lp.blocks
        retired = np.isin(pairs.session, sessions)
        binary_pairs = np.flatnonzero(pairs.binary)
        sp, bp = switching_pairs(self), bidirectional_pairs(self)
        sp_binary = sp[self.index.needs_binary[pairs.session[sp]]]
        for name, of_pairs in (
            ("x", retired),
            ("on", retired[binary_pairs]),
            ("x_one", retired[sp]),
            ("on_one", retired[sp_binary]),
            ("discharge", retired[bp]),
            ("discharging", retired[bp]),
        ):
            self.lp.fix_to_zero(blocks[name][of_pairs])
        self._dive_columns = None

    def continue_from(self, previous: MatrixModel) -> None:
        """Take over `previous`'s live relaxation (and its basis), patched to this model: the
        same site with sessions appended, departed or changed (see `optimizer.optimize`)."""
        live = previous._relaxation
        previous._relaxation = None
        if live is None:
            return
        live.patch_to(self.lp)
        self._relaxation = live
        live.set_cost(*self.objectives[self.active])
        self.speedups.add("model_reused")

    # -- the interface `optimizer.objective_order` drives --------------------------------
    def solve(self, time_limit_s: float, mip_gap: float, warm_start: bool = False) -> SolveResult:
        return solve_relaxation_first(self, time.perf_counter() + time_limit_s, mip_gap)

    def minimize(self, objective: tuple) -> None:
        self.active = objective
        cost, constant = self.objectives[objective]
        if self._relaxation is not None:
            self._relaxation.set_cost(cost, constant)
        if self._mip is not None:
            self._mip.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)
            self._mip.changeObjectiveOffset(constant)

    def objective_value(self, values: np.ndarray) -> float:
        cost, constant = self.objectives[self.active]
        return float(cost @ values + constant)

    def value(self, objective: tuple) -> float:
        cost, constant = self.objectives[objective]
        return float(cost @ self.values + constant)

    def hold(self, objective: tuple, value: float) -> float:
        """Keep `objective` at most `value` (the schedule in hand's own, which is exact: its
        defined quantities are tightened) from now on, with 1e-9 of slack for the LP's
        round-off; returns the bound."""
        cost, constant = self.objectives[objective]
        cols = np.flatnonzero(cost).astype(np.int32)
        upper = value + 1e-9 * (1.0 + abs(value))
        held = (cols, cost[cols], upper - constant)
        self.held.append(held)
        if self._relaxation is not None:
            self._relaxation.add_row(*held)
        if self._mip is not None:
            self._mip.addRow(-highspy.kHighsInf, held[2], cols.size, cols, held[1])
        return upper

    def rule_based_values(self) -> np.ndarray | None:
        """The rule-based schedule (`optimizer.fallback.water_fill`: batteries idle, no EV
        discharging, three phases) as a schedule of this MILP, for a start where a dive found
        none (the sides of SPEC §4 can leave every rounding of a dive infeasible); None where
        the model has no such sides (a dive always ends there)."""
        from smartcharge.optimizer.fallback import water_fill

        index = self.index
        if index.batteries is None and not index.bidirectional.any() and not index.switches.any():
            return None
        values = np.zeros(self.lp.n_cols)
        setpoint = water_fill(index)
        values[self.lp.blocks["x"]] = setpoint[self.pairs.session, self.pairs.slot]
        values[self.lp.blocks["pv_used_kw"]] = index.pv_kw
        values[self.lp.blocks["three_phase"]] = 1.0
        values[self.lp.blocks["battery_charging"]] = 1.0
        return tightened(self, values)

    def is_integral(self, values: np.ndarray) -> bool:
        """Whether every integer column of the MILP is integral in `values` (a family of
        binaries a dive does not round must not slip through as a schedule)."""
        integer = np.concatenate(self.lp.integer)
        if not integer.any():
            return True
        ints = values[integer]
        return bool(np.all(np.abs(ints - np.round(ints)) <= 1e-6))

    def keeps_holds(self, values: np.ndarray) -> bool:
        """Whether a schedule keeps what earlier stages held (a dive cut short may not)."""
        return all(
            coefficients @ values[cols] <= upper + 1e-7 * (1.0 + abs(upper))
            for cols, coefficients, upper in self.held
        )

    def is_feasible(self, values: np.ndarray) -> bool:
        """Whether a schedule keeps every row and bound of the MILP, within round-off (a dive
        rounded down is no longer feasible by construction once an EV or a battery may feed
        the site: less charging can then mean more export)."""
        return self.lp.is_feasible(values)

    def reset_stages(self) -> None:
        """Drop what the stages of a previous solve held; back to the weighted objective."""
        self.held = []
        if self._relaxation is not None:
            self._relaxation.clear_added_rows()
        self._mip = None
        self.minimize(("weighted",))

    @property
    def has_early_departures(self) -> bool:
        """Whether some session has energy due by an early departure (SPEC §6)."""
        return bool((self.index.early_kwh > 1e-9).any())

    def total_shortfall_kwh(self) -> float:
        return float(self.values[self.lp.blocks["unmet_kwh"]].sum())

    def setpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(S, T) set-points, negative where a session discharges, and the PV used."""
        return schedule_setpoints(self, self.values), self.values[self.lp.blocks["pv_used_kw"]]

    def dispatch(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The batteries' net power (B, T) and the phases used (S, T), where there are any."""
        return schedule_dispatch(self, self.values)

    def model_size(self) -> dict[str, int]:
        return {
            "variables": self.lp.n_cols,
            "binaries": int(sum(i.sum() for i in self.lp.integer)),
            "constraints": self.lp.n_rows() + len(self.held),
        }


def add_sessions(m: MatrixModel) -> None:
    """x = 0 or unit_min <= x <= unit_max."""
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


def add_energy(m: MatrixModel) -> None:
    """E[s] <= energy; unmet >= counts - E (E net of discharge, SPEC §4); ramps."""
    index, pairs, lp = m.index, m.pairs, m.lp
    s_of_k, x = pairs.session, lp.blocks["x"]
    rows, cols, kwh = session_energy_terms(m)
    n_sessions = index.n_sessions
    lp.add_rows("energy_cap", rows, cols, kwh, -np.inf, index.energy_kwh, n_sessions)
    unmet = lp.add_vars("unmet_kwh", np.zeros(n_sessions), np.full(n_sessions, np.inf))
    sessions = np.arange(n_sessions)
    lp.add_rows(
        "unmet_definition",
        np.concatenate([sessions, rows]),
        np.concatenate([unmet, cols]),
        np.concatenate([np.ones(n_sessions), kwh]),
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
    row_parts = [r, r, r[has_previous]]
    col_parts = [ramp, x[ramped], x[previous[has_previous]]]
    value_parts = [np.ones(ramped.size), -kw_per_unit, kw_per_unit[has_previous]]
    # A switching session's power on one phase counts in its ramps too.
    sp = switching_pairs(m)
    in_sp = np.full(pairs.session.size, -1)
    in_sp[sp] = np.arange(sp.size)
    one_kw = float(kw_per_a(index.voltage_v, 1))
    now = in_sp[ramped] >= 0
    before = has_previous & (in_sp[np.maximum(previous, 0)] >= 0)
    x_one = lp.blocks["x_one"]
    row_parts += [r[now], r[before]]
    col_parts += [x_one[in_sp[ramped[now]]], x_one[in_sp[previous[before]]]]
    value_parts += [np.full(now.sum(), -one_kw), np.full(before.sum(), one_kw)]
    lp.add_rows(
        "ramp_up_definition",
        np.concatenate(row_parts),
        np.concatenate(col_parts),
        np.concatenate(value_parts),
        0.0,
        np.inf,
        ramped.size,
    )


def add_early_departures(m: MatrixModel) -> None:
    """early_unmet[s] >= early_kwh[s] - sum of p[k] dt over s's slots before its early
    departure: the energy that should be in the car if the driver leaves early (SPEC §6), net
    of what a V2G session discharged before then (SPEC §4, `session_energy_terms`).

    One column and one row per session, like `unmet_kwh`, so that a re-plan's model keeps
    them where they were (`optimizer.live_relaxation` matches columns by position and rows by
    session): a session without an early part (or retired, its energy 0) has its column fixed
    at 0 and its row left out as redundant.
    """
    index, lp = m.index, m.lp
    n_sessions = index.n_sessions
    due_kwh = np.where(index.early_kwh > 1e-9, index.early_kwh, 0.0)
    unmet = lp.add_vars("early_unmet_kwh", np.zeros(n_sessions), _early_unmet_upper_kwh(index))
    rows, cols, kwh = _early_energy_terms(m)
    sessions = np.arange(n_sessions)
    lp.add_rows(
        "early_unmet_definition",
        np.concatenate([sessions, rows]),
        np.concatenate([unmet, cols]),
        np.concatenate([np.ones(n_sessions), kwh]),
        due_kwh,
        np.inf,
        n_sessions,
    )


def _early_unmet_upper_kwh(index: ProblemIndex) -> np.ndarray:
    """(S,) the most energy an early departure can miss: all that is due, and what a V2G
    session may have discharged before it (its net energy then is below 0)."""
    due_kwh = np.where(index.early_kwh > 1e-9, index.early_kwh, 0.0)
    if index.discharge_max_kwh is None:
        return due_kwh
    return np.where(due_kwh > 0, due_kwh + index.discharge_max_kwh, 0.0)


def _early_energy_terms(m: MatrixModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session, column, kWh per unit) of the set-point columns in each session's slots
    before its early departure."""
    pairs = m.pairs
    due = np.flatnonzero(pairs.slot < m.index.early_slot[pairs.session])
    rows, cols, kwh = session_energy_terms(m, due)
    return pairs.session[due[rows]], cols, kwh


def add_grid(m: MatrixModel) -> None:
    """import - export + pv_used - site power = base; limits as bounds; peak >= import.

    Site power adds up every column that draws on the site (`site_power_terms`): charging,
    discharge (negative) and batteries."""
    index, lp = m.index, m.lp
    base, pv, slots = index.base_load_kw, index.pv_kw, index.slots
    import_limit, export_limit = index.import_limit_kw, index.export_limit_kw
    pv_used = lp.add_vars("pv_used_kw", np.zeros(slots), pv)
    grid_import = lp.add_vars("grid_import_kw", np.zeros(slots), import_limit)
    grid_export = lp.add_vars("grid_export_kw", np.zeros(slots), export_limit)
    t = np.arange(slots)
    terms = m.power_terms
    lp.add_rows(
        "grid_balance",
        np.concatenate([t, t, t, terms.slot]),
        np.concatenate([grid_import, grid_export, pv_used, terms.col]),
        np.concatenate([np.ones(slots), -np.ones(slots), np.ones(slots), -terms.kw]),
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
    """lower <= sum I[phi] + (base - pv_used) * 1000/(3V) <= upper, each phase, limited slot."""
    index, lp = m.index, m.lp
    limited = np.flatnonzero(np.isfinite(index.grid_phase_limit_a))
    if limited.size == 0:
        return
    n = limited.size
    row_of_slot = np.full(index.slots, -1)
    row_of_slot[limited] = np.arange(n)
    amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
    pv_used = lp.blocks["pv_used_kw"]
    terms = m.power_terms
    rows, cols, values = [], [], []
    for phi in range(3):
        coefficient = terms.phase_a[:, phi]
        on_phase = (coefficient != 0) & (row_of_slot[terms.slot] >= 0)
        rows += [phi * n + row_of_slot[terms.slot[on_phase]], phi * n + np.arange(n)]
        cols += [terms.col[on_phase], pv_used[limited]]
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
    """Per circuit and slot: |site power below it| <= limit_kw; per phase |I| <= phase_limit_a
    (in either direction: an EV or a battery below may feed it)."""
    index, lp = m.index, m.lp
    circuits, slots = index.circuits, index.slots
    n_circuits = len(circuits.ids)
    if n_circuits == 0:
        return
    terms = m.power_terms
    circuit_of, term_of = np.nonzero(terms.below)
    limited = np.isfinite(circuits.limit_kw[circuit_of])
    limit = np.repeat(circuits.limit_kw, slots)
    lp.add_rows(
        "circuit_power_limit",
        circuit_of[limited] * slots + terms.slot[term_of[limited]],
        terms.col[term_of[limited]],
        terms.kw[term_of[limited]],
        -limit,
        limit,
        n_circuits * slots,
    )
    rows, cols, values = [], [], []
    for phi in range(3):
        coefficient = terms.phase_a[term_of, phi]
        use = (coefficient != 0) & np.isfinite(circuits.phase_limit_a[circuit_of])
        rows.append((circuit_of[use] * 3 + phi) * slots + terms.slot[term_of[use]])
        cols.append(terms.col[term_of[use]])
        values.append(coefficient[use])
    phase_limit = np.repeat(circuits.phase_limit_a, 3 * slots)
    lp.add_rows(
        "circuit_phase_limit",
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(values),
        -phase_limit,
        phase_limit,
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
    if index.batteries is not None:
        cost[blocks["battery_discharge_kw"]] = dt * np.repeat(
            index.batteries.cycle_cost_per_kwh, index.slots
        )
    tie = np.zeros(n)
    position = pairs.slot / max(index.slots - 1, 1)
    per_kwh_slot = weights.earlier_delivery_per_kwh_slot * index.slots
    tie[blocks["x"]] = per_kwh_slot * position * index.kw_per_unit[pairs.session] * dt
    sp, bp = switching_pairs(m), bidirectional_pairs(m)
    tie[blocks["x_one"]] = per_kwh_slot * position[sp] * float(kw_per_a(index.voltage_v, 1)) * dt
    tie[blocks["ramp_up_kw"]] = weights.setpoint_change_per_kw
    # Energy moved back and forth at no cost (equal prices, a lossless battery) is not moved.
    tie[blocks["discharge"]] = per_kwh_slot * index.kw_per_unit[pairs.session[bp]] * dt
    tie[blocks["battery_discharge_kw"]] = per_kwh_slot * dt
    tie[blocks["phase_switch"]] = per_kwh_slot
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


def tightened(m: MatrixModel, values: np.ndarray) -> np.ndarray:
    """A schedule's columns completed from its set-points, every defined quantity exact.

    A solve leaves quantities its objective does not price anywhere their rows allow (the
    lower tier's unmet energy while the higher tier's shortfall is minimised, say), and a
    dive cut short leaves set-points whose flows no longer balance. From the set-points, the
    batteries' charge and discharge and the solver's PV use (as a hint), the grid flows follow
    as the answer reports them (`optimizer.flows.site_flows`); unmet energy, the energy not in
    by an early departure, the largest unmet fractions, ramps, the peak, the batteries'
    states, the EVs' energy to date, the phase switches and the binaries follow as the least
    their rows allow. A stage then reads the schedule's true value of any objective, and the
    schedule keeps every row.
    """
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    values = values.copy()
    _tighten_sides(m, values)
    setpoint = schedule_setpoints(m, values)
    battery_kw, phases = schedule_dispatch(m, values)
    # Slots whose flows no longer balance the set-points get the flows the answer would report.
    grid_import = values[blocks["grid_import_kw"]]
    grid_export = values[blocks["grid_export_kw"]]
    pv_used = values[blocks["pv_used_kw"]]
    site_kw = np.bincount(
        m.power_terms.slot, m.power_terms.kw * values[m.power_terms.col], minlength=index.slots
    )
    residual = grid_import - grid_export + pv_used - site_kw - index.base_load_kw
    broken = np.abs(residual) > 1e-6
    if broken.any():
        flows = site_flows(index, setpoint, pv_used, battery_kw, phases)
        values[blocks["pv_used_kw"]] = np.where(broken, flows.pv_used_kw, pv_used)
        values[blocks["grid_import_kw"]] = np.where(broken, flows.import_kw, grid_import)
        values[blocks["grid_export_kw"]] = np.where(broken, flows.export_kw, grid_export)
        inverted = np.flatnonzero(index.export_price > index.import_price)
        importing = values[blocks["importing"]]
        importing = np.where(flows.import_kw[inverted] > 1e-9, 1.0, importing)
        values[blocks["importing"]] = np.where(flows.export_kw[inverted] > 1e-9, 0.0, importing)
    rows, cols, kwh = session_energy_terms(m)
    delivered = np.bincount(rows, weights=kwh * values[cols], minlength=index.n_sessions)
    unmet = np.maximum(index.energy_counts_kwh - delivered, 0.0)
    values[blocks["unmet_kwh"]] = unmet
    rows, cols, kwh = _early_energy_terms(m)
    early_kwh = np.bincount(rows, weights=kwh * values[cols], minlength=index.n_sessions)
    values[blocks["early_unmet_kwh"]] = np.maximum(
        np.where(index.early_kwh > 1e-9, index.early_kwh, 0.0) - early_kwh, 0.0
    )
    counts = index.energy_counts_kwh
    fraction = np.where(counts > 1e-9, unmet / np.maximum(counts, 1e-9), 0.0)
    for r, tier in enumerate(m.tiers):
        in_tier = index.priority == tier
        values[blocks["tier_max_unmet_fraction"][r]] = fraction[in_tier].max(initial=0.0)
    ramped = pairs.ramped
    previous = pairs.previous[ramped]
    power = np.zeros(pairs.session.size)
    x = values[blocks["x"]]
    power += index.kw_per_unit[pairs.session] * x
    sp = switching_pairs(m)
    power[sp] += float(kw_per_a(index.voltage_v, 1)) * values[blocks["x_one"]]
    before = np.where(previous >= 0, power[np.maximum(previous, 0)], 0.0)
    values[blocks["ramp_up_kw"]] = np.maximum(power[ramped] - before, 0.0)
    values[blocks["peak_import_kw"]] = index.demand.peak_kw(values[blocks["grid_import_kw"]])
    binary_pairs = np.flatnonzero(pairs.binary)
    values[blocks["on"]] = (x[binary_pairs] > 1e-9).astype(float)
    sp_binary = index.needs_binary[pairs.session[sp]]
    values[blocks["on_one"]] = (values[blocks["x_one"]][sp_binary] > 1e-9).astype(float)
    bp = bidirectional_pairs(m)
    if bp.size:
        r, c, k = session_energy_terms(m, bp)
        net = np.bincount(r, weights=k * values[c], minlength=bp.size)
        values[blocks["net_energy_kwh"]] = _cumsum_by_session(net, pairs.session[bp])
    if index.batteries is not None:
        soc = index.batteries.soc_kwh(battery_kw, index.step_h)
        values[blocks["battery_soc_kwh"]] = soc.ravel()
    return values


def _tighten_sides(m: MatrixModel, values: np.ndarray) -> None:
    """The side binaries as the set-points decide them (in place): discharging where an EV
    discharges, charging unless a battery discharges, three phases where a switching session
    charges on three and one where on one; a switching session idle in a slot keeps the
    setting it had last (else the one it takes next), which switches least."""
    pairs, blocks = m.pairs, m.lp.blocks
    values[blocks["discharging"]] = (values[blocks["discharge"]] > 1e-9).astype(float)
    values[blocks["battery_charging"]] = (values[blocks["battery_discharge_kw"]] <= 1e-9).astype(
        float
    )
    sp = switching_pairs(m)
    if sp.size == 0:
        return
    three = values[blocks["x"]][sp] > 1e-9
    one = values[blocks["x_one"]] > 1e-9
    bp = bidirectional_pairs(m)
    discharging = np.zeros(pairs.session.size, dtype=bool)
    discharging[bp] = values[blocks["discharge"]] > 1e-9
    three |= discharging[sp]
    decided = np.where(three, 3.0, np.where(one, 1.0, np.nan))
    mode = _carried(decided, pairs.session[sp], fallback=3.0)
    values[blocks["three_phase"]] = (mode == 3.0).astype(float)
    previous = same_session_previous(pairs.session[sp])
    has = previous >= 0
    values[blocks["phase_switch"]] = np.abs(
        values[blocks["three_phase"]][has] - values[blocks["three_phase"]][previous[has]]
    )


def _carried(decided: np.ndarray, sessions: np.ndarray, fallback: float) -> np.ndarray:
    """Entries sorted by session, nan where undecided: each nan takes the session's last
    decided value before it, else its first after it, else `fallback`."""
    result = decided.copy()
    for s in np.unique(sessions):
        mine = np.flatnonzero(sessions == s)
        known = np.flatnonzero(~np.isnan(decided[mine]))
        if known.size == 0:
            result[mine] = fallback
            continue
        last = np.maximum.accumulate(np.where(~np.isnan(decided[mine]), np.arange(mine.size), -1))
        filled = np.where(last >= 0, decided[mine][np.maximum(last, 0)], decided[mine][known[0]])
        result[mine] = filled
    return result


def _cumsum_by_session(values: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """Running sums restarting at each session (entries sorted by session)."""
    total = np.cumsum(values)
    first = np.ones(sessions.size, dtype=bool)
    first[1:] = sessions[1:] != sessions[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(sessions.size), 0))
    return total - (total - values)[start]


def schedule_setpoints(m: MatrixModel, values: np.ndarray) -> np.ndarray:
    """(S, T) signed set-points of a schedule: charge on three or one phase minus discharge."""
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    per_pair = values[blocks["x"]].copy()
    sp, bp = switching_pairs(m), bidirectional_pairs(m)
    per_pair[sp] += values[blocks["x_one"]]
    per_pair[bp] -= values[blocks["discharge"]]
    setpoint = np.zeros(index.plugged.shape)
    setpoint[pairs.session, pairs.slot] = per_pair
    return setpoint


def schedule_dispatch(
    m: MatrixModel, values: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(batteries' net power (B, T) or None, phases used (S, T) or None) of a schedule."""
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    battery_kw = None
    if index.batteries is not None:
        shape = (index.n_batteries, index.slots)
        battery_kw = values[blocks["battery_charge_kw"]].reshape(shape) - values[
            blocks["battery_discharge_kw"]
        ].reshape(shape)
    sp = switching_pairs(m)
    if sp.size == 0:
        return battery_kw, None
    phases = index.nominal_phases()
    one = (values[blocks["x_one"]] > 1e-9) | (
        (values[blocks["x"]][sp] <= 1e-9) & (values[blocks["three_phase"]] < 0.5)
    )
    phases[pairs.session[sp], pairs.slot[sp]] = np.where(one, 1, 3)
    return battery_kw, fill_idle_phases(index, phases)


def fill_idle_phases(index: ProblemIndex, phases: np.ndarray) -> np.ndarray:
    """Phases of switching sessions in the slots they cannot charge (outside their window, or
    blocked): the setting before, else the one after; other sessions keep theirs."""
    switches = np.flatnonzero(index.switches)
    if switches.size == 0:
        return phases
    phases = phases.copy()
    for s in switches:
        decided = np.where(index.plugged[s], phases[s].astype(float), np.nan)
        phases[s] = _carried(decided, np.zeros(index.slots, dtype=int), fallback=3.0)
    return phases


def dive_columns(m: MatrixModel) -> DiveColumns:
    """What a dive rounds: the set-points the MILP's semi-continuous rows concern (read from
    those rows, so a model built without them is not made semi-continuous by the dive), on
    three phases and on one, and the binaries that choose a side (`DIRECTION_BLOCKS`)."""
    blocks, pairs = m.lp.blocks, m.pairs
    _, upper = m.lp.column_bounds()
    inverted = np.flatnonzero(m.index.export_price > m.index.import_price)
    sp, bp = switching_pairs(m), bidirectional_pairs(m)
    sides = {  # per direction block: (columns whose flow means 1, whose flow means 0)
        "importing": (blocks["grid_import_kw"][inverted], blocks["grid_export_kw"][inverted]),
        "battery_charging": (blocks["battery_charge_kw"], blocks["battery_discharge_kw"]),
        "discharging": (blocks["discharge"], blocks["x"][bp]),
        "three_phase": (blocks["x"][sp], blocks["x_one"]),
    }
    parts = [
        _semi_continuous(m, "semi_continuous_floor", blocks["x"], np.arange(pairs.session.size)),
        _semi_continuous(m, "one_phase_floor", blocks["x_one"], switching_pairs(m)),
    ]
    setpoint = np.concatenate([p[0] for p in parts]).astype(np.int32)
    pair = np.concatenate([p[2] for p in parts]).astype(int)
    return DiveColumns(
        setpoint=setpoint,
        floor=np.concatenate([p[1] for p in parts]),
        upper=upper[setpoint],
        direction=np.concatenate([blocks[name] for name in DIRECTION_BLOCKS]).astype(np.int32),
        slot=pairs.slot[pair],
        session=pairs.session[pair],
        on=np.concatenate([p[3] for p in parts]).astype(np.int32),
        side_one=np.concatenate([sides[name][0] for name in DIRECTION_BLOCKS]).astype(np.int32),
        side_zero=np.concatenate([sides[name][1] for name in DIRECTION_BLOCKS]).astype(np.int32),
        side_one_needs_zero=np.concatenate(
            [
                blocks["unmet_kwh"][pairs.session[bp]]
                if name == "discharging"
                else np.full(sides[name][0].size, -1)
                for name in DIRECTION_BLOCKS
            ]
        ).astype(int),
        side_one_floor=np.concatenate(
            [
                m.index.unit_min[pairs.session[bp]]
                if name == "discharging"
                else np.zeros(sides[name][0].size)
                for name in DIRECTION_BLOCKS
            ]
        ),
    )


def _semi_continuous(
    m: MatrixModel, floor_block: str, cols: np.ndarray, pair_of_col: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(set-point column, floor, pair, on column) of each row of a semi-continuous floor
    block `x - floor * on >= 0`."""
    blocks = [b for b in m.lp.row_blocks if b.name == floor_block]
    if not blocks or cols.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty, empty
    block = blocks[0]
    is_x = (block.cols >= cols[0]) & (block.cols <= cols[-1])
    n = block.lower.size
    setpoint, on, floor = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
    setpoint[block.rows[is_x]] = block.cols[is_x]
    on[block.rows[~is_x]] = block.cols[~is_x]
    floor[block.rows[~is_x]] = -block.values[~is_x]
    return setpoint, floor, pair_of_col[setpoint - cols[0]], on
