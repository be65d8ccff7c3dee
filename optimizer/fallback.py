"""Rule-based schedules that respect every limit: water-filling, slot by slot.

Used when the solver finds no schedule in time (SPEC §1: "Never without an answer") and by the
replay's baseline strategies. In each slot, sessions are served one after another in a given
order, each getting the most that still leaves a way to choose PV use that keeps import,
export and every grid phase in bounds, and every circuit within its kW and phase limits. A
session whose share would fall below its minimum gets 0 (IEC 61851: no current below ~6 A).
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.rounding import CURRENT_STEP_A, DC_POWER_STEP_KW, floor_to_step
from smartcharge.optimizer.units import phase_current_of_balanced_kw

_SLACK = 1e-9


class SlotCapacity:
    """What is left of every limit in one slot as set-points are handed out.

    PV used is not fixed: a set-point is feasible when some PV use p satisfies every bound at
    once. Each bound is linear in the new set-point d (lower_i(d) <= p <= upper_j(d)), so the
    largest feasible d is the smallest crossing of a lower and an upper bound, computed for all
    pairs at once.
    """

    def __init__(self, index: ProblemIndex, slot: int, import_cap_kw: float = np.inf):
        self.index, self.slot = index, slot
        self.import_limit_kw = min(float(index.import_limit_kw[slot]), import_cap_kw)
        self.charging_kw = 0.0
        self.phase_a = np.zeros(3)
        self.circuit_kw = np.zeros(len(index.circuits.ids))
        self.circuit_phase_a = np.zeros((len(index.circuits.ids), 3))
        self._amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))

    def max_setpoint(self, session: int, already: float = 0.0) -> float:
        """Largest set-point increase of `session` in this slot that keeps every limit
        (unfloored), when it already holds `already` (counted in this capacity)."""
        index, t = self.index, self.slot
        if not index.plugged[session, t]:
            return 0.0
        kw_per_unit = index.kw_per_unit[session]
        phase_per_unit = index.phase_a_per_unit[session]
        limit = index.unit_max[session] - already
        circuits = index.circuits
        below = circuits.contains_session[:, session]
        if below.any():
            kw_room = (circuits.limit_kw[below] - self.circuit_kw[below]) / kw_per_unit
            limit = min(limit, kw_room.min())
            used = phase_per_unit > 0
            if used.any():
                phase_room = (
                    circuits.phase_limit_a[below][:, None] - self.circuit_phase_a[below][:, used]
                ) / phase_per_unit[used]
                limit = min(limit, phase_room.min())
        return max(0.0, min(limit, self._grid_room(kw_per_unit, phase_per_unit)))

    def _grid_room(self, kw_per_unit: float, phase_per_unit: np.ndarray) -> float:
        index, t = self.index, self.slot
        base, pv = index.base_load_kw[t], index.pv_kw[t]
        k = self._amps_per_kw
        finite = np.isfinite(index.grid_phase_limit_a[t])
        upper_a = index.phase_upper_a[t] if finite else 1e12
        lower_a = index.phase_lower_a[t] if finite else -1e12
        # lower bounds on PV used: alpha + beta * d; upper bounds: gamma + eta * d
        alpha = np.concatenate(
            [
                [0.0, base + self.charging_kw - self.import_limit_kw],
                base + (self.phase_a - upper_a) / k,
            ]
        )
        beta = np.concatenate([[0.0, kw_per_unit], phase_per_unit / k])
        gamma = np.concatenate(
            [
                [pv, base + self.charging_kw + index.export_limit_kw[t]],
                base + (self.phase_a - lower_a) / k,
            ]
        )
        eta = np.concatenate([[0.0, kw_per_unit], phase_per_unit / k])
        slope = beta[:, None] - eta[None, :]
        room = gamma[None, :] - alpha[:, None]
        if (room < -1e-6).any():
            return 0.0  # the slot is already at a limit (only in blocked slots)
        crossing = np.where(slope > _SLACK, room / np.where(slope > _SLACK, slope, 1.0), np.inf)
        return float(crossing.min())

    def add(self, session: int, setpoint: float) -> None:
        index = self.index
        kw = setpoint * index.kw_per_unit[session]
        phase_a = setpoint * index.phase_a_per_unit[session]
        self.charging_kw += kw
        self.phase_a += phase_a
        below = index.circuits.contains_session[:, session]
        self.circuit_kw[below] += kw
        self.circuit_phase_a[below] += phase_a


def executable_setpoint(index: ProblemIndex, session: int, wanted: float) -> float:
    """`wanted` floored to the set-point step; 0 if below the session's minimum."""
    step = CURRENT_STEP_A if index.is_ac[session] else DC_POWER_STEP_KW
    value = round(float(floor_to_step(np.asarray(wanted) / step, 1.0)) * step, 10)
    return value if value >= index.unit_min[session] - 1e-9 and value > 0 else 0.0


def fill_slot(index: ProblemIndex, slot: int, order: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Set-points of one slot: sessions in `order` each get min(wanted, what the limits leave)."""
    capacity = SlotCapacity(index, slot)
    setpoint = np.zeros(index.n_sessions)
    for s in order:
        if wanted[s] <= 0:
            continue
        value = executable_setpoint(index, s, min(wanted[s], capacity.max_setpoint(s)))
        if value > 0:
            capacity.add(s, value)
            setpoint[s] = value
    return setpoint


def water_fill(index: ProblemIndex) -> np.ndarray:
    """(S, T) set-points by priority, then earliest departure, each slot filled in turn."""
    departure = np.array([s.departure.timestamp() for s in index.problem.sessions])
    order = np.lexsort((departure, -index.priority)) if index.n_sessions else np.zeros(0, int)
    remaining_kwh = index.energy_kwh.copy()
    unit_kwh = index.kw_per_unit * index.step_h
    setpoints = np.zeros(index.plugged.shape)
    for t in range(index.slots):
        wanted = np.where(index.plugged[:, t], remaining_kwh / unit_kwh, 0.0)
        setpoints[:, t] = fill_slot(index, t, order, np.minimum(wanted, index.unit_max))
        remaining_kwh = np.maximum(remaining_kwh - setpoints[:, t] * unit_kwh, 0.0)
    return setpoints


def top_up(
    index: ProblemIndex,
    setpoints: np.ndarray,
    peak_kw: float | np.ndarray = np.inf,
    before_rounding: np.ndarray | None = None,
) -> np.ndarray:
    """Raise set-points of sessions still short of energy into whatever room rounding left.

    Flooring to 0.1 A frees a little capacity in every slot; a session that still misses
    energy gets it back, in priority then deadline order, within every limit and without
    raising import above `peak_kw` (per slot: the plan's peak of the slot's billing period
    before rounding; a higher one would cost a demand charge the plan had avoided). Given the
    schedule `before_rounding`, only the sessions that rounding cost more than 1 Wh are topped
    up.
    """
    unit_kwh = index.kw_per_unit * index.step_h
    delivered_kwh = (setpoints * unit_kwh[:, None]).sum(axis=1)
    wanting = index.energy_counts_kwh - delivered_kwh > 1e-6
    if before_rounding is not None:
        lost_kwh = ((before_rounding - setpoints) * unit_kwh[:, None]).sum(axis=1)
        wanting &= lost_kwh > 1e-3
    short = np.flatnonzero(wanting)
    if short.size == 0:
        return setpoints
    departure = np.array([index.problem.sessions[s].departure.timestamp() for s in short])
    short = short[np.lexsort((departure, -index.priority[short]))]
    result = setpoints.copy()
    cap_kw = np.broadcast_to(np.asarray(peak_kw, dtype=float), (index.slots,))
    remaining_kwh = np.maximum(index.energy_counts_kwh - delivered_kwh, 0.0)  # only what is unmet
    for t in np.flatnonzero(index.plugged[short].any(axis=0)):
        capacity = SlotCapacity(index, int(t), import_cap_kw=float(cap_kw[t]))
        for s in np.flatnonzero(result[:, t] > 0):
            capacity.add(int(s), result[s, t])
        for s in short:
            if remaining_kwh[s] <= 1e-9 or not index.plugged[s, t]:
                continue
            room = min(capacity.max_setpoint(int(s), result[s, t]), remaining_kwh[s] / unit_kwh[s])
            value = executable_setpoint(index, int(s), result[s, t] + room)
            if value > result[s, t]:
                capacity.add(int(s), value - result[s, t])
                remaining_kwh[s] -= (value - result[s, t]) * unit_kwh[s]
                result[s, t] = value
    return result
