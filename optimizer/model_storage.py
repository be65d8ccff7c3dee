"""SPEC §4 in the Pyomo model: phase switching, V2G discharge and stationary batteries.

The reference for `optimizer.matrix_storage` (same families, same names, same math). Notation
as in `optimizer.model`; in addition, for a switching session's pair k, `x_one[k]` is its
current on one phase (the charger's first after rotation) and `three_phase[k]` its mode; for a
V2G session's pair, `discharge[k]` the current (AC) or power (DC) it feeds back; for battery b
and slot t, `battery_charge_kw`, `battery_discharge_kw`, `battery_charging` and
`battery_soc_kwh` (the state at the end of the slot).

    session power [kW]  p[k] = kw_per_unit[s] (x[k] - discharge[k]) + kw_one x_one[k]
    battery power [kW]  q[b, t] = charge[b, t] - discharge[b, t]

Each family adds its variables and the constraints that concern only them; `session_kw`,
`session_phase_a` and `battery_kw` are the terms `optimizer.model` adds to the energy, the
balance, the grid phases and the circuits.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.units import kw_per_a, phase_current_of_balanced_kw


def add_phase_switching(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """x_one = 0 or unit_min <= x_one <= unit_max_one; x <= unit_max * mode, x_one <=
    unit_max_one * (1 - mode); switch >= |mode - mode before|; sum of switches <= max."""
    pairs = model.pairs
    switching = np.flatnonzero(index.switches[pairs.session])
    s_of = pairs.session
    model.KS = pyo.Set(initialize=switching.tolist(), doc="pairs whose phases are decided")
    model.KSB = pyo.Set(
        initialize=[k for k in switching.tolist() if index.needs_binary[s_of[k]]],
        doc="switching pairs with a minimum set-point",
    )
    upper_one = index.unit_max_one if index.unit_max_one is not None else np.zeros(0)
    model.x_one = pyo.Var(
        model.KS,
        bounds=lambda m, k: (0.0, float(upper_one[s_of[k]])),
        doc="set-point on one phase [A]",
    )
    model.on_one = pyo.Var(model.KSB, domain=pyo.Binary, doc="1 when it charges on one phase")
    model.one_phase_floor = pyo.Constraint(
        model.KSB,
        rule=lambda m, k: m.x_one[k] >= float(index.unit_min[s_of[k]]) * m.on_one[k],
        doc="x_one >= unit_min * on_one",
    )
    model.one_phase_ceiling = pyo.Constraint(
        model.KSB,
        rule=lambda m, k: m.x_one[k] <= float(upper_one[s_of[k]]) * m.on_one[k],
        doc="x_one <= unit_max_one * on_one",
    )
    model.three_phase = pyo.Var(model.KS, domain=pyo.Binary, doc="1 on three phases, 0 on one")
    model.three_phase_only_in_mode = pyo.Constraint(
        model.KS,
        rule=lambda m, k: m.x[k] <= float(index.unit_max[s_of[k]]) * m.three_phase[k],
        doc="x <= unit_max * three_phase",
    )
    model.one_phase_only_in_mode = pyo.Constraint(
        model.KS,
        rule=lambda m, k: m.x_one[k] <= float(upper_one[s_of[k]]) * (1 - m.three_phase[k]),
        doc="x_one <= unit_max_one * (1 - three_phase)",
    )
    with_previous = [k for k in switching.tolist() if pairs.previous[k] in set(switching)]
    model.KSW = pyo.Set(initialize=with_previous, doc="switching pairs with one before")
    model.phase_switch = pyo.Var(model.KSW, bounds=(0.0, 1.0), doc="1 where the mode changes")
    model.phase_switch_up = pyo.Constraint(
        model.KSW,
        rule=lambda m, k: (
            m.phase_switch[k] >= m.three_phase[k] - m.three_phase[int(pairs.previous[k])]
        ),
    )
    model.phase_switch_down = pyo.Constraint(
        model.KSW,
        rule=lambda m, k: (
            m.phase_switch[k] >= m.three_phase[int(pairs.previous[k])] - m.three_phase[k]
        ),
    )
    switches_of = {}
    for k in with_previous:
        switches_of.setdefault(int(s_of[k]), []).append(k)
    model.phase_switch_count = pyo.Constraint(
        model.S,
        rule=lambda m, s: (
            sum(m.phase_switch[k] for k in switches_of[s]) <= index.max_phase_switches
            if s in switches_of
            else pyo.Constraint.Skip
        ),
        doc="switches per session <= options.max_phase_switches",
    )


def add_discharge(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """v = 0 or unit_min <= v <= discharge_max (discharging = 1); x <= unit_max * (1 -
    discharging); v <= discharge_max * three_phase; sum of v dt <= discharge.max_energy_kwh;
    net energy to date <= energy_kwh; net energy at the end >= least_net_kwh."""
    pairs = model.pairs
    s_of = pairs.session
    bidirectional = np.flatnonzero(index.bidirectional[s_of])
    v_max = index.discharge_max_unit if index.discharge_max_unit is not None else np.zeros(0)
    model.KV = pyo.Set(initialize=bidirectional.tolist(), doc="pairs that may discharge")
    model.discharge = pyo.Var(
        model.KV, bounds=lambda m, k: (0.0, float(v_max[s_of[k]])), doc="discharge [A or kW]"
    )
    model.discharging = pyo.Var(model.KV, domain=pyo.Binary, doc="1 when it discharges")
    model.discharge_floor = pyo.Constraint(
        model.KV,
        rule=lambda m, k: m.discharge[k] >= float(index.unit_min[s_of[k]]) * m.discharging[k],
    )
    model.discharge_ceiling = pyo.Constraint(
        model.KV, rule=lambda m, k: m.discharge[k] <= float(v_max[s_of[k]]) * m.discharging[k]
    )
    model.charge_only_when_not_discharging = pyo.Constraint(
        model.KV,
        rule=lambda m, k: m.x[k] <= float(index.unit_max[s_of[k]]) * (1 - m.discharging[k]),
    )
    model.discharge_only_on_three_phases = pyo.Constraint(
        model.KV,
        rule=lambda m, k: (
            m.discharge[k] <= float(v_max[s_of[k]]) * m.three_phase[k]
            if k in m.KS
            else pyo.Constraint.Skip
        ),
    )
    dt = index.step_h
    mine = {}
    for k in bidirectional.tolist():
        mine.setdefault(int(s_of[k]), []).append(k)
    model.discharge_energy_cap = pyo.Constraint(
        model.S,
        rule=lambda m, s: (
            sum(float(index.kw_per_unit[s] * dt) * m.discharge[k] for k in mine[s])
            <= float(index.discharge_max_kwh[s])
            if s in mine
            else pyo.Constraint.Skip
        ),
    )
    least = index.least_net_kwh if index.least_net_kwh is not None else np.zeros(0)

    def to_date(m, k):
        s = int(s_of[k])
        return sum(session_kw(m, index, j) * dt for j in mine[s] if pairs.slot[j] <= pairs.slot[k])

    model.net_energy_to_date = pyo.Constraint(
        model.KV,
        rule=lambda m, k: (
            float(least[s_of[k]])
            if k == mine[int(s_of[k])][-1]
            else -float(index.discharge_max_kwh[s_of[k]]),
            to_date(m, k),
            float(index.energy_kwh[s_of[k]]),
        ),
        doc="least <= net energy to date <= energy_kwh",
    )


def add_discharge_only_when_served(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """unmet[s] <= counts[s] * (1 - discharging[k]): an EV discharges only if it still leaves
    with all the energy that counts."""
    s_of = model.pairs.session
    counts = index.energy_counts_kwh
    model.discharge_only_when_served = pyo.Constraint(
        model.KV,
        rule=lambda m, k: (
            m.unmet_kwh[int(s_of[k])] <= float(counts[s_of[k]]) * (1 - m.discharging[k])
        ),
    )


def add_batteries(model: pyo.ConcreteModel, index: ProblemIndex) -> None:
    """charge <= max_charge * charging, discharge <= max_discharge * (1 - charging);
    soc[t] = soc[t-1] + charge sqrt(eta) dt - discharge / sqrt(eta) dt, within its range,
    at least the final state at the end."""
    batteries, dt, last = index.batteries, index.step_h, index.slots - 1
    model.B = pyo.RangeSet(0, index.n_batteries - 1, doc="batteries")
    if batteries is None:
        return
    model.battery_charge_kw = pyo.Var(
        model.B, model.T, bounds=lambda m, b, t: (0.0, float(batteries.charge_upper_kw[b, t]))
    )
    model.battery_discharge_kw = pyo.Var(
        model.B, model.T, bounds=lambda m, b, t: (0.0, float(batteries.max_discharge_kw[b]))
    )
    model.battery_charging = pyo.Var(model.B, model.T, domain=pyo.Binary)
    model.battery_charge_when_charging = pyo.Constraint(
        model.B,
        model.T,
        rule=lambda m, b, t: (
            m.battery_charge_kw[b, t]
            <= float(batteries.charge_upper_kw[b, t]) * m.battery_charging[b, t]
        ),
    )
    model.battery_discharge_when_discharging = pyo.Constraint(
        model.B,
        model.T,
        rule=lambda m, b, t: (
            m.battery_discharge_kw[b, t]
            <= float(batteries.max_discharge_kw[b]) * (1 - m.battery_charging[b, t])
        ),
    )

    def soc_bounds(m, b, t):
        lower = float(batteries.min_soc_kwh[b])
        if t == last:
            lower = max(lower, float(batteries.final_soc_kwh[b]))
        return lower, float(batteries.max_soc_kwh[b])

    model.battery_soc_kwh = pyo.Var(model.B, model.T, bounds=soc_bounds)
    root = batteries.sqrt_efficiency
    model.battery_soc_balance = pyo.Constraint(
        model.B,
        model.T,
        rule=lambda m, b, t: (
            m.battery_soc_kwh[b, t]
            == (m.battery_soc_kwh[b, t - 1] if t > 0 else float(batteries.soc0_kwh[b]))
            + float(root[b] * dt) * m.battery_charge_kw[b, t]
            - float(dt / root[b]) * m.battery_discharge_kw[b, t]
        ),
        doc="soc[t] = soc[t-1] + charge sqrt(eta) dt - discharge / sqrt(eta) dt",
    )


def session_kw(m: pyo.ConcreteModel, index: ProblemIndex, k: int):
    """p[k]: the pair's power [kW], charge on three or one phase minus discharge."""
    s = int(m.pairs.session[k])
    power = float(index.kw_per_unit[s]) * m.x[k]
    if k in m.KS:
        power += float(kw_per_a(index.voltage_v, 1)) * m.x_one[k]
    if k in m.KV:
        power -= float(index.kw_per_unit[s]) * m.discharge[k]
    return power


def session_phase_a(m: pyo.ConcreteModel, index: ProblemIndex, phi: int, k: int):
    """The pair's current on grid phase phi [A] (0 when it draws nothing there)."""
    s = int(m.pairs.session[k])
    current = 0.0
    nominal = float(index.phase_a_per_unit[s, phi])
    if nominal:
        current += nominal * m.x[k]
        if k in m.KV:
            current -= nominal * m.discharge[k]
    if k in m.KS and index.phase_a_per_unit_one[s, phi]:
        current += float(index.phase_a_per_unit_one[s, phi]) * m.x_one[k]
    return current


def battery_kw(m: pyo.ConcreteModel, index: ProblemIndex, t: int, below=None):
    """Batteries' net power in slot t [kW] (those below a circuit, given its (B,) mask)."""
    if index.batteries is None:
        return 0.0
    return sum(
        m.battery_charge_kw[b, t] - m.battery_discharge_kw[b, t]
        for b in range(index.n_batteries)
        if below is None or below[b]
    )


def battery_phase_a(m: pyo.ConcreteModel, index: ProblemIndex, t: int, below=None):
    """Batteries' balanced current per grid phase in slot t [A]."""
    return float(phase_current_of_balanced_kw(1.0, index.voltage_v)) * battery_kw(
        m, index, t, below
    )
