"""The batteries re-dispatched around the set-points chargers execute (SPEC §4).

Rounding floors every EV's set-point to 0.1 A and the top-up raises some: where a battery fed
an EV exactly (an export limit of 0, a phase at its limit), a few tens of watts now flow the
wrong way. Batteries are continuous, so they take up that difference: a small LP keeps each
battery on the side (charging or discharging) the plan chose, with the sessions fixed as
rounded, every grid, phase and circuit limit and the state-of-charge rules, and moves each
battery's power as little as it can (sum of |power - planned|).
"""

from __future__ import annotations

from types import SimpleNamespace

import highspy
import numpy as np

from smartcharge.optimizer.flows import session_power_kw
from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.matrix_storage import add_batteries
from smartcharge.optimizer.sparse_lp import SparseLP
from smartcharge.optimizer.units import phase_current_of_balanced_kw


def session_phase_a(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None
) -> np.ndarray:
    """(S, 3, T) each session's current on each grid phase (one phase: the charger's first)."""
    per_unit = np.repeat(index.phase_a_per_unit[:, :, None], index.slots, axis=2)
    if phases is not None and index.phase_a_per_unit_one is not None:
        one = (index.switches[:, None] & (phases == 1))[:, None, :]
        per_unit = np.where(one, index.phase_a_per_unit_one[:, :, None], per_unit)
    return per_unit * setpoint[:, None, :]


def redispatch_batteries(
    index: ProblemIndex,
    setpoint: np.ndarray,
    battery_kw: np.ndarray,
    phases: np.ndarray | None,
) -> np.ndarray | None:
    """The batteries' power (B, T) closest to `battery_kw` that keeps every limit with the
    sessions at `setpoint`, for some use of PV (`optimizer.flows` then chooses it); None if
    there is none (the caller keeps the plan)."""
    lp = SparseLP()
    add_batteries(SimpleNamespace(index=index, lp=lp))
    blocks, slots = lp.blocks, index.slots
    lp.fix(blocks["battery_charging"], (battery_kw >= -1e-9).ravel())  # the plan's side
    n_b = index.n_batteries
    planned = battery_kw.ravel()
    deviation = lp.add_vars("deviation_kw", np.zeros(n_b * slots), np.inf)
    pv_used = lp.add_vars("pv_used_kw", np.zeros(slots), index.pv_kw)
    grid_import = lp.add_vars("grid_import_kw", np.zeros(slots), index.import_limit_kw)
    grid_export = lp.add_vars("grid_export_kw", np.zeros(slots), index.export_limit_kw)
    charge, discharge = blocks["battery_charge_kw"], blocks["battery_discharge_kw"]
    r = np.arange(n_b * slots)
    for name, sign in (("above_plan", 1.0), ("below_plan", -1.0)):
        lp.add_rows(
            name,
            np.concatenate([r, r, r]),
            np.concatenate([deviation, charge, discharge]),
            np.concatenate([np.ones(r.size), np.full(r.size, -sign), np.full(r.size, sign)]),
            -sign * planned,
            np.inf,
            r.size,
        )
    slot_of = np.tile(np.arange(slots), n_b)
    battery_of = np.repeat(np.arange(n_b), slots)
    t = np.arange(slots)
    sessions_kw = session_power_kw(index, setpoint, phases)
    lp.add_rows(
        "grid_balance",
        np.concatenate([t, t, t, slot_of, slot_of]),
        np.concatenate([grid_import, grid_export, pv_used, charge, discharge]),
        np.concatenate(
            [np.ones(slots), -np.ones(slots), np.ones(slots), -np.ones(r.size), np.ones(r.size)]
        ),
        index.base_load_kw + sessions_kw.sum(axis=0),
        index.base_load_kw + sessions_kw.sum(axis=0),
        slots,
    )
    phase_a = session_phase_a(index, setpoint, phases)
    amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
    limited = np.flatnonzero(np.isfinite(index.grid_phase_limit_a))
    if limited.size:
        # (base - pv_used + batteries) x A per kW + the sessions' current, each grid phase
        row = np.full(slots, -1)
        row[limited] = np.arange(limited.size)
        on = row[slot_of] >= 0
        for phi in range(3):
            sessions_a = phase_a[:, phi, :].sum(axis=0) + amps_per_kw * index.base_load_kw
            lp.add_rows(
                f"grid_phase_L{phi + 1}",
                np.concatenate([row[slot_of[on]], row[slot_of[on]], np.arange(limited.size)]),
                np.concatenate([charge[on], discharge[on], pv_used[limited]]),
                np.concatenate(
                    [
                        np.full(on.sum(), amps_per_kw),
                        np.full(on.sum(), -amps_per_kw),
                        np.full(limited.size, -amps_per_kw),
                    ]
                ),
                index.phase_lower_a[limited] - sessions_a[limited],
                index.phase_upper_a[limited] - sessions_a[limited],
                limited.size,
            )
    circuits = index.circuits
    in_circuit = index.batteries.in_circuit if index.batteries is not None else None
    for c in range(len(circuits.ids)):
        below = np.flatnonzero(in_circuit[c]) if in_circuit is not None else np.zeros(0, int)
        if below.size == 0:
            continue
        mine = np.isin(battery_of, below)
        members = circuits.contains_session[c]
        for name, limit, per_kw, sessions in (
            ("kw", circuits.limit_kw[c], 1.0, sessions_kw[members].sum(axis=0)),
            *(
                (
                    f"L{phi + 1}",
                    circuits.phase_limit_a[c],
                    amps_per_kw,
                    phase_a[members, phi].sum(0),
                )
                for phi in range(3)
            ),
        ):
            if not np.isfinite(limit):
                continue
            lp.add_rows(
                f"circuit_{c}_{name}",
                np.concatenate([slot_of[mine], slot_of[mine]]),
                np.concatenate([charge[mine], discharge[mine]]),
                np.concatenate([np.full(mine.sum(), per_kw), np.full(mine.sum(), -per_kw)]),
                -limit - sessions,
                limit - sessions,
                slots,
            )
    cost = np.zeros(lp.n_cols)
    cost[deviation] = 1.0
    highs = lp.to_highs(cost, threads=1, relaxed=True)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    values = np.asarray(highs.getSolution().col_value)
    return (values[charge] - values[discharge]).reshape(n_b, slots)
