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
    circuits: CircuitIndex
    warnings: list[str] = field(default_factory=list)

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

    energy = np.array([s.energy_kwh for s in sessions], dtype=float)
    hours_after_horizon = np.maximum(departure - starts[-1], 0) / 3.6e12
    energy_counts = np.maximum(energy - max_power * hours_after_horizon, 0.0)

    for i in np.flatnonzero(~plugged.any(axis=1) & (energy_counts > 0)):
        warnings.append(f"session '{sessions[i].id}' has no slot in the horizon to charge in")
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
        circuits=_circuit_index(problem, charger_of_session),
        warnings=warnings,
    )


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
