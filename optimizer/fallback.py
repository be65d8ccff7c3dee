"""Rule-based schedules that respect every limit: water-filling, slot by slot, vectorised.

Used when the solver finds no schedule in time (SPEC §1: "Never without an answer"), to top up
a solver's schedule (`optimizer.top_up`) and by the replay's baseline strategies. In each slot,
sessions are served in a given order (priority, then earliest departure), each getting the most
that every limit still leaves: the grid's import and phases (with PV used as far as the export
limit and the phases allow, so that no PV is curtailed while a session could take it), every
circuit's kW and phase limits, the session's own maximum and what it still wants. A session
whose share would fall below its minimum gets 0 (IEC 61851: no current below ~6 A).

Every limit is a row of a sparse matrix over sessions (units of the limit per unit of
set-point), so a slot is served in a few array operations rather than a Python loop over its
sessions: each row's room is handed out along the serving order by prefix sums of what the
sessions before want. That is conservative where a session wants more than another row lets it
take, so the slot is served again (`PASSES`) with what is left, until nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.rounding import CURRENT_STEP_A, DC_POWER_STEP_KW, floor_to_step
from smartcharge.optimizer.units import phase_current_of_balanced_kw

# Passes over a slot until nothing moves: rooms read at today's PV use grow as charging lets
# more PV in (by a third of the gap per pass for a one-phase EV on a capped phase), so a few
# more passes reach the last 0.1 A; the loop stops as soon as a pass moves nothing.
PASSES = 16
_EPS = 1e-9


@dataclass(frozen=True)
class LimitRows:
    """Every limit a set-point increase uses, as rows: the import row (kW), the three grid
    phases (A), each circuit's kW and each circuit's phases (A)."""

    row: np.ndarray  # (E,) row of each entry
    session: np.ndarray  # (E,) session of each entry
    coefficient: np.ndarray  # (E,) units of the row per unit of set-point
    circuit_limit: np.ndarray  # (R,) the fixed limit of circuit rows, nan for grid rows
    grid_rows: int  # rows 0..grid_rows-1 are the import row and the grid phases
    circuit_of_row: np.ndarray  # (R,) the circuit of each row, -1 for grid rows
    is_phase_row: np.ndarray  # (R,) bool: the row is in A on one phase (else kW)

    @classmethod
    def of(cls, index: ProblemIndex) -> LimitRows:
        sessions = np.arange(index.n_sessions)
        rows, members, coefficients, limits = [], [], [], []
        circuit_of_row, is_phase_row = [-1], [False]
        rows.append(np.zeros(sessions.size, dtype=int))
        members.append(sessions)
        coefficients.append(index.kw_per_unit)
        n_rows = 1
        if np.isfinite(index.grid_phase_limit_a).any():  # per slot: inf where none
            for phi in range(3):
                on = index.phase_a_per_unit[:, phi] > 0
                rows.append(np.full(on.sum(), n_rows + phi))
                members.append(sessions[on])
                coefficients.append(index.phase_a_per_unit[on, phi])
            n_rows += 3
            circuit_of_row += [-1] * 3
            is_phase_row += [True] * 3
        grid_rows = n_rows
        limits.append(np.full(grid_rows, np.nan))
        circuits = index.circuits
        circuit_of, member = np.nonzero(circuits.contains_session)
        for c in range(len(circuits.ids)):
            below = member[circuit_of == c]
            if np.isfinite(circuits.limit_kw[c]):
                rows.append(np.full(below.size, n_rows))
                members.append(below)
                coefficients.append(index.kw_per_unit[below])
                limits.append(np.array([circuits.limit_kw[c]]))
                n_rows += 1
                circuit_of_row.append(c)
                is_phase_row.append(False)
            if np.isfinite(circuits.phase_limit_a[c]):
                for phi in range(3):
                    on = below[index.phase_a_per_unit[below, phi] > 0]
                    rows.append(np.full(on.size, n_rows))
                    members.append(on)
                    coefficients.append(index.phase_a_per_unit[on, phi])
                    limits.append(np.array([circuits.phase_limit_a[c]]))
                    n_rows += 1
                    circuit_of_row.append(c)
                    is_phase_row.append(True)
        return cls(
            row=np.concatenate(rows),
            session=np.concatenate(members),
            coefficient=np.concatenate(coefficients).astype(float),
            circuit_limit=np.concatenate(limits),
            grid_rows=grid_rows,
            circuit_of_row=np.array(circuit_of_row, dtype=int),
            is_phase_row=np.array(is_phase_row, dtype=bool),
        )

    def usage(self, setpoint: np.ndarray) -> np.ndarray:
        """(R, T) what a schedule uses of every row."""
        usage = np.zeros((self.circuit_limit.size, setpoint.shape[1]))
        np.add.at(usage, self.row, self.coefficient[:, None] * setpoint[self.session])
        return usage


class _Slot:
    """The rooms of one slot's limits as set-points are raised."""

    def __init__(
        self, index: ProblemIndex, rows: LimitRows, t: int, usage: np.ndarray, import_cap_kw: float
    ):
        self.index, self.rows, self.t = index, rows, t
        self.usage = usage.copy()
        self.import_limit_kw = min(float(index.import_limit_kw[t]), import_cap_kw)
        self._amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))

    def room(self) -> np.ndarray:
        """(R,) what each row still allows. PV is used as far as export and the phases' lower
        limits let it (more charging only lets it go further), which maximises every room."""
        index, t, usage = self.index, self.t, self.usage
        k = self._amps_per_kw
        base, charging = index.base_load_kw[t], usage[0]
        # PV used now: what export and the phases' lower limits let in. Charging more only
        # lets more in (`optimizer.flows` uses all it can), so the phase rooms are read at
        # today's use (safe), and the import row's at the most PV could reach: either it does,
        # or the export limit caps it and the site exports instead of importing.
        pv_reach = index.pv_kw[t]
        pv_used = min(pv_reach, base + charging + index.export_limit_kw[t])
        phase_rooms: list[float] = []
        if self.rows.grid_rows > 1:
            phases = usage[1:4]
            lower_cap = float((base + (phases - index.phase_lower_a[t]) / k).min())
            pv_reach, pv_used = max(min(pv_reach, lower_cap), 0.0), min(pv_used, lower_cap)
            phase_rooms = list(index.phase_upper_a[t] - phases - (base - pv_used) * k)
        grid = [self.import_limit_kw - base - charging + pv_reach, *phase_rooms]
        room = self.rows.circuit_limit - usage
        room[: self.rows.grid_rows] = grid
        return np.maximum(room, 0.0)

    def add(self, sessions: np.ndarray, increase: np.ndarray) -> None:
        rows = self.rows
        moved = np.zeros(rows.circuit_limit.size)
        delta = np.zeros(self.index.n_sessions)
        delta[sessions] = increase
        np.add.at(moved, rows.row, rows.coefficient * delta[rows.session])
        self.usage += moved


def fill(
    index: ProblemIndex,
    setpoint: np.ndarray,
    wanted_kwh: np.ndarray,
    rank: np.ndarray,
    import_cap_kw: float | np.ndarray = np.inf,
    rows: LimitRows | None = None,
    fixed_usage: np.ndarray | None = None,
) -> np.ndarray:
    """`setpoint` (S, T) raised slot by slot, in time order, for sessions that still want
    energy (`wanted_kwh`, per session), served in `rank` order (lower first) in each slot,
    within every limit and without importing more than `import_cap_kw` (one cap, or one per
    slot: each billing period's own peak). `fixed_usage` (R, T) is what something else uses
    of the circuit rows (a battery below a circuit)."""
    rows = LimitRows.of(index) if rows is None else rows
    result = setpoint.copy()
    usage = rows.usage(result)
    if fixed_usage is not None:
        usage = usage + fixed_usage
    unit_kwh = np.maximum(index.kw_per_unit * index.step_h, _EPS)
    step = np.where(index.is_ac, CURRENT_STEP_A, DC_POWER_STEP_KW)
    # What a session wants, up to a whole step (set-points move in steps of 0.1 A), and never
    # more than it asked for in all.
    room_kwh = index.energy_kwh - (result * unit_kwh[:, None]).sum(axis=1)
    wanted_units = np.ceil(wanted_kwh / unit_kwh / step - 1e-6) * step
    # A session short of less than its minimum for one slot may take the minimum (more than
    # it is short of, not more than it asked for): otherwise the last of its energy never comes.
    asked_units = np.clip(room_kwh / unit_kwh, 0.0, None)
    wanted_units = np.clip(np.minimum(wanted_units, asked_units), 0.0, None)
    cap_kw = np.broadcast_to(np.asarray(import_cap_kw, dtype=float), (index.slots,))
    for t in np.flatnonzero(index.plugged[wanted_units > _EPS].any(axis=0)):
        slot = _Slot(index, rows, int(t), usage[:, t], float(cap_kw[t]))
        for _ in range(PASSES):
            x = result[:, t]
            candidates = np.flatnonzero(
                index.plugged[:, t] & (wanted_units > _EPS) & (x < index.unit_max - step + _EPS)
            )
            if candidates.size == 0:
                break
            candidates = candidates[np.argsort(rank[candidates], kind="stable")]
            increase = _serve(
                index, rows, slot.room(), candidates, x, wanted_units, asked_units, step
            )
            moved = increase > 0
            if not moved.any():
                break
            sessions, increase = candidates[moved], increase[moved]
            result[sessions, t] = x[sessions] + increase
            wanted_units[sessions] = np.maximum(wanted_units[sessions] - increase, 0.0)
            asked_units[sessions] -= increase
            slot.add(sessions, increase)
        usage[:, t] = slot.usage
    return result


def _serve(
    index: ProblemIndex,
    rows: LimitRows,
    room: np.ndarray,
    candidates: np.ndarray,
    x: np.ndarray,
    wanted_units: np.ndarray,
    asked_units: np.ndarray,
    step: np.ndarray,
) -> np.ndarray:
    """Increase of each candidate (in serving order) that keeps every row within `room`."""
    position = np.full(index.n_sessions, -1)
    position[candidates] = np.arange(candidates.size)
    mine = position[rows.session] >= 0
    entry_row, entry_coef = rows.row[mine], rows.coefficient[mine]
    entry_at = position[rows.session[mine]]
    usable = entry_coef > _EPS
    entry_row, entry_coef, entry_at = entry_row[usable], entry_coef[usable], entry_at[usable]

    want = np.minimum(index.unit_max[candidates] - x[candidates], wanted_units[candidates])
    # What each row alone would let a candidate take: a candidate another row blocks must not
    # hold room in this one for the candidates after it.
    alone = _least_by_candidate(entry_at, room[entry_row] / entry_coef, candidates.size)
    want = np.maximum(np.minimum(want, alone), 0.0)
    floor = index.unit_min[candidates]
    starting = x[candidates] <= _EPS
    at_least = np.minimum(floor, asked_units[candidates])
    want = np.where(starting & (want > _EPS), np.maximum(want, at_least), want)
    want = np.maximum(np.minimum(want, alone), 0.0)
    want = np.where(starting & (want < floor - _EPS), 0.0, want)

    # Room left in each row before each candidate, in serving order: prefix sums per row.
    order = np.lexsort((entry_at, entry_row))
    entry_row, entry_coef, entry_at = entry_row[order], entry_coef[order], entry_at[order]
    demand = entry_coef * want[entry_at]
    before = np.cumsum(demand) - demand
    first = np.searchsorted(entry_row, entry_row, side="left")
    before -= before[first] if before.size else 0.0
    left = (room[entry_row] - before) / entry_coef
    grant = np.minimum(want, _least_by_candidate(entry_at, left, candidates.size))
    grant = np.maximum(grant, 0.0)
    new = np.round(floor_to_step((x[candidates] + grant) / step[candidates], 1.0), 10)
    new = new * step[candidates]
    new = np.where(starting & (new < floor - _EPS), 0.0, new)
    return np.maximum(new - x[candidates], 0.0)


def _least_by_candidate(at: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    least = np.full(n, np.inf)
    np.minimum.at(least, at, values)
    return least


def serving_rank(index: ProblemIndex) -> np.ndarray:
    """Rank of each session in the serving order: priority (highest first), then earliest
    departure: the earliest the driver may leave (`departure_early` where an estimated
    departure has one, SPEC §6), so that what is due by then comes first."""
    if index.n_sessions == 0:
        return np.zeros(0, dtype=int)
    departure = np.array(
        [(s.departure_early or s.departure).timestamp() for s in index.problem.sessions]
    )
    order = np.lexsort((departure, -index.priority))
    rank = np.empty(index.n_sessions, dtype=int)
    rank[order] = np.arange(index.n_sessions)
    return rank


def water_fill(index: ProblemIndex) -> np.ndarray:
    """(S, T) set-points by priority, then earliest departure, each slot filled in turn."""
    return fill(index, np.zeros(index.plugged.shape), index.energy_kwh.copy(), serving_rank(index))


def fill_slot(index: ProblemIndex, slot: int, order: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Set-points of one slot: sessions in `order` each get min(wanted [set-point units], what
    the limits leave)."""
    rank = np.empty(index.n_sessions, dtype=int)
    rank[order] = np.arange(order.size)
    unit_kwh = index.kw_per_unit * index.step_h
    plugged_here = np.zeros_like(index.plugged)
    plugged_here[:, slot] = index.plugged[:, slot]
    one_slot = _with_plugged(index, plugged_here)
    wanted_kwh = np.where(index.plugged[:, slot], np.maximum(wanted, 0.0) * unit_kwh, 0.0)
    filled = fill(one_slot, np.zeros(index.plugged.shape), wanted_kwh, rank)
    return filled[:, slot]


def _with_plugged(index: ProblemIndex, plugged: np.ndarray) -> ProblemIndex:
    import dataclasses

    return dataclasses.replace(index, plugged=plugged)
