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
from smartcharge.optimizer.pairs import PairIndex
from smartcharge.optimizer.relaxation_first import solve_relaxation_first
from smartcharge.optimizer.solve import SolveResult
from smartcharge.optimizer.sparse_lp import SparseLP
from smartcharge.optimizer.units import phase_current_of_balanced_kw
from smartcharge.optimizer.weights import energy_weights

# The LP relaxation leaves out the on columns (fixed at 0, so that columns keep their numbers)
# and their rows: with on in [0, 1], unit_min * on <= x <= unit_max * on projects onto
# 0 <= x <= unit_max, which x's bounds already say. It is half the size and its solves are
# several times faster than with them (warm re-solves skip presolve, which would remove them).
RELAXATION_WITHOUT_ROWS = frozenset({"semi_continuous_floor", "semi_continuous_ceiling"})
RELAXATION_FIXED_TO_ZERO = frozenset({"on"})


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
        pairs = self.pairs
        retired = np.isin(pairs.session, sessions)
        binary_pairs = np.flatnonzero(pairs.binary)
        self.lp.fix_to_zero(self.lp.blocks["x"][retired])
        self.lp.fix_to_zero(self.lp.blocks["on"][retired[binary_pairs]])
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

    def reset_stages(self) -> None:
        """Drop what the stages of a previous solve held; back to the weighted objective."""
        self.held = []
        if self._relaxation is not None:
            self._relaxation.clear_added_rows()
        self._mip = None
        self.minimize(("weighted",))

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
            "constraints": self.lp.n_rows() + len(self.held),
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
    objectives[("weighted",)] = (weighted, cost_constant)
    return objectives


def tightened(m: MatrixModel, values: np.ndarray) -> np.ndarray:
    """A schedule's columns completed from its set-points, every defined quantity exact.

    A solve leaves quantities its objective does not price anywhere their rows allow (the
    lower tier's unmet energy while the higher tier's shortfall is minimised, say), and a
    dive cut short leaves set-points whose flows no longer balance. From the set-points and the
    solver's PV use (as a hint), the grid flows follow as the answer reports them
    (`optimizer.flows.site_flows`); unmet energy, the largest unmet fractions, ramps, the peak
    and the binaries follow as the least their rows allow. A stage then reads the schedule's
    true value of any objective, and the schedule keeps every row.
    """
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    values = values.copy()
    x = values[blocks["x"]]
    setpoint = np.zeros(index.plugged.shape)
    setpoint[pairs.session, pairs.slot] = x
    # Slots whose flows no longer balance the set-points get the flows the answer would report.
    grid_import = values[blocks["grid_import_kw"]]
    grid_export = values[blocks["grid_export_kw"]]
    pv_used = values[blocks["pv_used_kw"]]
    charging_kw = (setpoint * index.kw_per_unit[:, None]).sum(axis=0)
    residual = grid_import - grid_export + pv_used - charging_kw - index.base_load_kw
    broken = np.abs(residual) > 1e-6
    if broken.any():
        flows = site_flows(index, setpoint, pv_used)
        values[blocks["pv_used_kw"]] = np.where(broken, flows.pv_used_kw, pv_used)
        values[blocks["grid_import_kw"]] = np.where(broken, flows.import_kw, grid_import)
        values[blocks["grid_export_kw"]] = np.where(broken, flows.export_kw, grid_export)
        inverted = np.flatnonzero(index.export_price > index.import_price)
        importing = values[blocks["importing"]]
        importing = np.where(flows.import_kw[inverted] > 1e-9, 1.0, importing)
        values[blocks["importing"]] = np.where(flows.export_kw[inverted] > 1e-9, 0.0, importing)
    kwh = x * index.kw_per_unit[pairs.session] * index.step_h
    delivered = np.bincount(pairs.session, weights=kwh, minlength=index.n_sessions)
    unmet = np.maximum(index.energy_counts_kwh - delivered, 0.0)
    values[blocks["unmet_kwh"]] = unmet
    counts = index.energy_counts_kwh
    fraction = np.where(counts > 1e-9, unmet / np.maximum(counts, 1e-9), 0.0)
    for r, tier in enumerate(m.tiers):
        in_tier = index.priority == tier
        values[blocks["tier_max_unmet_fraction"][r]] = fraction[in_tier].max(initial=0.0)
    ramped = pairs.ramped
    previous = pairs.previous[ramped]
    before = np.where(previous >= 0, x[np.maximum(previous, 0)], 0.0)
    ramp = index.kw_per_unit[pairs.session[ramped]] * (x[ramped] - before)
    values[blocks["ramp_up_kw"]] = np.maximum(ramp, 0.0)
    values[blocks["peak_import_kw"]] = index.demand.peak_kw(values[blocks["grid_import_kw"]])
    binary_pairs = np.flatnonzero(pairs.binary)
    values[blocks["on"]] = (x[binary_pairs] > 1e-9).astype(float)
    return values


def dive_columns(m: MatrixModel) -> DiveColumns:
    """What a dive rounds: the set-points the MILP's semi-continuous rows concern (read from
    those rows, so a model built without them is not made semi-continuous by the dive) and
    the binaries that choose a slot's direction."""
    blocks = m.lp.blocks
    x_cols = blocks["x"]
    floor_rows = [b for b in m.lp.row_blocks if b.name == "semi_continuous_floor"]
    setpoint = np.zeros(0, dtype=np.int64)
    floor = np.zeros(0)
    if floor_rows:
        block = floor_rows[0]
        is_x = (block.cols >= x_cols[0]) & (block.cols <= x_cols[-1]) if x_cols.size else None
        on_entries = ~is_x if is_x is not None else np.ones(block.cols.size, dtype=bool)
        setpoint = np.empty(block.lower.size, dtype=np.int64)
        floor = np.empty(block.lower.size)
        setpoint[block.rows[~on_entries]] = block.cols[~on_entries]
        floor[block.rows[on_entries]] = -block.values[on_entries]
    _, upper = m.lp.column_bounds()
    return DiveColumns(
        setpoint=setpoint.astype(np.int32),
        floor=floor,
        upper=upper[setpoint],
        direction=blocks["importing"].astype(np.int32),
        slot=m.pairs.slot[setpoint - x_cols[0]] if setpoint.size else np.zeros(0, dtype=int),
        session=m.pairs.session[setpoint - x_cols[0]] if setpoint.size else np.zeros(0, int),
    )
