"""A validated problem as numpy arrays: sessions x slots where plugged in, phases, circuits.

Everything the model builder, the fallback and the KPIs need is computed here once, vectorized,
so that none of them re-derives a limit from the problem document. The decision quantity of a
session is its per-phase current [A] on AC and its power [kW] on DC; `kw_per_unit` and
`phase_a_per_unit` turn it into site power and grid-phase current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from smartcharge.optimizer.problem import (
    GRID_PHASES,
    Problem,
    session_max_current_a,
    session_max_power_kw,
    session_phases,
    session_switches_phases,
)
from smartcharge.optimizer.tariff import DemandPeriods, demand_periods, slot_prices
from smartcharge.optimizer.units import kw_per_a, phase_current_of_balanced_kw

if TYPE_CHECKING:  # the solver path runs without pandas (a cold start saves 0.2 s)
    import pandas as pd

# A slot is "blocked" when base load minus all PV alone breaks the import or a phase limit.
_BLOCK_TOLERANCE_KW = 1e-9


def slot_series(value: float | list[float] | None, slots: int, name: str) -> np.ndarray:
    """A number, a list of `slots` numbers, or None (= 0) as a float array of `slots` values."""
    if value is None:
        return np.zeros(slots)
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return np.full(slots, float(array))
    if array.shape != (slots,):
        raise ValueError(f"{name} has {array.size} values, expected {slots}")
    return array


def phase_limit_series(value: float | list[float | None] | None, slots: int) -> np.ndarray:
    """The grid's phase limit [A] per slot: inf where there is none (null, or a null entry)."""
    if isinstance(value, list):
        return np.array([np.inf if v is None else v for v in value], dtype=float)
    return np.full(slots, np.inf if value is None else float(value))


@dataclass(frozen=True)
class CircuitIndex:
    ids: list[str]
    limit_kw: np.ndarray  # (C,), inf where none
    phase_limit_a: np.ndarray  # (C,), inf where none
    contains_session: np.ndarray  # (C, S) bool: the session's charger is below the circuit


@dataclass(frozen=True)
class BatteryIndex:
    """The site's batteries (SPEC §4) as arrays, b a battery.

    Charge and discharge are kW at the battery's terminals, as the site meter sees them; the
    state moves by charge x sqrt(eta) x dt and by discharge / sqrt(eta) x dt. The state's range
    includes the starting state (a battery measured outside its range may stay there, but never
    go further), and the final state is what the battery can reach by itself where the site's
    limits leave it less room than its `final_soc_kwh` needs (`optimizer.index`, warned).
    """

    ids: list[str]
    soc0_kwh: np.ndarray  # (B,)
    min_soc_kwh: np.ndarray  # (B,) widened to the starting state
    max_soc_kwh: np.ndarray  # (B,)
    final_soc_kwh: np.ndarray  # (B,) the least end state planned for
    max_charge_kw: np.ndarray  # (B,)
    max_discharge_kw: np.ndarray  # (B,)
    charge_upper_kw: np.ndarray  # (B, T): 0 in blocked slots
    sqrt_efficiency: np.ndarray  # (B,)
    cycle_cost_per_kwh: np.ndarray  # (B,)
    in_circuit: np.ndarray  # (C, B) bool: the battery is below the circuit

    @property
    def count(self) -> int:
        return len(self.ids)

    def soc_kwh(self, power_kw: np.ndarray, step_h: float) -> np.ndarray:
        """(B, T) state at the end of each slot of net powers (B, T), + charging."""
        charge = np.maximum(power_kw, 0.0) * self.sqrt_efficiency[:, None]
        discharge = np.maximum(-power_kw, 0.0) / self.sqrt_efficiency[:, None]
        return self.soc0_kwh[:, None] + np.cumsum((charge - discharge) * step_h, axis=1)


@dataclass(frozen=True)
class ProblemIndex:
    problem: Problem
    slots: int
    step_h: float
    slot_times: tuple[datetime, ...]  # start of each slot, in the horizon's time zone
    voltage_v: float
    # per slot
    import_limit_kw: np.ndarray  # what is planned against: raised where unavoidable
    export_limit_kw: np.ndarray
    import_limit_given_kw: np.ndarray
    export_limit_given_kw: np.ndarray
    import_price: np.ndarray  # per kWh, the slot's time-weighted mean (optimizer.tariff)
    export_price: np.ndarray
    demand: DemandPeriods  # the billing period of each slot's peak
    base_load_kw: np.ndarray
    pv_kw: np.ndarray
    grid_phase_limit_a: np.ndarray  # (T,) as given, inf where none
    phase_upper_a: np.ndarray  # (T,) per grid phase, widened where unavoidable
    phase_lower_a: np.ndarray
    blocked_slots: np.ndarray  # (T,) bool
    # per session
    session_ids: list[str]
    charger_of_session: np.ndarray  # (S,) index into site.chargers
    is_ac: np.ndarray
    phases_used: np.ndarray
    unit_max: np.ndarray  # A on AC, kW on DC
    unit_min: np.ndarray  # semi-continuous floor: A on AC, kW on DC
    kw_per_unit: np.ndarray
    phase_a_per_unit: np.ndarray  # (S, 3)
    max_power_kw: np.ndarray
    energy_kwh: np.ndarray
    energy_counts_kwh: np.ndarray
    priority: np.ndarray
    plugged: np.ndarray  # (S, T) bool, False in blocked slots
    # An earlier departure the session may leave at (SPEC §6): the energy due before slot
    # `early_slot[s]` (what fits by then at its max power); 0 kWh where there is none.
    early_slot: np.ndarray  # (S,) int
    early_kwh: np.ndarray  # (S,)
    circuits: CircuitIndex
    warnings: list[str] = field(default_factory=list)
    # SPEC §4. V2G: the most a session may discharge per slot (set-point units; 0 when it may
    # not) and in all. Phase switching: sessions whose phases are decided per slot, with their
    # limits on one phase (the charger's first after rotation); unit_max etc. hold three.
    batteries: BatteryIndex | None = None
    discharge_max_unit: np.ndarray | None = None  # (S,)
    discharge_max_kwh: np.ndarray | None = None  # (S,)
    switching: np.ndarray | None = None  # (S,) bool
    unit_max_one: np.ndarray | None = None  # (S,) A on one phase
    phase_a_per_unit_one: np.ndarray | None = None  # (S, 3)
    max_phase_switches: int = 4
    least_net_kwh: np.ndarray | None = None  # (S,) the least net energy a V2G session ends with

    @property
    def n_sessions(self) -> int:
        return len(self.session_ids)

    @property
    def slot_start(self) -> pd.DatetimeIndex:
        """The slots' starts as a pandas index (imports pandas)."""
        import pandas as pd

        return pd.DatetimeIndex(self.slot_times)

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(session, slot) of every pair where a session may draw power, row-major order."""
        return np.nonzero(self.plugged)

    @property
    def needs_binary(self) -> np.ndarray:
        """(S,) whether a session's set-point is semi-continuous (0 or >= a floor)."""
        return self.unit_min > 0

    @property
    def n_batteries(self) -> int:
        return 0 if self.batteries is None else self.batteries.count

    @property
    def bidirectional(self) -> np.ndarray:
        """(S,) whether a session may discharge (SPEC §4, V2G)."""
        if self.discharge_max_unit is None:
            return np.zeros(self.n_sessions, dtype=bool)
        return self.discharge_max_unit > 0

    @property
    def switches(self) -> np.ndarray:
        """(S,) whether a session's phases are decided per slot (SPEC §4)."""
        if self.switching is None:
            return np.zeros(self.n_sessions, dtype=bool)
        return self.switching

    def nominal_phases(self) -> np.ndarray:
        """(S, T) the phases each session uses in every slot when it does not switch."""
        return np.repeat(self.phases_used[:, None], self.slots, axis=1)

    def kw_per_unit_at(self, phases: np.ndarray | None) -> np.ndarray:
        """(S, T) kW per unit of set-point with `phases` (S, T) used (None: the nominal)."""
        if phases is None:
            return np.repeat(self.kw_per_unit[:, None], self.slots, axis=1)
        return np.where(self.is_ac[:, None], kw_per_a(self.voltage_v, phases), 1.0)

    def phase_currents_a(self, setpoint: np.ndarray, phases: np.ndarray | None) -> np.ndarray:
        """(3, T) current per grid phase of (S, T) set-points (negative: discharge)."""
        if phases is None or not self.switches.any():
            return self.phase_a_per_unit.T @ setpoint
        one = self.switches[:, None] & (phases == 1)
        assert self.phase_a_per_unit_one is not None
        return self.phase_a_per_unit.T @ np.where(one, 0.0, setpoint) + (
            self.phase_a_per_unit_one.T @ np.where(one, setpoint, 0.0)
        )


def build_index(problem: Problem) -> ProblemIndex:
    """Turn a validated problem (with base load and PV resolved) into numpy index sets."""
    site, horizon = problem.site, problem.horizon
    slots, voltage_v = horizon.slots, site.grid.voltage_v
    slot_times = tuple(horizon.start + k * horizon.step for k in range(slots + 1))
    warnings: list[str] = []

    import_limit = slot_series(site.grid.import_limit_kw, slots, "import_limit_kw")
    export_limit = slot_series(site.grid.export_limit_kw, slots, "export_limit_kw")
    base_load = slot_series(problem.base_load_kw, slots, "base_load_kw")
    pv = slot_series(problem.pv_kw, slots, "pv_kw")
    phase_limit = phase_limit_series(site.grid.phase_limit_a, slots)

    limits = _uncontrollable_limits(
        base_load, pv, import_limit, export_limit, phase_limit, voltage_v, warnings
    )
    any_blocked = limits.blocked

    chargers = site.chargers
    charger_pos = {c.id: i for i, c in enumerate(chargers)}
    sessions = problem.sessions
    n = len(sessions)
    charger_of_session = np.array([charger_pos[s.charger_id] for s in sessions], dtype=int)
    is_ac = np.array([chargers[c].kind == "ac" for c in charger_of_session], dtype=bool)
    phases_used = np.array(
        [session_phases(s, chargers[c]) for s, c in zip(sessions, charger_of_session, strict=True)],
        dtype=int,
    )
    max_power = np.array(
        [
            session_max_power_kw(s, chargers[c], voltage_v)
            for s, c in zip(sessions, charger_of_session, strict=True)
        ],
        dtype=float,
    )
    max_current = np.array(
        [
            session_max_current_a(s, chargers[c], voltage_v) if is_ac[i] else np.nan
            for i, (s, c) in enumerate(zip(sessions, charger_of_session, strict=True))
        ],
        dtype=float,
    )
    unit_max = np.where(is_ac, max_current, max_power) if n else np.zeros(0)
    unit_min = np.array(
        [
            chargers[c].min_current_a if is_ac[i] else chargers[c].min_power_kw
            for i, c in enumerate(charger_of_session)
        ],
        dtype=float,
    )
    kw_per_unit = np.where(is_ac, kw_per_a(voltage_v, phases_used), 1.0) if n else np.zeros(0)
    phase_a_per_unit = _phase_currents_per_unit(problem, charger_of_session, is_ac, phases_used)

    arrival = _utc_ns([s.arrival for s in sessions])
    departure = _utc_ns([s.departure for s in sessions])
    starts = _utc_ns(list(slot_times))
    slot_begin, slot_end = starts[:-1], starts[1:]
    plugged = (slot_begin[None, :] >= arrival[:, None]) & (slot_end[None, :] <= departure[:, None])
    plugged &= ~any_blocked[None, :]
    plugged &= (unit_max > 0)[:, None]

    # A battery seen full wants nothing more (SPEC §6): its capacity goes to the others.
    energy = np.array([0.0 if s.ev_full else s.energy_kwh for s in sessions], dtype=float)
    hours_after_horizon = np.maximum(departure - starts[-1], 0) / 3.6e12
    energy_counts = np.maximum(energy - max_power * hours_after_horizon, 0.0)
    early_slot, early_kwh = _early_energy(
        sessions, slot_end, horizon.step_h, plugged, max_power, energy_counts
    )

    for i in np.flatnonzero(~plugged.any(axis=1) & (energy_counts > 0)):
        warnings.append(f"session '{sessions[i].id}' has no slot in the horizon to charge in")
    spec4 = _storage_and_switching(problem, charger_of_session, is_ac, kw_per_unit, unit_max)
    # A V2G session may end the horizon below where it started only by what it can still
    # charge after the horizon beyond its energy_kwh (SPEC §4: no driver pays with range).
    spec4["least_net_kwh"] = np.minimum(energy - max_power * hours_after_horizon, 0.0)
    prices = slot_prices(
        problem,
        slot_times,
        slot_series(problem.tariff.import_price_per_kwh, slots, "import_price"),
        slot_series(problem.tariff.export_price_per_kwh, slots, "export_price"),
    )

    return ProblemIndex(
        problem=problem,
        slots=slots,
        step_h=horizon.step_h,
        slot_times=slot_times[:-1],
        voltage_v=voltage_v,
        import_limit_kw=limits.import_limit_kw,
        export_limit_kw=limits.export_limit_kw,
        import_limit_given_kw=import_limit,
        export_limit_given_kw=export_limit,
        import_price=prices.import_per_kwh,
        export_price=prices.export_per_kwh,
        demand=demand_periods(problem, slot_times[:-1]),
        base_load_kw=base_load,
        pv_kw=pv,
        grid_phase_limit_a=phase_limit,
        phase_upper_a=limits.phase_upper_a,
        phase_lower_a=limits.phase_lower_a,
        blocked_slots=any_blocked,
        session_ids=[s.id for s in sessions],
        charger_of_session=charger_of_session,
        is_ac=is_ac,
        phases_used=phases_used,
        unit_max=unit_max,
        unit_min=unit_min,
        kw_per_unit=kw_per_unit,
        phase_a_per_unit=phase_a_per_unit,
        max_power_kw=max_power,
        energy_kwh=energy,
        energy_counts_kwh=energy_counts,
        priority=np.array([s.priority for s in sessions], dtype=int),
        plugged=plugged,
        early_slot=early_slot,
        early_kwh=early_kwh,
        circuits=_circuit_index(problem, charger_of_session),
        warnings=warnings,
        batteries=_battery_index(problem, base_load, pv, limits, warnings),
        **spec4,
    )


def _early_energy(
    sessions: list,
    slot_end_ns: np.ndarray,
    step_h: float,
    plugged: np.ndarray,
    max_power_kw: np.ndarray,
    energy_counts_kwh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per session with a `departure_early`: the first slot not wholly before it, and the
    energy due by then: as much of what counts as its max power can deliver in the slots it
    is plugged in before it (so the part is always deliverable on its own). All of it, not a
    share: in replays with unknown needs, what is due early must be the high estimate (a due
    part of the median need lost an eighth of the energy on the depot week)."""
    n = len(sessions)
    early_slot = np.zeros(n, dtype=int)
    has_early = np.array([s.departure_early is not None for s in sessions], dtype=bool)
    if not has_early.any():
        return early_slot, np.zeros(n)
    early_ns = _utc_ns([s.departure_early for s in sessions if s.departure_early is not None])
    early_slot[has_early] = np.searchsorted(slot_end_ns, early_ns, side="right")
    before = np.arange(plugged.shape[1])[None, :] < early_slot[:, None]
    hours = (plugged & before).sum(axis=1) * step_h
    return early_slot, np.minimum(energy_counts_kwh, max_power_kw * hours)


@dataclass(frozen=True)
class _Limits:
    blocked: np.ndarray
    import_limit_kw: np.ndarray  # what is planned against: raised where unavoidable
    export_limit_kw: np.ndarray
    phase_upper_a: np.ndarray
    phase_lower_a: np.ndarray


def _uncontrollable_limits(
    base_load: np.ndarray,
    pv: np.ndarray,
    import_limit: np.ndarray,
    export_limit: np.ndarray,
    phase_limit_a: np.ndarray,
    voltage_v: float,
    warnings: list[str],
) -> _Limits:
    """The limits the engine plans against, where the site breaks one whatever it does.

    PV can be curtailed, so with no charging the net load can be anything between base - PV
    and base. When base - PV alone breaks the import limit or a phase limit (SPEC §1, Grid),
    charging is 0 there and the limit is raised to what cannot be avoided; when a negative
    base load (net metering) alone exports more than allowed, charging may absorb it, so only
    the export and the phases' lower limits are widened. Each case adds a warning.
    """
    k = float(phase_current_of_balanced_kw(1.0, voltage_v))
    net_min_kw = base_load - pv
    import_blocked = net_min_kw > import_limit + _BLOCK_TOLERANCE_KW
    phase_blocked = net_min_kw * k > phase_limit_a + 1e-9
    export_over = -base_load > export_limit + _BLOCK_TOLERANCE_KW
    phase_low = base_load * k < -phase_limit_a - 1e-9
    for mask, what, outcome in (
        (import_blocked, "import limit", "no charging planned there"),
        (phase_blocked, "grid phase limit", "no charging planned there"),
        (export_over, "export limit", "export is unavoidable there"),
        (phase_low, "grid phase limit (export direction)", "it is unavoidable there"),
    ):
        if mask.any():
            warnings.append(
                f"base load minus PV alone breaks the {what} in slots "
                f"{_slot_ranges(np.flatnonzero(mask))}: {outcome}"
            )
    return _Limits(
        blocked=import_blocked | phase_blocked,
        import_limit_kw=np.where(import_blocked, net_min_kw, import_limit),
        export_limit_kw=np.maximum(export_limit, -base_load),
        phase_upper_a=np.maximum(phase_limit_a, net_min_kw * k),
        phase_lower_a=np.minimum(-phase_limit_a, base_load * k),
    )


def _storage_and_switching(
    problem: Problem,
    charger_of_session: np.ndarray,
    is_ac: np.ndarray,
    kw_per_unit: np.ndarray,
    unit_max: np.ndarray,
) -> dict:
    """The per-session arrays of SPEC §4: discharge limits and one-phase limits."""
    chargers, sessions = problem.site.chargers, problem.sessions
    voltage_v = problem.site.grid.voltage_v
    n = len(sessions)
    discharge_kw = np.array(
        [0.0 if s.discharge is None else s.discharge.max_power_kw for s in sessions], dtype=float
    )
    discharge_max_unit = (
        np.minimum(discharge_kw / np.where(kw_per_unit > 0, kw_per_unit, 1.0), unit_max)
        if n
        else np.zeros(0)
    )
    switching = np.array(
        [
            session_switches_phases(s, chargers[c])
            for s, c in zip(sessions, charger_of_session, strict=True)
        ],
        dtype=bool,
    )
    unit_max_one = np.array(
        [
            session_max_current_a(s, chargers[c], voltage_v, phases=1) if switching[i] else 0.0
            for i, (s, c) in enumerate(zip(sessions, charger_of_session, strict=True))
        ],
        dtype=float,
    )
    phase_one = np.zeros((n, 3))
    for i in np.flatnonzero(switching):
        first = chargers[charger_of_session[i]].grid_phases[0]
        phase_one[i, GRID_PHASES.index(first)] = 1.0
    return {
        "discharge_max_unit": discharge_max_unit,
        "discharge_max_kwh": np.array(
            [0.0 if s.discharge is None else s.discharge.max_energy_kwh for s in sessions],
            dtype=float,
        ),
        "switching": switching,
        "unit_max_one": unit_max_one,
        "phase_a_per_unit_one": phase_one,
        "max_phase_switches": problem.options.max_phase_switches,
    }


def _battery_index(
    problem: Problem,
    base_load: np.ndarray,
    pv: np.ndarray,
    limits: _Limits,
    warnings: list[str],
) -> BatteryIndex | None:
    batteries = problem.site.batteries
    if not batteries:
        return None
    slots = problem.horizon.slots
    soc0 = np.array([b.soc_kwh for b in batteries], dtype=float)
    min_soc = np.array([b.min_soc_kwh for b in batteries], dtype=float)
    max_soc = np.array([b.upper_soc_kwh for b in batteries], dtype=float)
    for b, battery in enumerate(batteries):
        if not min_soc[b] <= soc0[b] <= max_soc[b]:
            warnings.append(
                f"battery '{battery.id}' starts at {soc0[b]:g} kWh, outside [min_soc_kwh, "
                f"max_soc_kwh] = [{min_soc[b]:g}, {max_soc[b]:g}]: it is planned not to go "
                "further out"
            )
    max_charge = np.array([b.max_charge_kw for b in batteries], dtype=float)
    charge_upper = np.repeat(max_charge[:, None], slots, axis=1)
    charge_upper[:, limits.blocked] = 0.0
    sqrt_eta = np.sqrt(np.array([b.efficiency for b in batteries], dtype=float))
    circuits = problem.site.circuits
    position = {c.id: i for i, c in enumerate(circuits)}
    parent = {c.id: c.parent for c in circuits}
    in_circuit = np.zeros((len(circuits), len(batteries)), dtype=bool)
    for b, battery in enumerate(batteries):
        node = battery.circuit
        while node is not None:
            in_circuit[position[node], b] = True
            node = parent[node]
    final = np.array([b.final_target_kwh for b in batteries], dtype=float)
    reachable = soc0 + _reachable_charge_kwh(
        problem, charge_upper, sqrt_eta, in_circuit, base_load, pv, limits
    )
    for b, battery in enumerate(batteries):
        if final[b] > max(reachable[b], soc0[b]) + 1e-9:
            warnings.append(
                f"battery '{battery.id}' can reach only {reachable[b]:.3f} kWh by the horizon's "
                f"end within the site's limits: its final_soc_kwh {final[b]:g} is not met"
            )
    # A hair below what is reachable, so the solver's round-off cannot make it infeasible.
    final = np.minimum(final, np.maximum(reachable - 1e-6, soc0))
    return BatteryIndex(
        ids=[b.id for b in batteries],
        soc0_kwh=soc0,
        min_soc_kwh=np.minimum(min_soc, soc0),
        max_soc_kwh=np.maximum(max_soc, soc0),
        final_soc_kwh=final,
        max_charge_kw=max_charge,
        max_discharge_kw=np.array([b.max_discharge_kw for b in batteries], dtype=float),
        charge_upper_kw=charge_upper,
        sqrt_efficiency=sqrt_eta,
        cycle_cost_per_kwh=np.array([b.cycle_cost_per_kwh for b in batteries], dtype=float),
        in_circuit=in_circuit,
    )


def _reachable_charge_kwh(
    problem: Problem,
    charge_upper_kw: np.ndarray,
    sqrt_eta: np.ndarray,
    in_circuit: np.ndarray,
    base_load: np.ndarray,
    pv: np.ndarray,
    limits: _Limits,
) -> np.ndarray:
    """(B,) what each battery can store by the horizon's end with no session charging: the
    room the import limit, the grid's phases and its circuits leave after base load minus all
    PV, shared in proportion to the batteries' charge power. Planning for more than this could
    leave no schedule at all (the engine never fails for what it cannot control)."""
    voltage_v = problem.site.grid.voltage_v
    kw_per_balanced_a = 3.0 * voltage_v / 1000.0
    net_kw = base_load - pv
    room_kw = np.minimum(
        limits.import_limit_kw - net_kw,
        limits.phase_upper_a * kw_per_balanced_a - net_kw,
    )
    share = charge_upper_kw.max(axis=1) / max(float(charge_upper_kw.max(axis=1).sum()), 1e-9)
    with np.errstate(invalid="ignore"):  # a battery with no share of an unlimited room: 0
        shared_kw = np.nan_to_num(share[:, None] * np.maximum(room_kw, 0.0)[None, :], nan=0.0)
    cap_kw = np.minimum(charge_upper_kw, shared_kw)
    for c, circuit in enumerate(problem.site.circuits):
        below = in_circuit[c]
        circuit_kw = min(
            np.inf if circuit.limit_kw is None else circuit.limit_kw,
            np.inf if circuit.phase_limit_a is None else circuit.phase_limit_a * kw_per_balanced_a,
        )
        if not below.any() or not np.isfinite(circuit_kw):
            continue
        within = share[below] / max(float(share[below].sum()), 1e-9)
        cap_kw[below] = np.minimum(cap_kw[below], within[:, None] * circuit_kw)
    return sqrt_eta * cap_kw.sum(axis=1) * problem.horizon.step_h


def _phase_currents_per_unit(
    problem: Problem, charger_of_session: np.ndarray, is_ac: np.ndarray, phases_used: np.ndarray
) -> np.ndarray:
    """(S, 3): grid-phase current [A] per unit of a session's set-point.

    A one-phase EV draws on the charger's first phase and a two-phase EV on its first two
    (SPEC §1, Phases); the charger's rotation maps those onto grid phases. DC draws balanced
    three-phase power, so one kW is 1000 / (3 V) amperes on each grid phase.
    """
    chargers = problem.site.chargers
    voltage_v = problem.site.grid.voltage_v
    matrix = np.zeros((len(charger_of_session), 3))
    for i, c in enumerate(charger_of_session):
        if not is_ac[i]:
            matrix[i, :] = phase_current_of_balanced_kw(1.0, voltage_v)
            continue
        for grid_phase in chargers[c].grid_phases[: phases_used[i]]:
            matrix[i, GRID_PHASES.index(grid_phase)] = 1.0
    return matrix


def _circuit_index(problem: Problem, charger_of_session: np.ndarray) -> CircuitIndex:
    circuits = problem.site.circuits
    parent = {c.id: c.parent for c in circuits}
    position = {c.id: i for i, c in enumerate(circuits)}
    contains = np.zeros((len(circuits), len(charger_of_session)), dtype=bool)
    for s, c in enumerate(charger_of_session):
        node = problem.site.chargers[c].circuit
        while node is not None:
            contains[position[node], s] = True
            node = parent[node]
    return CircuitIndex(
        ids=[c.id for c in circuits],
        limit_kw=np.array([np.inf if c.limit_kw is None else c.limit_kw for c in circuits]),
        phase_limit_a=np.array(
            [np.inf if c.phase_limit_a is None else c.phase_limit_a for c in circuits]
        ),
        contains_session=contains,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_ns(times: list[datetime]) -> np.ndarray:
    """Aware times as integer nanoseconds since the epoch (exact: no float seconds)."""
    return np.array(
        [(t - _EPOCH) // timedelta(microseconds=1) * 1000 for t in times], dtype=np.int64
    )


def _slot_ranges(slots: np.ndarray) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    if slots.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(slots) != 1)
    starts = np.concatenate([[slots[0]], slots[breaks + 1]])
    ends = np.concatenate([slots[breaks], [slots[-1]]])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True))
