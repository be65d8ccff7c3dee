"""The MILP of SPEC §1 in Pyomo: `build_model(index)` and its constraint families.

Notation: s a session, t a slot, k a (session, slot) pair where the session is plugged in (the
only pairs with variables), phi a grid phase, c a circuit, dt the slot length [h].
`x[k]` is the set-point: per-phase current [A] on AC, power [kW] on DC, so that

    charging power [kW]   p[k]       = kw_per_unit[s] * x[k]
    grid-phase current [A] I[phi, k] = phase_a_per_unit[s, phi] * x[k]

`build_model` calls, in this order: `add_sessions` (semi-continuous set-points), the SPEC §4
families of `optimizer.model_storage` (`add_phase_switching`, `add_discharge`), `add_energy`
(energy, unmet, ramps), `add_discharge_only_when_served`, `add_batteries`, `add_grid`
(balance, import/export limits, PV curtailment, peak), `add_phase_limits` (grid phases),
`add_circuits` (circuit tree), `add_objective` (the strict order of SPEC §1). Where a problem
has no §4 parts their sets are empty and every expression is the one of SPEC §1.

The objective order is realised in two steps (see `optimizer.solve_stages`): one solve of a
weighted objective, in which a kWh of unmet energy costs more than any price, demand charge
and tie-break a kWh can save (`EnergyWeights`); when that solve leaves any energy unmet, the
order is then enforced lexicographically, tier by tier (total shortfall, then the largest unmet
fraction), each stage fixing what the stage before achieved, before cost and tie-breaks are
minimised with energy held. So the weights are a fast path, and correctness never rests on them.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.model_storage import (
    add_batteries,
    add_discharge,
    add_discharge_only_when_served,
    add_phase_switching,
    battery_kw,
    battery_phase_a,
    session_kw,
    session_phase_a,
)
from smartcharge.optimizer.pairs import PairIndex
from smartcharge.optimizer.units import kw_per_a, phase_current_of_balanced_kw
from smartcharge.optimizer.weights import EnergyWeights, energy_weights


def build_model(index: ProblemIndex) -> pyo.ConcreteModel:
    """The MILP of one planning problem, every constraint family added in a fixed order."""
    model = pyo.ConcreteModel(name=f"smartcharge:{index.problem.site.id}")
    model.index_data = index
    model.pairs = PairIndex.of(index)
    model.weights = energy_weights(index)
    add_sessions(model, index)
    add_phase_switching(model, index)
    add_discharge(model, index)
    add_energy(model, index)
    add_early_departures(model, index)
    add_discharge_only_when_served(model, index)
    add_batteries(model, index)
    add_grid(model, index)
    add_phase_limits(model, index)
    add_circuits(model, index)
    add_objective(model, index)
    return model


def add_sessions(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """Set-points, semi-continuous: x[k] = 0 or unit_min[s] <= x[k] <= unit_max[s] (IEC 61851).

    Delivered energy E[s] = sum_k p[k] dt <= energy_kwh[s] (no session gets more than it wants);
    unmet[s] >= counts[s] - E[s], counts being the energy that counts (SPEC §1, Energy).
    """
    pairs = model.pairs
    unit_max, unit_min = index.unit_max, index.unit_min
    model.K = pyo.RangeSet(0, pairs.session.size - 1, doc="plugged-in (session, slot) pairs")
    model.S = pyo.RangeSet(0, index.n_sessions - 1, doc="sessions")
    model.T = pyo.RangeSet(0, index.slots - 1, doc="slots")
    model.KB = pyo.Set(
        initialize=np.flatnonzero(pairs.binary).tolist(), doc="pairs with a minimum set-point"
    )
    model.x = pyo.Var(
        model.K,
        bounds=lambda m, k: (0.0, float(unit_max[pairs.session[k]])),
        doc="set-point: A per phase (AC) or kW (DC)",
    )
    model.on = pyo.Var(model.KB, domain=pyo.Binary, doc="1 when the session charges in the slot")
    model.semi_continuous_floor = pyo.Constraint(
        model.KB,
        rule=lambda m, k: m.x[k] >= float(unit_min[pairs.session[k]]) * m.on[k],
        doc="x >= unit_min * on",
    )
    model.semi_continuous_ceiling = pyo.Constraint(
        model.KB,
        rule=lambda m, k: m.x[k] <= float(unit_max[pairs.session[k]]) * m.on[k],
        doc="x <= unit_max * on",
    )


def add_energy(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """Delivered energy E[s] = sum_k p[k] dt <= energy_kwh[s] (net of discharge, SPEC §4);
    unmet[s] >= counts[s] - E[s]; ramp[k] >= p[k] - p[k-1] in the change window."""
    pairs = model.pairs
    kw_per_unit = index.kw_per_unit
    pairs_of_session = pairs.of_session(index.n_sessions)
    model.delivered_kwh = pyo.Expression(
        model.S,
        rule=lambda m, s: sum(session_kw(m, index, k) * index.step_h for k in pairs_of_session[s]),
        doc="energy delivered in the horizon [kWh]",
    )
    model.energy_cap = pyo.Constraint(
        model.S,
        rule=lambda m, s: (
            m.delivered_kwh[s] <= float(index.energy_kwh[s])
            if len(pairs_of_session[s])
            else pyo.Constraint.Skip
        ),
        doc="E[s] <= energy_kwh[s]",
    )
    model.unmet_kwh = pyo.Var(model.S, bounds=(0.0, None), doc="energy that counts, not met")
    model.unmet_definition = pyo.Constraint(
        model.S,
        rule=lambda m, s: m.unmet_kwh[s] >= float(index.energy_counts_kwh[s]) - m.delivered_kwh[s],
        doc="unmet[s] >= counts[s] - E[s]",
    )
    model.KR = pyo.Set(initialize=pairs.ramped.tolist(), doc="pairs in the change window")
    model.ramp_up_kw = pyo.Var(model.KR, bounds=(0.0, None), doc="increase of power since t-1")
    one_kw = float(kw_per_a(index.voltage_v, 1))

    def charge_kw(m, k):
        """Charging power of a pair (discharge is not a ramp up)."""
        power = float(kw_per_unit[pairs.session[k]]) * m.x[k]
        return power + one_kw * m.x_one[k] if k in m.KS else power

    model.ramp_up_definition = pyo.Constraint(
        model.KR,
        rule=lambda m, k: (
            m.ramp_up_kw[k]
            >= charge_kw(m, k)
            - (charge_kw(m, int(pairs.previous[k])) if pairs.previous[k] >= 0 else 0.0)
        ),
        doc="ramp[k] >= p[k] - p[k-1]",
    )


def add_early_departures(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """early_unmet[s] >= early_kwh[s] - sum of p[k] dt over the pairs before s's early departure.

    A session whose departure is estimated may leave at its early quantile (SPEC §6): the
    energy that fits by then is wanted by then (net of what a V2G session discharged before
    it, SPEC §4). The shortfall is minimised after energy and
    before cost (`optimizer.objective_order`), so no session's energy is given up for it.
    """
    pairs = model.pairs
    early = np.flatnonzero(index.early_kwh > 1e-9)
    model.SE = pyo.Set(initialize=early.tolist(), doc="sessions with an early departure")
    model.early_unmet_kwh = pyo.Var(model.SE, bounds=(0.0, None), doc="early energy not met")
    pairs_of_session = pairs.of_session(index.n_sessions)
    model.early_unmet_definition = pyo.Constraint(
        model.SE,
        rule=lambda m, s: (
            m.early_unmet_kwh[s]
            >= float(index.early_kwh[s])
            - sum(
                session_kw(m, index, k) * index.step_h
                for k in pairs_of_session[s]
                if pairs.slot[k] < index.early_slot[s]
            )
        ),
        doc="early_unmet[s] >= early_kwh[s] - E[s, before early departure]",
    )


def add_grid(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """Import - export = base load + charging - PV used; each within its limit; PV curtailable.

    In a slot where base load minus PV alone breaks the import limit, the limit is raised to
    what cannot be avoided (charging is already 0 there, see `optimizer.index`), so the engine
    never fails for what it cannot control. Import and export are never both positive: wherever
    exporting pays more than importing costs, a binary chooses the direction of the slot.
    """
    pairs = model.pairs
    base, pv = index.base_load_kw, index.pv_kw
    import_limit, export_limit = index.import_limit_kw, index.export_limit_kw
    model.charging_kw = pyo.Expression(
        model.T,
        rule=lambda m, t: (
            sum(session_kw(m, index, k) for k in pairs.by_slot[t]) + battery_kw(m, index, t)
        ),
        doc="total power the sessions (net of discharge) and the batteries draw [kW]",
    )
    model.pv_used_kw = pyo.Var(model.T, bounds=lambda m, t: (0.0, float(pv[t])), doc="PV used")
    model.grid_import_kw = pyo.Var(model.T, bounds=lambda m, t: (0.0, float(import_limit[t])))
    model.grid_export_kw = pyo.Var(model.T, bounds=lambda m, t: (0.0, float(export_limit[t])))
    model.grid_balance = pyo.Constraint(
        model.T,
        rule=lambda m, t: (
            m.grid_import_kw[t] - m.grid_export_kw[t]
            == float(base[t]) + m.charging_kw[t] - m.pv_used_kw[t]
        ),
        doc="import - export = base + charging - pv_used",
    )
    inverted = np.flatnonzero(index.export_price > index.import_price)
    model.T_inverted = pyo.Set(initialize=inverted.tolist(), doc="slots where export pays more")
    model.importing = pyo.Var(model.T_inverted, domain=pyo.Binary)
    model.import_only_when_importing = pyo.Constraint(
        model.T_inverted,
        rule=lambda m, t: m.grid_import_kw[t] <= float(import_limit[t]) * m.importing[t],
    )
    model.export_only_when_exporting = pyo.Constraint(
        model.T_inverted,
        rule=lambda m, t: m.grid_export_kw[t] <= float(export_limit[t]) * (1 - m.importing[t]),
    )
    demand = index.demand
    model.P = pyo.RangeSet(0, demand.count - 1, doc="billing periods of the demand charge")
    model.peak_import_kw = pyo.Var(
        model.P,
        bounds=lambda m, p: (float(demand.peak_so_far_kw[p]), None),
        doc="the billing period's peak, at least the peak already paid in it",
    )
    model.peak_above_import = pyo.Constraint(
        model.T,
        rule=lambda m, t: m.peak_import_kw[int(demand.of_slot[t])] >= m.grid_import_kw[t],
        doc="peak[period of t] >= import[t]",
    )


def add_phase_limits(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """-L <= sum_k I[phi, k] + (base - pv_used) * 1000 / (3 V) <= L for every grid phase and slot.

    Base load and the PV used are spread evenly over three phases (SPEC §1, Phases). Where the
    base load alone breaks a phase limit, the bounds are widened to what cannot be avoided
    (`optimizer.index`).
    """
    limited = np.isfinite(index.grid_phase_limit_a)
    if not limited.any():
        return
    pairs = model.pairs
    amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
    model.PHASES = pyo.RangeSet(0, 2, doc="grid phases L1, L2, L3")

    def phase_current_a(m, phi, t):
        charging_a = sum(session_phase_a(m, index, phi, k) for k in pairs.by_slot[t])
        return (
            charging_a
            + battery_phase_a(m, index, t)
            + amps_per_kw * (float(index.base_load_kw[t]) - m.pv_used_kw[t])
        )

    model.grid_phase_current_a = pyo.Expression(model.PHASES, model.T, rule=phase_current_a)
    model.grid_phase_limit = pyo.Constraint(
        model.PHASES,
        model.T,
        rule=lambda m, phi, t: (
            (
                float(index.phase_lower_a[t]),
                m.grid_phase_current_a[phi, t],
                float(index.phase_upper_a[t]),
            )
            if limited[t]
            else pyo.Constraint.Skip
        ),
        doc="|I_phi| <= phase_limit_a[t]",
    )


def add_circuits(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """For every circuit c and slot: |sum of p[k] and battery power below c| <= limit_kw[c],
    and per grid phase |sum of I[phi, k] below c| <= phase_limit_a[c] (the whole subtree counts;
    in either direction, since an EV or a battery below may feed it, SPEC §4)."""
    circuits, pairs = index.circuits, model.pairs
    model.C = pyo.RangeSet(0, len(circuits.ids) - 1, doc="circuits")
    below = [circuits.contains_session[c] for c in range(len(circuits.ids))]
    batteries_below = [
        index.batteries.in_circuit[c] if index.batteries is not None else None
        for c in range(len(circuits.ids))
    ]

    def has_batteries(c):
        return batteries_below[c] is not None and batteries_below[c].any()

    def circuit_power(m, c, t):
        limit = circuits.limit_kw[c]
        terms = [k for k in pairs.by_slot[t] if below[c][pairs.session[k]]]
        if not np.isfinite(limit) or not (terms or has_batteries(c)):
            return pyo.Constraint.Skip
        power = sum(session_kw(m, index, k) for k in terms)
        if has_batteries(c):
            power += battery_kw(m, index, t, batteries_below[c])
        return (-float(limit), power, float(limit))

    def circuit_phase(m, c, phi, t):
        limit = circuits.phase_limit_a[c]
        terms = [k for k in pairs.by_slot[t] if below[c][pairs.session[k]]]
        if not np.isfinite(limit) or not (terms or has_batteries(c)):
            return pyo.Constraint.Skip
        current = sum(session_phase_a(m, index, phi, k) for k in terms)
        if has_batteries(c):
            current += battery_phase_a(m, index, t, batteries_below[c])
        if isinstance(current, float):
            return pyo.Constraint.Skip
        return (-float(limit), current, float(limit))

    model.circuit_power_limit = pyo.Constraint(model.C, model.T, rule=circuit_power)
    model.circuit_phase_limit = pyo.Constraint(
        model.C, pyo.RangeSet(0, 2), model.T, rule=circuit_phase
    )


def add_objective(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """The objectives of the strict order of SPEC §1; `optimizer.solve_stages` activates them.

    - `tier_shortfall[r]`: sum of unmet kWh in tier r;
    - `tier_max_unmet_fraction[r]` >= unmet[s] / counts[s] for s in tier r (fair sharing);
    - `cost`: import cost - export revenue + demand charge on each billing period's peak above
      what it has paid already (peak_so_far_kw in the first period, nothing in later ones);
    - `early_shortfall`: the energy not delivered by early departures (SPEC §6);
    - `tie_break`: earlier delivery (a kWh in slot t weighs t) and fewer set-point changes;
    - `weighted`: all of the above with `EnergyWeights`.
    """
    weights: EnergyWeights = model.weights
    tariff = index.problem.tariff
    dt = index.step_h
    model.R = pyo.RangeSet(0, len(weights.tiers) - 1, doc="priority tiers present, lowest first")
    in_tier = [np.flatnonzero(index.priority == tier) for tier in weights.tiers]
    model.tier_shortfall_kwh = pyo.Expression(
        model.R, rule=lambda m, r: sum(m.unmet_kwh[s] for s in in_tier[r])
    )
    model.tier_max_unmet_fraction = pyo.Var(model.R, bounds=(0.0, 1.0))
    counts = index.energy_counts_kwh
    model.max_unmet_fraction_definition = pyo.Constraint(
        model.S,
        rule=lambda m, s: (
            m.tier_max_unmet_fraction[weights.tiers.index(int(index.priority[s]))]
            >= m.unmet_kwh[s] / float(counts[s])
            if counts[s] > 1e-9
            else pyo.Constraint.Skip
        ),
        doc="z[tier] >= unmet[s] / counts[s]",
    )
    model.cost = pyo.Expression(
        expr=sum(
            dt
            * (
                float(index.import_price[t]) * model.grid_import_kw[t]
                - float(index.export_price[t]) * model.grid_export_kw[t]
            )
            for t in model.T
        )
        + tariff.demand_charge_per_kw
        * sum(model.peak_import_kw[p] - float(index.demand.peak_so_far_kw[p]) for p in model.P)
        + battery_cycle_cost(model, index),
        doc="import cost - export revenue + demand charge + the batteries' cycle cost",
    )
    pairs = model.pairs
    position = pairs.slot / max(index.slots - 1, 1)
    per_kwh_slot = weights.earlier_delivery_per_kwh_slot * index.slots
    one_kw = float(kw_per_a(index.voltage_v, 1))
    kw_of = index.kw_per_unit[pairs.session]
    model.tie_break = pyo.Expression(
        expr=per_kwh_slot * sum(float(position[k] * kw_of[k] * dt) * model.x[k] for k in model.K)
        + weights.setpoint_change_per_kw * sum(model.ramp_up_kw[k] for k in model.KR)
        # SPEC §4: charge on one phase as early as on three; energy moved back and forth at no
        # cost (equal prices, a lossless battery) is not moved; a switch costs like a kWh.
        + per_kwh_slot * sum(float(position[k] * one_kw * dt) * model.x_one[k] for k in model.KS)
        + per_kwh_slot * sum(float(kw_of[k] * dt) * model.discharge[k] for k in model.KV)
        + per_kwh_slot * battery_discharge_kwh(model, index)
        + per_kwh_slot * sum(model.phase_switch[k] for k in model.KSW)
    )
    model.early_shortfall_kwh = pyo.Expression(
        expr=sum(model.early_unmet_kwh[s] for s in model.SE), doc="early energy not met"
    )
    model.weighted = pyo.Objective(
        expr=weights.early_per_kwh * model.early_shortfall_kwh
        + sum(
            weights.per_kwh_by_tier[r]
            * (
                model.tier_shortfall_kwh[r]
                + weights.fairness_kwh_per_fraction[r] * model.tier_max_unmet_fraction[r]
            )
            for r in model.R
        )
        + model.cost
        + model.tie_break,
        sense=pyo.minimize,
    )


def battery_discharge_kwh(model: pyo.ConcreteModel, index: ProblemIndex):
    """Energy the batteries discharge over the horizon [kWh]."""
    if index.batteries is None:
        return 0.0
    return sum(index.step_h * model.battery_discharge_kw[b, t] for b in model.B for t in model.T)


def battery_cycle_cost(model: pyo.ConcreteModel, index: ProblemIndex):
    """cycle_cost_per_kwh on the energy each battery discharges (SPEC §4)."""
    if index.batteries is None:
        return 0.0
    cost = index.batteries.cycle_cost_per_kwh
    return sum(
        float(cost[b] * index.step_h) * model.battery_discharge_kw[b, t]
        for b in model.B
        for t in model.T
    )
