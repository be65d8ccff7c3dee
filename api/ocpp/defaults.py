"""Fail-safe `TxDefaultProfile` limits: what any charger may draw while no session profile rules it.

OCPP falls back to the TxDefaultProfile whenever no TxProfile applies: a charger with no session
in a slot, an EV that arrives unplanned, or a transaction whose TxProfile has not arrived yet (a
TxProfile cannot be set before its transaction starts, OCPP.md §3 rule 4). Without any profile a
charger "SHALL allow charging as if no ChargingProfile is installed" (OCPP.md §3 rules 9, 10), so
the default is the site's safety floor (OCPP.md checklist 3).

The computation, per slot t, in three steps:

1. **Who could start.** A charger is *idle* in slot t when no session profile of ours governs it
   for the whole slot: a `TxProfile` charger outside the slots its sessions fully cover (a
   session awaiting its transaction too: its plan rides on a TxDefaultProfile that holds these
   defaults outside those slots, `payloads.pending_profile_limits`); a charger whose sessions
   use `TxDefaultProfile` (at a higher stack level, for the whole horizon) is never idle.
2. **Headroom per limit.** For the grid import [kW], each grid phase [A], each circuit's kW and
   each circuit's phases [A], the headroom is the limit minus what the plan draws in slot t
   (grid: base load + planned charging - PV used, base and PV spread evenly over three phases;
   circuits: planned charging below them), never below 0. A planned discharge (V2G, a
   battery) frees no headroom: the EV may leave or the battery run empty, and the default must
   hold without them; a battery that charges draws like a base load (balanced three-phase, in
   its circuit). A phase-switching session draws, in its one-phase slots, only on its
   charger's first phase. A charger counts under a limit by its
   worst case per unit of its default: in kW at its full phases (`limit x V x phases`, or the W
   limit itself); on a phase, the A limit on each grid phase it is wired to (a 1-, 2- or 3-phase
   EV each draw the full per-phase limit on the phases they use), a W limit as `W / V` on each of
   its phases (a one-phase EV may put all of it on one phase, OCPP.md §3 rule 12), and DC as
   balanced three-phase power, `W / (3 V)` per phase.
3. **Equal share.** Each limit's headroom is split equally among the idle chargers under it; a
   charger's default is the smallest share over the limits it counts under, converted into its
   own rate unit, and at most its own maximum. A charger with a session gets the same default
   (the share an idle charger there gets, or all of the headroom if none is idle): it only
   rules if its EV leaves early and another starts, and the plan's own draw is then freed.
   Chargers alike (unit, phases, wiring, circuits) thus get one schedule.

If every idle charger draws its default at once on top of the plan, each limit carries at most
its headroom. The caller floors to 0.1 and snaps values below the charger's minimum to 0 (IEC
61851 cannot signal less than 6 A); both only lower a limit, so the guarantee holds. Transients
(the seconds between an unplanned transaction starting and its TxProfile arriving) are not
counted; a planned session whose transaction has not started has its plan in place already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from smartcharge.api.ocpp.limits import rate_unit
from smartcharge.optimizer.index import ProblemIndex, phase_limit_series, slot_series
from smartcharge.optimizer.problem import (
    GRID_PHASES,
    Charger,
    Problem,
    Session,
    session_switches_phases,
)
from smartcharge.optimizer.units import W_PER_KW, phase_current_of_balanced_kw


@dataclass(frozen=True)
class SiteLimit:
    """One limit the defaults must respect: headroom per slot and each charger's worst-case draw."""

    name: str
    headroom: np.ndarray  # (T,) what the plan leaves, in kW or A, never negative
    draw_per_unit: np.ndarray  # (N,) draw under this limit per A or W of each charger's default


def default_limits(problem: Problem, answer: dict[str, Any], index: ProblemIndex) -> np.ndarray:
    """(chargers, slots) default limit of every charger in its own rate unit, not yet floored."""
    idle = idle_chargers(problem)
    voltage_v = problem.site.grid.voltage_v
    cap = np.array([max_limit(c, voltage_v) for c in problem.site.chargers])
    return equal_share_limits(list(site_limits(problem, answer, index)), idle, cap)


def idle_chargers(problem: Problem) -> np.ndarray:
    """(chargers, slots) True where no session profile of ours rules the charger all slot long."""
    position = {c.id: i for i, c in enumerate(problem.site.chargers)}
    idle = np.ones((len(position), problem.horizon.slots), dtype=bool)
    for session in problem.sessions:
        c = position[session.charger_id]
        if problem.site.chargers[c].profile_purpose == "TxDefaultProfile":
            idle[c] = False
            continue
        idle[c] &= ~covered_slots(problem, session)
    return idle


def covered_slots(problem: Problem, session: Session) -> np.ndarray:
    """(slots,) True where the slot lies wholly inside the session's [arrival, departure)."""
    horizon = problem.horizon
    step_s = horizon.step_minutes * 60
    begin_s = horizon.start.timestamp() + step_s * np.arange(horizon.slots)
    return (begin_s >= session.arrival.timestamp()) & (
        begin_s + step_s <= session.departure.timestamp()
    )


def equal_share_limits(limits: list[SiteLimit], idle: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Each limit's headroom shared equally by the idle chargers under it; the tightest wins."""
    result = np.repeat(cap[:, None], idle.shape[1], axis=1).astype(float)
    for limit in limits:
        counts = limit.draw_per_unit > 0
        if not counts.any():
            continue
        sharers = np.maximum((idle & counts[:, None]).sum(axis=0), 1)
        share = limit.headroom / sharers  # in kW or A, per charger
        result[counts] = np.minimum(result[counts], share / limit.draw_per_unit[counts, None])
    return result


def site_limits(
    problem: Problem, answer: dict[str, Any], index: ProblemIndex
) -> Iterator[SiteLimit]:
    """Every limit of the site with the headroom the plan leaves: grid, grid phases, circuits."""
    site, slots = problem.site, problem.horizon.slots
    voltage_v = site.grid.voltage_v
    flows = {k: np.asarray(answer["site"][k], dtype=float) for k in ("base_load_kw", "pv_kw")}
    power_kw = np.maximum(_session_matrix(problem, answer, "power_kw"), 0.0)
    setpoint = np.where(
        index.is_ac[:, None],
        np.maximum(_session_matrix(problem, answer, "current_a"), 0.0),
        power_kw,
    )
    battery_kw = battery_charging_kw(problem, answer)  # (B, T)
    kw_draw = np.array([kw_per_rate_unit(c, voltage_v) for c in site.chargers])
    phase_draw = np.array([phase_a_per_rate_unit(c, voltage_v) for c in site.chargers])  # (N, 3)
    planned_phase_a = planned_phase_currents(problem, answer, index, setpoint)  # (S, 3, T)

    net_kw = flows["base_load_kw"] + power_kw.sum(axis=0) + battery_kw.sum(axis=0) - flows["pv_kw"]
    import_limit_kw = slot_series(site.grid.import_limit_kw, slots, "import_limit_kw")
    yield SiteLimit("grid import", _room(import_limit_kw - net_kw), kw_draw)
    # A phase limit may change from slot to slot (a grid operator's cap): each slot's own
    # limit, like the import limit's; a slot without one (inf) leaves unbounded headroom.
    phase_limit_a = phase_limit_series(site.grid.phase_limit_a, slots)
    if np.isfinite(phase_limit_a).any():
        uncontrolled_a = phase_current_of_balanced_kw(
            flows["base_load_kw"] + battery_kw.sum(axis=0) - flows["pv_kw"], voltage_v
        )
        planned_a = planned_phase_a.sum(axis=0)
        for p, phase in enumerate(GRID_PHASES):
            headroom = phase_limit_a - planned_a[p] - uncontrolled_a
            yield SiteLimit(f"grid {phase}", _room(headroom), phase_draw[:, p])

    below = chargers_below_circuits(problem)
    circuits = index.circuits
    batteries_below = batteries_below_circuits(problem)
    for k, circuit_id in enumerate(circuits.ids):
        sessions_below = circuits.contains_session[k]
        battery_below_kw = battery_kw[batteries_below[k]].sum(axis=0)
        if np.isfinite(circuits.limit_kw[k]):
            headroom = (
                circuits.limit_kw[k] - power_kw[sessions_below].sum(axis=0) - battery_below_kw
            )
            yield SiteLimit(f"circuit {circuit_id}", _room(headroom), kw_draw * below[k])
        if np.isfinite(circuits.phase_limit_a[k]):
            planned_a = planned_phase_a[sessions_below].sum(axis=0) + phase_current_of_balanced_kw(
                battery_below_kw, voltage_v
            )
            for p, phase in enumerate(GRID_PHASES):
                headroom = circuits.phase_limit_a[k] - planned_a[p]
                draw = phase_draw[:, p] * below[k]
                yield SiteLimit(f"circuit {circuit_id} {phase}", _room(headroom), draw)


def battery_charging_kw(problem: Problem, answer: dict[str, Any]) -> np.ndarray:
    """(batteries, slots) each battery's planned charging [kW] (its discharge counts as 0)."""
    by_id = {entry["id"]: entry for entry in answer.get("batteries") or []}
    slots = problem.horizon.slots
    rows = [
        by_id[b.id]["power_kw"] if b.id in by_id else [0.0] * slots for b in problem.site.batteries
    ]
    return np.maximum(np.array(rows, dtype=float).reshape(len(rows), slots), 0.0)


def batteries_below_circuits(problem: Problem) -> np.ndarray:
    """(circuits, batteries) True where the battery hangs below the circuit, at any depth."""
    return _below_circuits(problem, [b.circuit for b in problem.site.batteries])


def planned_phase_currents(
    problem: Problem, answer: dict[str, Any], index: ProblemIndex, setpoint: np.ndarray
) -> np.ndarray:
    """(sessions, 3, slots) planned current on each grid phase: a session's set-point on the
    grid phases it uses; a switching session's one-phase slots on its charger's first only."""
    drawn = index.phase_a_per_unit[:, :, None] * setpoint[:, None, :]
    chargers = {c.id: c for c in problem.site.chargers}
    entries = {entry["id"]: entry for entry in answer["sessions"]}
    for s, session in enumerate(problem.sessions):
        charger = chargers[session.charger_id]
        used = entries[session.id].get("phases_used")
        if used is None or not session_switches_phases(session, charger):
            continue
        one_phase = np.asarray(used) == 1
        first = np.array([phase == charger.grid_phases[0] for phase in GRID_PHASES], dtype=float)
        drawn[s][:, one_phase] = first[:, None] * setpoint[s, one_phase]
    return drawn


def kw_per_rate_unit(charger: Charger, voltage_v: float) -> float:
    """kW drawn per A or W of a default limit, counting an A limit at the charger's full phases."""
    if rate_unit(charger) == "W":
        return 1.0 / W_PER_KW
    return voltage_v * charger.phases / W_PER_KW


def phase_a_per_rate_unit(charger: Charger, voltage_v: float) -> np.ndarray:
    """(3,) worst-case current on each grid phase per A or W of a default limit.

    A: the per-phase limit on each phase the charger is wired to, whatever EV comes. W on AC: a
    one-phase EV may draw the whole power on one phase, so W / V on each wired phase. DC draws
    balanced three-phase power, W / (3 V) per phase.
    """
    wired = np.array([phase in charger.grid_phases for phase in GRID_PHASES], dtype=float)
    if charger.kind == "dc":
        return wired * float(phase_current_of_balanced_kw(1.0 / W_PER_KW, voltage_v))
    if rate_unit(charger) == "W":
        return wired / voltage_v
    return wired


def max_limit(charger: Charger, voltage_v: float) -> float:
    """The charger's own maximum in its rate unit (per-phase A, or total W)."""
    limits_kw = [charger.max_power_kw] if charger.max_power_kw is not None else []
    if charger.kind == "ac" and charger.max_current_a is not None:
        limits_kw.append(charger.max_current_a * voltage_v * charger.phases / W_PER_KW)
    return min(limits_kw) / kw_per_rate_unit(charger, voltage_v)


def chargers_below_circuits(problem: Problem) -> np.ndarray:
    """(circuits, chargers) True where the charger hangs below the circuit, at any depth."""
    return _below_circuits(problem, [c.circuit for c in problem.site.chargers])


def _below_circuits(problem: Problem, hung_on: list[str | None]) -> np.ndarray:
    circuits = problem.site.circuits
    position = {c.id: i for i, c in enumerate(circuits)}
    parent = {c.id: c.parent for c in circuits}
    below = np.zeros((len(circuits), len(hung_on)), dtype=bool)
    for j, circuit in enumerate(hung_on):
        node = circuit
        while node is not None:
            below[position[node], j] = True
            node = parent[node]
    return below


def _session_matrix(problem: Problem, answer: dict[str, Any], key: str) -> np.ndarray:
    """(sessions, slots) one per-slot series of the answer, in problem order; null as 0."""
    by_id = {entry["id"]: entry for entry in answer["sessions"]}
    rows = [by_id[s.id][key] or [0.0] * problem.horizon.slots for s in problem.sessions]
    return np.array(rows, dtype=float).reshape(len(problem.sessions), problem.horizon.slots)


def _room(headroom: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(headroom, dtype=float), 0.0)
