"""SPEC §4 in the matrix model: phase switching, V2G discharge and stationary batteries.

The same families, with the same names and the same math, as `optimizer.model_storage` (the
Pyomo reference; read that one for the inequalities). Each family adds its columns and the
rows that only concern them; `site_power_terms` then lists every column that draws on the site
(set-points on three and on one phase, discharge, battery charge and discharge) with its kW,
its current per grid phase and the circuits above it, which the balance, the phase limits and
the circuits of `optimizer.matrix_model` add up.

Every binary here chooses a side (three or one phase, charging or discharging), and the LP
relaxation keeps it as a continuous column with its rows, so a dive rounds it like the
import/export direction (`DiveColumns.direction`). Set-points on one phase are semi-continuous
like those on three: their `on_one` binaries and rows are left out of the relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcharge.optimizer.units import kw_per_a, phase_current_of_balanced_kw

if TYPE_CHECKING:
    from smartcharge.optimizer.matrix_model import MatrixModel


def same_session_previous(sessions: np.ndarray) -> np.ndarray:
    """For entries sorted by session (then slot): the position of the same session's entry
    before each, or -1."""
    previous = np.arange(sessions.size) - 1
    first = np.ones(sessions.size, dtype=bool)
    first[1:] = sessions[1:] != sessions[:-1]
    return np.where(first, -1, previous)


def switching_pairs(m: MatrixModel) -> np.ndarray:
    """Pairs (positions in `m.pairs`) whose phases are decided per slot."""
    return np.flatnonzero(m.index.switches[m.pairs.session])


def bidirectional_pairs(m: MatrixModel) -> np.ndarray:
    """Pairs whose session may discharge."""
    return np.flatnonzero(m.index.bidirectional[m.pairs.session])


def add_phase_switching(m: MatrixModel) -> None:
    """x_one = 0 or unit_min <= x_one <= unit_max_one; x <= unit_max * mode, x_one <=
    unit_max_one * (1 - mode); switch >= |mode - mode before|; sum of switches <= max."""
    index, pairs, lp = m.index, m.pairs, m.lp
    sp = switching_pairs(m)
    s_of = pairs.session[sp]
    upper_one = index.unit_max_one[s_of] if sp.size else np.zeros(0)
    x_one = lp.add_vars("x_one", np.zeros(sp.size), upper_one)
    binary = index.needs_binary[s_of]
    on_one = lp.add_vars("on_one", np.zeros(binary.sum()), np.ones(binary.sum()), integer=True)
    local = np.arange(on_one.size)
    floor = index.unit_min[s_of[binary]]
    for name, values, lower, upper in (
        ("one_phase_floor", -floor, 0.0, np.inf),
        ("one_phase_ceiling", -upper_one[binary], -np.inf, 0.0),
    ):
        lp.add_rows(
            name,
            np.concatenate([local, local]),
            np.concatenate([x_one[binary], on_one]),
            np.concatenate([np.ones(local.size), values]),
            lower,
            upper,
            local.size,
        )
    mode = lp.add_vars("three_phase", np.zeros(sp.size), np.ones(sp.size), integer=True)
    x = lp.blocks["x"][sp]
    r = np.arange(sp.size)
    lp.add_rows(
        "three_phase_only_in_mode",
        np.concatenate([r, r]),
        np.concatenate([x, mode]),
        np.concatenate([np.ones(sp.size), -index.unit_max[s_of]]),
        -np.inf,
        0.0,
        sp.size,
    )
    lp.add_rows(
        "one_phase_only_in_mode",
        np.concatenate([r, r]),
        np.concatenate([x_one, mode]),
        np.concatenate([np.ones(sp.size), upper_one]),
        -np.inf,
        upper_one,
        sp.size,
    )
    previous = same_session_previous(s_of)
    has = np.flatnonzero(previous >= 0)
    switch = lp.add_vars("phase_switch", np.zeros(has.size), np.ones(has.size))
    j = np.arange(has.size)
    for name, sign in (("phase_switch_up", 1.0), ("phase_switch_down", -1.0)):
        lp.add_rows(
            name,
            np.concatenate([j, j, j]),
            np.concatenate([switch, mode[has], mode[previous[has]]]),
            np.concatenate([np.ones(has.size), np.full(has.size, -sign), np.full(has.size, sign)]),
            0.0,
            np.inf,
            has.size,
        )
    lp.add_rows(
        "phase_switch_count",
        s_of[has],
        switch,
        np.ones(has.size),
        -np.inf,
        float(index.max_phase_switches),
        index.n_sessions,
    )


def add_discharge(m: MatrixModel) -> None:
    """v = 0 or unit_min <= v <= discharge_max (discharging = 1); x <= unit_max * (1 -
    discharging); v <= discharge_max * three_phase; sum of v dt <= discharge.max_energy_kwh;
    net energy to date <= energy_kwh; net energy at the end >= least_net_kwh (0, or less by
    what the EV can still charge after the horizon beyond its energy_kwh)."""
    index, pairs, lp = m.index, m.pairs, m.lp
    bp = bidirectional_pairs(m)
    s_of = pairs.session[bp]
    v_max = index.discharge_max_unit[s_of] if bp.size else np.zeros(0)
    v = lp.add_vars("discharge", np.zeros(bp.size), v_max)
    side = lp.add_vars("discharging", np.zeros(bp.size), np.ones(bp.size), integer=True)
    r = np.arange(bp.size)
    floor = index.unit_min[s_of]
    lp.add_rows(
        "discharge_floor",
        np.concatenate([r, r]),
        np.concatenate([v, side]),
        np.concatenate([np.ones(bp.size), -floor]),
        0.0,
        np.inf,
        bp.size,
    )
    lp.add_rows(
        "discharge_ceiling",
        np.concatenate([r, r]),
        np.concatenate([v, side]),
        np.concatenate([np.ones(bp.size), -v_max]),
        -np.inf,
        0.0,
        bp.size,
    )
    x_max = index.unit_max[s_of]
    lp.add_rows(
        "charge_only_when_not_discharging",
        np.concatenate([r, r]),
        np.concatenate([lp.blocks["x"][bp], side]),
        np.concatenate([np.ones(bp.size), x_max]),
        -np.inf,
        x_max,
        bp.size,
    )
    sp = switching_pairs(m)
    both = np.flatnonzero(np.isin(bp, sp))
    mode = lp.blocks["three_phase"][np.searchsorted(sp, bp[both])]
    j = np.arange(both.size)
    lp.add_rows(
        "discharge_only_on_three_phases",
        np.concatenate([j, j]),
        np.concatenate([v[both], mode]),
        np.concatenate([np.ones(both.size), -v_max[both]]),
        -np.inf,
        0.0,
        both.size,
    )
    kwh = index.kw_per_unit[s_of] * index.step_h
    lp.add_rows(
        "discharge_energy_cap",
        s_of,
        v,
        kwh,
        -np.inf,
        index.discharge_max_kwh,
        index.n_sessions,
    )
    # The EV never holds more than it asked for, at any time: a plan may not charge it past
    # its target to discharge later.
    previous = same_session_previous(s_of)
    last = np.ones(bp.size, dtype=bool)
    last[:-1] = s_of[1:] != s_of[:-1]
    lowest = -index.discharge_max_kwh[s_of]
    if index.least_net_kwh is not None and bp.size:
        lowest = np.where(last, np.maximum(lowest, index.least_net_kwh[s_of]), lowest)
    to_date = lp.add_vars("net_energy_kwh", lowest, index.energy_kwh[s_of])
    has = previous >= 0
    terms_row, terms_col, terms_value = session_energy_terms(m, bp)
    lp.add_rows(
        "net_energy_to_date",
        np.concatenate([r, r[has], terms_row]),
        np.concatenate([to_date, to_date[previous[has]], terms_col]),
        np.concatenate([np.ones(bp.size), -np.ones(has.sum()), -terms_value]),
        0.0,
        0.0,
        bp.size,
    )


def add_discharge_only_when_served(m: MatrixModel) -> None:
    """unmet[s] <= counts[s] * (1 - discharging[k]) for every pair k of a V2G session s: an EV
    discharges only if it still leaves with all the energy that counts (SPEC §4: no driver
    pays for the site's arbitrage, or for another EV's charge, with range)."""
    index, pairs, lp = m.index, m.pairs, m.lp
    bp = bidirectional_pairs(m)
    s_of = pairs.session[bp]
    r = np.arange(bp.size)
    counts = index.energy_counts_kwh[s_of]
    lp.add_rows(
        "discharge_only_when_served",
        np.concatenate([r, r]),
        np.concatenate([lp.blocks["unmet_kwh"][s_of], lp.blocks["discharging"]]),
        np.concatenate([np.ones(bp.size), counts]),
        -np.inf,
        counts,
        bp.size,
    )


def session_energy_terms(
    m: MatrixModel, pairs_subset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, kWh per unit) of every set-point column of the pairs given (all pairs:
    row = session; a subset: row = its position in the subset): charge on three phases, on
    one phase, and discharge (negative)."""
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    dt = index.step_h
    subset = np.arange(pairs.session.size) if pairs_subset is None else pairs_subset
    where = np.full(pairs.session.size, -1)
    where[subset] = np.arange(subset.size)
    row_of = pairs.session if pairs_subset is None else where
    rows, cols, values = [], [], []
    keep = where[np.arange(pairs.session.size)] >= 0
    k = np.flatnonzero(keep)
    rows.append(row_of[k])
    cols.append(blocks["x"][k])
    values.append(index.kw_per_unit[pairs.session[k]] * dt)
    sp = switching_pairs(m)
    mine = keep[sp]
    rows.append(row_of[sp[mine]])
    cols.append(blocks["x_one"][mine])
    values.append(np.full(mine.sum(), float(kw_per_a(index.voltage_v, 1)) * dt))
    bp = bidirectional_pairs(m)
    mine = keep[bp]
    rows.append(row_of[bp[mine]])
    cols.append(blocks["discharge"][mine])
    values.append(-index.kw_per_unit[pairs.session[bp[mine]]] * dt)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


def add_batteries(m: MatrixModel) -> None:
    """charge <= max_charge * charging, discharge <= max_discharge * (1 - charging);
    soc[t] = soc[t-1] + charge sqrt(eta) dt - discharge / sqrt(eta) dt, within its range,
    at least the final state at the end."""
    index, lp = m.index, m.lp
    batteries, slots, dt = index.batteries, index.slots, index.step_h
    n_b = index.n_batteries
    if batteries is None:
        for name in ("battery_charge_kw", "battery_discharge_kw", "battery_charging"):
            lp.add_vars(name, np.zeros(0), np.zeros(0), integer=name == "battery_charging")
        lp.add_vars("battery_soc_kwh", np.zeros(0), np.zeros(0))
        return
    charge = lp.add_vars(
        "battery_charge_kw", np.zeros(n_b * slots), batteries.charge_upper_kw.ravel()
    )
    discharge_max = np.repeat(batteries.max_discharge_kw, slots)
    discharge = lp.add_vars("battery_discharge_kw", np.zeros(n_b * slots), discharge_max)
    side = lp.add_vars(
        "battery_charging", np.zeros(n_b * slots), np.ones(n_b * slots), integer=True
    )
    r = np.arange(n_b * slots)
    lp.add_rows(
        "battery_charge_when_charging",
        np.concatenate([r, r]),
        np.concatenate([charge, side]),
        np.concatenate([np.ones(r.size), -batteries.charge_upper_kw.ravel()]),
        -np.inf,
        0.0,
        r.size,
    )
    lp.add_rows(
        "battery_discharge_when_discharging",
        np.concatenate([r, r]),
        np.concatenate([discharge, side]),
        np.concatenate([np.ones(r.size), discharge_max]),
        -np.inf,
        discharge_max,
        r.size,
    )
    lower = np.repeat(batteries.min_soc_kwh, slots).reshape(n_b, slots)
    lower[:, -1] = np.maximum(lower[:, -1], batteries.final_soc_kwh)
    upper = np.repeat(batteries.max_soc_kwh, slots)
    soc = lp.add_vars("battery_soc_kwh", lower.ravel(), upper)
    t = np.tile(np.arange(slots), n_b)
    has = t > 0
    sqrt_eta = np.repeat(batteries.sqrt_efficiency, slots)
    start = np.where(t == 0, np.repeat(batteries.soc0_kwh, slots), 0.0)
    lp.add_rows(
        "battery_soc_balance",
        np.concatenate([r, r[has], r, r]),
        np.concatenate([soc, soc[r[has] - 1], charge, discharge]),
        np.concatenate([np.ones(r.size), -np.ones(has.sum()), -sqrt_eta * dt, dt / sqrt_eta]),
        start,
        start,
        r.size,
    )


@dataclass(frozen=True)
class PowerTerms:
    """Every column that draws on the site, e one of them."""

    col: np.ndarray  # (E,)
    slot: np.ndarray  # (E,)
    kw: np.ndarray  # (E,) site kW per unit of the column (negative: it feeds the site)
    phase_a: np.ndarray  # (E, 3) grid-phase current per unit
    below: np.ndarray  # (C, E) bool: the column's charger or battery is below circuit c


def site_power_terms(m: MatrixModel) -> PowerTerms:
    index, pairs, blocks = m.index, m.pairs, m.lp.blocks
    contains = index.circuits.contains_session
    k = np.arange(pairs.session.size)
    sp, bp = switching_pairs(m), bidirectional_pairs(m)
    one_kw = float(kw_per_a(index.voltage_v, 1))
    parts = [
        (
            blocks["x"],
            pairs.slot,
            index.kw_per_unit[pairs.session],
            index.phase_a_per_unit[pairs.session],
            contains[:, pairs.session[k]],
        ),
        (
            blocks["x_one"],
            pairs.slot[sp],
            np.full(sp.size, one_kw),
            index.phase_a_per_unit_one[pairs.session[sp]].reshape(-1, 3),
            contains[:, pairs.session[sp]],
        ),
        (
            blocks["discharge"],
            pairs.slot[bp],
            -index.kw_per_unit[pairs.session[bp]],
            -index.phase_a_per_unit[pairs.session[bp]].reshape(-1, 3),
            contains[:, pairs.session[bp]],
        ),
    ]
    batteries = index.batteries
    if batteries is not None:
        n_b, slots = batteries.count, index.slots
        t = np.tile(np.arange(slots), n_b)
        balanced = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
        in_circuit = np.repeat(batteries.in_circuit, slots, axis=1)
        for name, sign in (("battery_charge_kw", 1.0), ("battery_discharge_kw", -1.0)):
            parts.append(
                (
                    blocks[name],
                    t,
                    np.full(t.size, sign),
                    np.full((t.size, 3), sign * balanced),
                    in_circuit,
                )
            )
    return PowerTerms(
        col=np.concatenate([p[0] for p in parts]),
        slot=np.concatenate([p[1] for p in parts]),
        kw=np.concatenate([p[2] for p in parts]),
        phase_a=np.concatenate([p[3] for p in parts]),
        below=np.concatenate([p[4] for p in parts], axis=1),
    )
