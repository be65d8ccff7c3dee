"""Why a session got less than its maximum: the binding limit, price, PV or its energy met.

For each slot in which a session is plugged in, still wants energy and gets less than its
maximum, the first of these that holds is its reason (SPEC §2, `limited_by`):
`circuit:<id>:L<n>`, `circuit:<id>` (kW), `grid:L<n>`, `grid:import`, `demand_charge` (the slot
sets its billing period's new peak), then, when the session still gets all its energy, `price`
(it charges in a cheaper slot), `pv` (it charges on PV surplus elsewhere) or `energy_met`; else
`site_limits`.
A limit counts as binding when less than one minimum set-point of room is left on it.
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer.flows import SiteFlows, session_power_kw
from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.problem import GRID_PHASES
from smartcharge.optimizer.rounding import CURRENT_STEP_A
from smartcharge.optimizer.units import phase_current_of_balanced_kw

_ENERGY_EPS_KWH = 1e-3


def limited_by(
    index: ProblemIndex,
    setpoint: np.ndarray,
    flows: SiteFlows,
    sessions: np.ndarray | None = None,
) -> list[list[dict]]:
    """Per session, `[{"slots": [...], "constraint": name}, ...]`; only for the `sessions`
    marked (a bool mask) if given, the others get None (a re-plan keeps their explanation)."""
    power_kw = session_power_kw(index, setpoint)
    delivered_before = np.cumsum(power_kw, axis=1) * index.step_h - power_kw * index.step_h
    wants_more = delivered_before < index.energy_kwh[:, None] - _ENERGY_EPS_KWH
    below_max = setpoint < index.unit_max[:, None] - CURRENT_STEP_A - 1e-9
    candidate = index.plugged & wants_more & below_max
    delivered = power_kw.sum(axis=1) * index.step_h
    met = delivered >= np.minimum(index.energy_kwh, index.energy_counts_kwh) - _ENERGY_EPS_KWH

    grid_phase_a = flows.charging_phase_a + phase_current_of_balanced_kw(
        index.base_load_kw - flows.pv_used_kw, index.voltage_v
    )
    grid_phase_room_a = np.minimum(
        index.phase_upper_a - grid_phase_a, grid_phase_a - index.phase_lower_a
    )  # (3, T)
    import_room_kw = index.import_limit_kw - flows.import_kw
    circuits = index.circuits
    circuit_kw = circuits.contains_session @ power_kw if circuits.ids else np.zeros((0, 1))
    circuit_room_kw = circuits.limit_kw[:, None] - circuit_kw
    circuit_phase_room_a = circuits.phase_limit_a[:, None, None] - np.einsum(
        "cs,sp,st->cpt", circuits.contains_session, index.phase_a_per_unit, setpoint
    )
    demand = index.demand
    sets_peak = (
        (index.problem.tariff.demand_charge_per_kw > 0)
        & (flows.import_kw >= demand.peak_kw(flows.import_kw)[demand.of_slot] - 1e-6)
        & (flows.import_kw > demand.peak_so_far_kw[demand.of_slot] + 1e-6)
    )
    pv_surplus_kw = np.maximum(flows.pv_used_kw - index.base_load_kw, 0.0)

    result: list = []
    for s in range(index.n_sessions):
        if sessions is not None and not sessions[s]:
            result.append(None)
            continue
        slots = np.flatnonzero(candidate[s])
        if slots.size == 0:
            result.append([])
            continue
        threshold = max(index.unit_min[s], CURRENT_STEP_A)  # in set-point units
        phases = np.flatnonzero(index.phase_a_per_unit[s] > 0)
        per_unit_a = index.phase_a_per_unit[s]
        reasons = np.full(slots.size, "", dtype=object)

        def assign(mask: np.ndarray, name: str, reasons=reasons) -> None:
            reasons[(reasons == "") & mask] = name

        for c in np.flatnonzero(circuits.contains_session[:, s]):
            for phi in phases:
                room = circuit_phase_room_a[c, phi, slots] / per_unit_a[phi]
                assign(room < threshold, f"circuit:{circuits.ids[c]}:{GRID_PHASES[phi]}")
            room = circuit_room_kw[c, slots] / index.kw_per_unit[s]
            assign(room < threshold, f"circuit:{circuits.ids[c]}")
        for phi in phases:
            room = grid_phase_room_a[phi, slots] / per_unit_a[phi]
            assign(room < threshold, f"grid:{GRID_PHASES[phi]}")
        assign(import_room_kw[slots] / index.kw_per_unit[s] < threshold, "grid:import")
        assign(sets_peak[slots], "demand_charge")
        if met[s]:
            charging = power_kw[s] > 0
            cheapest = index.import_price[charging].min() if charging.any() else np.inf
            assign(index.import_price[slots] > cheapest + 1e-12, "price")
            most_surplus = pv_surplus_kw[charging].max() if charging.any() else 0.0
            assign(pv_surplus_kw[slots] < most_surplus - 1e-9, "pv")
            assign(np.ones(slots.size, dtype=bool), "energy_met")
        else:
            assign(np.ones(slots.size, dtype=bool), "site_limits")
        result.append(
            [
                {"slots": slots[reasons == name].tolist(), "constraint": name}
                for name in dict.fromkeys(reasons.tolist())
            ]
        )
    return result
