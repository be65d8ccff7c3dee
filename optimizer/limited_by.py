"""Why a session got less than its maximum: the binding limit, price, PV, its energy met, or
what its EV was seen to do.

For each slot in which a session is plugged in, still wants energy and gets less than its
maximum, the first of these that holds is its reason (SPEC §2, `limited_by`):
`circuit:<id>:L<n>`, `circuit:<id>` (kW), `grid:L<n>`, `grid:import`, `demand_charge` (the slot
sets its billing period's new peak), then, when the session gets all its energy (within what
flooring set-points to 0.1 A can cost), `price` (it charges in a cheaper slot), `pv` (it
charges on PV surplus elsewhere) or `energy_met`. A session still short where no limit binds
is short by what the solver may leave: `solver_gap` (an optimal plan, within `mip_gap`),
`solver_time_limit` (the best plan found in time) or `fallback` (the rule-based schedule).
A limit counts as binding when less than one minimum set-point of room is left on it.

What meter values taught about the EV (SPEC §6) comes first: `ev_full` for every plugged slot
of a battery seen full or paused, `ev_max` where the session gets the EV's observed maximum
current and the charger would allow more.

With SPEC §4 parts: a switching session that has used all its `max_phase_switches` and is off
or on one phase is `phase_switching`; where the grid or a circuit binds and a battery that
could relieve it (any battery for the grid, one below the circuit for a circuit) discharges at
its most, `battery:power`; where such a battery could have discharged more but its stored energy
went to other slots or is kept for its final state, `battery:soc`.
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer.flows import SiteFlows, session_power_kw
from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.problem import GRID_PHASES, session_max_current_a
from smartcharge.optimizer.rounding import CURRENT_STEP_A, DC_POWER_STEP_KW
from smartcharge.optimizer.units import phase_current_of_balanced_kw

_ENERGY_EPS_KWH = 1e-3
# The reason of a short session where no limit binds, by the plan's status.
_SHORT_UNBOUND = {"optimal": "solver_gap", "feasible": "solver_time_limit"}
_STATUS_REASONS = frozenset(_SHORT_UNBOUND.values()) | {"fallback"}


def names_status(entries: list[dict]) -> bool:
    """Whether an explanation names what the plan's status decides (`solver_gap`,
    `solver_time_limit`, `fallback`): a re-plan of another status must not keep it."""
    return any(entry["constraint"] in _STATUS_REASONS for entry in entries)


def limited_by(
    index: ProblemIndex,
    setpoint: np.ndarray,
    flows: SiteFlows,
    status: str = "optimal",
    sessions: np.ndarray | None = None,
    phases: np.ndarray | None = None,
    battery_kw: np.ndarray | None = None,
) -> list[list[dict]]:
    """Per session, `[{"slots": [...], "constraint": name}, ...]` for a plan of `status`; only
    for the `sessions` marked (a bool mask) if given, the others get None (a re-plan keeps
    their explanation)."""
    power_kw = session_power_kw(index, setpoint, phases)
    delivered_before = np.cumsum(power_kw, axis=1) * index.step_h - power_kw * index.step_h
    wants_more = delivered_before < index.energy_kwh[:, None] - _ENERGY_EPS_KWH
    below_max = setpoint < index.unit_max[:, None] - CURRENT_STEP_A - 1e-9
    candidate = index.plugged & wants_more & below_max
    ev_capped = index.plugged & wants_more & ~below_max & _capped_by_ev(index)[:, None]
    delivered = power_kw.sum(axis=1) * index.step_h
    # Flooring each set-point to the step costs at most one step per charging slot.
    step = np.where(index.is_ac, CURRENT_STEP_A, DC_POWER_STEP_KW)
    rounding_kwh = step * index.kw_per_unit * index.step_h * (setpoint > 0).sum(axis=1)
    wanted = np.minimum(index.energy_kwh, index.energy_counts_kwh)
    met = delivered >= wanted - rounding_kwh - _ENERGY_EPS_KWH
    full = np.array([s.ev_full for s in index.problem.sessions], dtype=bool)

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
    battery_at_most = _batteries_at_most(index, battery_kw)
    switches_used_up = _switches_used_up(index, phases)
    # (S, T) one phase used; read before the loop, whose `phases` are a session's wired phases.
    on_one_phase = None if phases is None else phases == 1

    result: list = []
    for s in range(index.n_sessions):
        if sessions is not None and not sessions[s]:
            result.append(None)
            continue
        if full[s]:
            slots = np.flatnonzero(index.plugged[s])
            result.append(
                [{"slots": slots.tolist(), "constraint": "ev_full"}] if slots.size else []
            )
            continue
        capped = np.flatnonzero(ev_capped[s])
        ev_entry = [{"slots": capped.tolist(), "constraint": "ev_max"}] if capped.size else []
        slots = np.flatnonzero(candidate[s])
        if slots.size == 0:
            result.append(ev_entry)
            continue
        threshold = max(index.unit_min[s], CURRENT_STEP_A)  # in set-point units
        phases = np.flatnonzero(index.phase_a_per_unit[s] > 0)
        per_unit_a = index.phase_a_per_unit[s]
        reasons = np.full(slots.size, "", dtype=object)

        def assign(mask: np.ndarray, name: str, reasons=reasons) -> None:
            reasons[(reasons == "") & mask] = name

        if switches_used_up[s]:
            assert on_one_phase is not None
            assign(on_one_phase[s, slots] | (setpoint[s, slots] <= 0), "phase_switching")
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
        if battery_at_most is not None:
            _battery_reasons(index, reasons, slots, battery_at_most)
        assign(sets_peak[slots], "demand_charge")
        if met[s]:
            charging = power_kw[s] > 0
            cheapest = index.import_price[charging].min() if charging.any() else np.inf
            assign(index.import_price[slots] > cheapest + 1e-12, "price")
            most_surplus = pv_surplus_kw[charging].max() if charging.any() else 0.0
            assign(pv_surplus_kw[slots] < most_surplus - 1e-9, "pv")
            assign(np.ones(slots.size, dtype=bool), "energy_met")
        else:
            assign(np.ones(slots.size, dtype=bool), _SHORT_UNBOUND.get(status, status))
        result.append(
            ev_entry
            + [
                {"slots": slots[reasons == name].tolist(), "constraint": name}
                for name in dict.fromkeys(reasons.tolist())
            ]
        )
    return result


def _capped_by_ev(index: ProblemIndex) -> np.ndarray:
    """(S,) whether the EV's observed maximum current is below what charger and session allow."""
    capped = np.zeros(index.n_sessions, dtype=bool)
    chargers = index.problem.site.chargers
    for s, session in enumerate(index.problem.sessions):
        if session.ev_max_current_a is None or not index.is_ac[s]:
            continue
        charger = chargers[index.charger_of_session[s]]
        uncapped = session_max_current_a(
            session.model_copy(update={"ev_max_current_a": None}), charger, index.voltage_v
        )
        capped[s] = index.unit_max[s] < uncapped - CURRENT_STEP_A
    return capped


def _batteries_at_most(index: ProblemIndex, battery_kw: np.ndarray | None) -> np.ndarray | None:
    """(B, T) whether each battery discharges at its most; None without batteries."""
    batteries = index.batteries
    if batteries is None:
        return None
    if battery_kw is None:
        return np.zeros((batteries.count, index.slots), dtype=bool)
    return -battery_kw >= batteries.max_discharge_kw[:, None] - 1e-6


def _battery_reasons(
    index: ProblemIndex, reasons: np.ndarray, slots: np.ndarray, at_most: np.ndarray
) -> None:
    """A grid or circuit limit a battery could have relieved becomes the battery's reason:
    `battery:power` where every such battery discharges at its most, else `battery:soc` (its
    stored energy went to other slots or is kept for its final state)."""
    assert index.batteries is not None
    circuit_row = {cid: c for c, cid in enumerate(index.circuits.ids)}
    for j, reason in enumerate(reasons):
        kind, _, rest = reason.partition(":")
        if kind == "grid":
            relieving = np.ones(at_most.shape[0], dtype=bool)
        elif kind == "circuit":
            relieving = index.batteries.in_circuit[circuit_row[rest.split(":")[0]]]
        else:
            continue
        if relieving.any():
            reasons[j] = "battery:power" if at_most[relieving, slots[j]].all() else "battery:soc"


def _switches_used_up(index: ProblemIndex, phases: np.ndarray | None) -> np.ndarray:
    """(S,) whether a switching session changed phases as often as it may."""
    if phases is None or not index.switches.any():
        return np.zeros(index.n_sessions, dtype=bool)
    changes = (np.diff(phases, axis=1) != 0).sum(axis=1)
    return index.switches & (changes >= index.max_phase_switches)
