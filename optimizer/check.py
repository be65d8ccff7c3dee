"""The independent checker: every hard limit of SPEC §1, read again from SPEC.md alone.

It shares no code with the model builder, the index or the unit helpers: from the package it
takes only the pydantic models of the problem (and its own reading of the inputs that change
with the clock, `optimizer.check_tariff`). Each session's window, maximum current, phases
used, the phase rotation onto grid phases, each circuit's subtree and the energy that counts are
re-derived here, and the answer of SPEC §2 (as emitted, after rounding) is checked against them.
Two independent readings of the spec catch each other's mistakes.

Tolerances. `tol` is the absolute slack on one emitted number (the engine rounds to 1e-6), plus
a relative 1e-9 of the limit. A quantity the checker adds up from N emitted numbers (a sum over
slots or sessions, a phase current from kW) gets the slack of its N terms, so that rounding alone
never reads as a breach.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from smartcharge.optimizer.check_storage import (
    BatteryReading,
    check_discharge,
    check_storage_kpis,
    read_batteries,
    read_phases_used,
)
from smartcharge.optimizer.check_tariff import (
    BillingPeriod,
    read_billing_periods,
    read_phase_limit_a,
    read_slot_prices,
)
from smartcharge.optimizer.problem import Charger, Problem, Session, Tariff

GRID_PHASES = ("L1", "L2", "L3")
STATUSES = ("optimal", "feasible", "fallback")
SITE_ARRAYS = ("import_kw", "export_kw", "charging_kw", "base_load_kw", "pv_kw", "pv_available_kw")
KPI_NAMES = (
    "energy_requested_kwh",
    "energy_delivered_kwh",
    "unmet_kwh",
    "import_cost",
    "export_revenue",
    "demand_charge",
    "total_cost",
    "peak_import_kw",
    "pv_used_kwh",
    "pv_curtailed_kwh",
)
RELATIVE_TOL = 1e-9
# Faults after which the answer cannot be read further.
STRUCTURAL_RULES = frozenset({"array_length", "not_finite", "session_entries"})
CURRENT_STEP_A = 0.1  # SPEC §2: limits are rounded down to 0.1 A


@dataclass(frozen=True)
class Violation:
    """One way an answer breaks a rule of SPEC §1.

    `amount` is by how much, in the unit of the limit broken (kW, A, kWh, currency); for a
    structural fault (wrong length, missing entry) it is the number of values at fault.
    """

    rule: str
    entity: str
    slot: int | None
    amount: float
    message: str


def format_violations(violations: Sequence[Violation]) -> str:
    """One aligned line per violation, for assertion messages."""
    if not violations:
        return "no violations"
    lines = [f"{'rule':<22} {'entity':<26} {'slot':>4} {'amount':>12}  message"]
    for v in violations:
        slot = "-" if v.slot is None else str(v.slot)
        lines.append(f"{v.rule:<22} {v.entity:<26} {slot:>4} {v.amount:>12.6g}  {v.message}")
    return "\n".join(lines)


class _Report:
    """Collects violations; `above` turns a per-slot comparison into one violation per slot."""

    def __init__(self, tol: float):
        self.tol = tol
        self.found: list[Violation] = []

    def add(self, rule: str, entity: str, slot: int | None, amount: float, message: str) -> None:
        self.found.append(Violation(rule, entity, slot, float(amount), message))

    def above(
        self,
        rule: str,
        entity: str,
        value: np.ndarray,
        limit: np.ndarray | float,
        what: str,
        slack: float | np.ndarray | None = None,
    ) -> None:
        """Report every slot where `value` exceeds `limit` by more than `slack`."""
        limit = np.broadcast_to(np.asarray(limit, dtype=float), value.shape)
        if slack is None:
            slack = self.tol
        excess = value - limit
        for t in np.flatnonzero(excess > slack + RELATIVE_TOL * np.abs(limit)):
            self.add(
                rule,
                entity,
                int(t),
                excess[t],
                f"{what} {value[t]:.6g} exceeds {limit[t]:.6g} by {excess[t]:.6g}",
            )


@dataclass(frozen=True)
class _SessionReading:
    """One session as this checker reads SPEC §1 (independently of the model builder)."""

    session: Session
    charger: Charger
    is_dc: bool
    phases_used: int  # AC: min(charger phases, session phases); DC: balanced over 3
    max_current_a: float  # AC only; inf for DC
    max_power_kw: float  # the most the session can draw, from every limit
    window: np.ndarray  # (T,) bool: slot lies wholly inside [arrival, departure)
    phase_a_per_unit: np.ndarray  # (3,) grid-phase A per A of set-point (AC) or per kW (DC)
    circuits: tuple[str, ...]  # the charger's circuit and every circuit above it
    counts_kwh: float  # the energy that counts (SPEC §1, Energy)
    # SPEC §4 V2G: the net energy may end below 0 only by what it can charge after the horizon
    # beyond its energy_kwh.
    least_net_kwh: float
    # SPEC §4 phase switching: on one phase, the charger's first grid phase after rotation.
    max_current_one_a: float = math.inf
    one_phase_a_per_unit: np.ndarray | None = None


def _series(value: float | list[float], slots: int) -> np.ndarray:
    """A number means that value in every slot; a list is one value per slot."""
    return np.broadcast_to(np.asarray(value, dtype=float), (slots,)).astype(float)


def _charger_grid_phases(charger: Charger) -> tuple[str, ...]:
    """Grid phase of each of the charger's own phases, in order ("L2L3L1": its L1 is grid L2).

    Without a rotation the charger is wired straight: "L1L2L3" cut to its phases.
    """
    if charger.phase_rotation is None:
        return GRID_PHASES[: charger.phases]
    return tuple(re.findall(r"L[123]", charger.phase_rotation.upper()))


def _circuits_above(circuit_id: str | None, parent_of: dict[str, str | None]) -> tuple[str, ...]:
    """The circuit itself and every ancestor up to the grid connection (SPEC §1, Circuits)."""
    chain: list[str] = []
    node = circuit_id
    while node is not None and node not in chain:  # the guard only matters for a bad tree
        chain.append(node)
        node = parent_of.get(node)
    return tuple(chain)


def wanted_kwh(session: Session) -> float:
    """What a session still wants: nothing once its battery was seen full (SPEC §6)."""
    return 0.0 if session.ev_full else float(session.energy_kwh or 0.0)


def _read_session(
    problem: Problem, session: Session, charger: Charger, parent_of: dict[str, str | None]
) -> _SessionReading:
    horizon, voltage_v = problem.horizon, problem.site.grid.voltage_v
    step_s = horizon.step_minutes * 60.0
    slot_start_s = np.arange(horizon.slots) * step_s
    arrival_s = (session.arrival - horizon.start).total_seconds()
    departure_s = (session.departure - horizon.start).total_seconds()
    # A slot may carry power only if it lies wholly inside [arrival, departure).
    window = (slot_start_s >= arrival_s) & (slot_start_s + step_s <= departure_s)
    # A one-phase EV draws on the charger's first phase, a two-phase EV on its first two.
    phase_a_per_unit = np.zeros(3)
    if charger.kind == "dc":
        phases_used = 3
        max_current_a = math.inf
        max_power_kw = min(p for p in (charger.max_power_kw, session.max_power_kw) if p is not None)
        phase_a_per_unit[:] = 1000.0 / (3 * voltage_v)  # balanced three-phase draw
    else:
        phases_used = min(charger.phases, session.phases or charger.phases)
        limits_a = [a for a in (charger.max_current_a, session.max_current_a) if a is not None]
        # SPEC §6: the EV's observed maximum, but never below the charger's minimum set-point.
        if session.ev_max_current_a is not None:
            limits_a.append(max(session.ev_max_current_a, charger.min_current_a))
        # A power limit caps the current at the phases actually used (22 kW at 3 x 230 V: 31.88 A).
        limits_a += [
            kw * 1000.0 / (voltage_v * phases_used)
            for kw in (charger.max_power_kw, session.max_power_kw)
            if kw is not None
        ]
        max_current_a = min(limits_a)
        max_power_kw = max_current_a * voltage_v * phases_used / 1000.0
        for grid_phase in _charger_grid_phases(charger)[:phases_used]:
            phase_a_per_unit[GRID_PHASES.index(grid_phase)] += 1.0
        one_phase_a_per_unit = np.zeros(3)
        one_phase_a_per_unit[GRID_PHASES.index(_charger_grid_phases(charger)[0])] = 1.0
        max_current_one_a = min(
            [a for a in (charger.max_current_a, session.max_current_a) if a is not None]
            + (
                [max(session.ev_max_current_a, charger.min_current_a)]
                if session.ev_max_current_a is not None
                else []
            )
            + [
                kw * 1000.0 / voltage_v
                for kw in (charger.max_power_kw, session.max_power_kw)
                if kw is not None
            ]
        )
    # Energy the EV can still get after the horizon (while plugged in, at its max power) does
    # not count as unmet.
    after_start_s = max(slot_start_s[-1] + step_s, arrival_s)
    hours_after = max(departure_s - after_start_s, 0.0) / 3600.0
    counts_kwh = max(wanted_kwh(session) - max_power_kw * hours_after, 0.0)
    least_net_kwh = min(wanted_kwh(session) - max_power_kw * hours_after, 0.0)
    return _SessionReading(
        session=session,
        charger=charger,
        is_dc=charger.kind == "dc",
        phases_used=phases_used,
        max_current_a=max_current_a,
        max_power_kw=max_power_kw,
        window=window,
        phase_a_per_unit=phase_a_per_unit,
        circuits=_circuits_above(charger.circuit, parent_of),
        counts_kwh=counts_kwh,
        least_net_kwh=least_net_kwh,
        **(
            {}
            if charger.kind == "dc"
            else {
                "max_current_one_a": max_current_one_a,
                "one_phase_a_per_unit": one_phase_a_per_unit,
            }
        ),
    )


def _slot_array(value: Any, slots: int) -> np.ndarray | None:
    """The list as floats if it holds exactly `slots` numbers, else None."""
    if not isinstance(value, list | tuple) or len(value) != slots:
        return None
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _check_structure(problem: Problem, answer: dict, report: _Report) -> None:
    """Rules `array_length`, `not_finite`, `session_entries`, `dc_current`, `status`:
    every array holds `slots` finite numbers and every problem session has one entry."""
    slots = problem.horizon.slots

    def check_array(entity: str, value: Any) -> None:
        if _slot_array(value, slots) is None:
            got = len(value) if isinstance(value, list | tuple) else 0
            what = f"{got} values" if isinstance(value, list | tuple) else repr(value)
            report.add(
                "array_length",
                entity,
                None,
                abs(slots - got) or slots,
                f"needs {slots} numbers, got {what}",
            )
        elif not np.isfinite(np.asarray(value, dtype=float)).all():
            bad = int((~np.isfinite(np.asarray(value, dtype=float))).sum())
            report.add("not_finite", entity, None, bad, f"{bad} values are not finite")

    if answer.get("status") not in STATUSES:
        report.add(
            "status", "answer", None, 1, f"status {answer.get('status')!r} not in {STATUSES}"
        )
    site = answer.get("site") or {}
    for name in SITE_ARRAYS:
        check_array(f"site.{name}", site.get(name))
    entries: dict[str, dict] = {}
    for entry in answer.get("sessions") or []:
        if entry.get("id") in entries:
            report.add("session_entries", f"session:{entry.get('id')}", None, 1, "listed twice")
        entries[entry.get("id")] = entry
    chargers = {c.id: c for c in problem.site.chargers}
    wanted = {s.id for s in problem.sessions}
    for extra in sorted(set(entries) - wanted, key=str):
        report.add("session_entries", f"session:{extra}", None, 1, "not a session of the problem")
    for s in problem.sessions:
        name = f"session:{s.id}"
        entry = entries.get(s.id)
        if entry is None:
            report.add("session_entries", name, None, 1, "the answer has no entry for it")
            continue
        if entry.get("charger_id", s.charger_id) != s.charger_id:
            report.add("session_entries", name, None, 1, f"charger_id is not '{s.charger_id}'")
        check_array(f"{name}.power_kw", entry.get("power_kw"))
        if chargers[s.charger_id].kind == "dc":
            if entry.get("current_a") is not None:
                report.add("dc_current", name, None, 1, "a DC session reports current_a (not null)")
        else:
            check_array(f"{name}.current_a", entry.get("current_a"))
        for key in ("energy_kwh", "unmet_kwh"):
            if not isinstance(entry.get(key), int | float) or not math.isfinite(entry[key]):
                report.add("session_entries", f"{name}.{key}", None, 1, "missing or not a number")
        estimate = entry.get("estimate") or {}
        for key in s.estimated:
            if estimate.get(key) is None:
                report.add(
                    "session_entries", f"{name}.estimate.{key}", None, 1, "not given: not estimated"
                )


def _as_planned(problem: Problem, answer: dict) -> Problem:
    """The problem with each missing departure and energy set to the estimate the answer
    declares (SPEC §6): a plan must keep to its own estimates as to given values."""
    if not any(s.estimated for s in problem.sessions):
        return problem
    entries = {e["id"]: e for e in answer["sessions"]}
    sessions = []
    for s in problem.sessions:
        estimate = entries[s.id].get("estimate") or {}
        update: dict[str, Any] = {}
        if s.departure is None:
            update["departure"] = datetime.fromisoformat(estimate["departure"])
        if s.energy_kwh is None:
            update["energy_kwh"] = float(estimate["energy_kwh"])
        sessions.append(s.model_copy(update=update))
    return problem.model_copy(update={"sessions": sessions})


def check_answer(problem: Problem, answer: dict, tol: float = 1e-6) -> list[Violation]:
    """Every way `answer` (SPEC §2) breaks a hard rule of SPEC §1, with slot, entity, amount.

    An empty list means the schedule respects every limit and its reported totals add up.
    Structural faults (lengths, missing entries) are reported alone: nothing else can be read.
    """
    report = _Report(tol)
    _check_structure(problem, answer, report)
    if any(v.rule in STRUCTURAL_RULES for v in report.found):
        return report.found
    problem = _as_planned(problem, answer)

    slots, step_h = problem.horizon.slots, problem.horizon.step_minutes / 60.0
    site = {name: np.asarray(answer["site"][name], dtype=float) for name in SITE_ARRAYS}
    base_kw, pv_available_kw = _given_or_answered(problem, site, report)
    chargers = {c.id: c for c in problem.site.chargers}
    parent_of = {c.id: c.parent for c in problem.site.circuits}
    readings = [
        _read_session(problem, s, chargers[s.charger_id], parent_of) for s in problem.sessions
    ]
    entries = {e["id"]: e for e in answer["sessions"]}
    power_kw = np.zeros((len(readings), slots))
    setpoint = np.zeros((len(readings), slots))  # A for AC, kW for DC
    phases_used = np.zeros((len(readings), slots), dtype=int)
    discharged = 0.0
    for i, r in enumerate(readings):
        entry = entries[r.session.id]
        power_kw[i] = entry["power_kw"]
        setpoint[i] = power_kw[i] if r.is_dc else np.asarray(entry["current_a"], dtype=float)
        phases_used[i] = read_phases_used(
            problem, r.session, r.charger, entry, r.phases_used, report
        )
        discharged += check_discharge(
            problem, r.session, r.charger, entry, power_kw[i], r.least_net_kwh, report
        )
    # (S, 3, T): each session's current on each grid phase (one phase: the charger's first).
    per_unit = np.array([r.phase_a_per_unit for r in readings]).reshape(-1, 3)
    phase_a = per_unit[:, :, None] * setpoint[:, None, :]
    for i, r in enumerate(readings):
        one = (phases_used[i] == 1) & (r.phases_used == 3)
        if one.any() and r.one_phase_a_per_unit is not None:
            phase_a[i][:, one] = r.one_phase_a_per_unit[:, None] * setpoint[i][one]
    batteries = read_batteries(problem, answer, parent_of, report)

    _check_sessions(problem, readings, power_kw, setpoint, phases_used, report)
    delivered_kwh = power_kw.sum(axis=1) * step_h
    _check_energy(problem, readings, entries, delivered_kwh, report)
    _check_balance(site, base_kw, pv_available_kw, power_kw, batteries, report)
    _check_grid_limits(
        problem,
        answer,
        site,
        base_kw,
        pv_available_kw,
        readings,
        power_kw,
        phase_a,
        report,
        batteries.power_kw.sum(axis=0),
    )
    _check_circuits(problem, readings, power_kw, phase_a, batteries, report)
    prices = read_slot_prices(problem)
    _check_reported_inputs(problem, answer, prices, report)
    _check_kpis(problem, answer, site, readings, delivered_kwh, pv_available_kw, prices, report)
    check_storage_kpis(problem, answer, batteries, discharged, report)
    return report.found


def _check_reported_inputs(
    problem: Problem,
    answer: dict,
    prices: tuple[np.ndarray, np.ndarray],
    report: _Report,
) -> None:
    """Rules `input_report`, `input_mismatch` (SPEC §5): the answer says, per slot, which inputs
    the plan used, `site.slot_start`, the limits given and each slot's prices (time-weighted
    means), and they are the problem's."""
    horizon, grid = problem.horizon, problem.site.grid
    site = answer.get("site") or {}
    slots = horizon.slots
    starts = site.get("slot_start")
    if not isinstance(starts, list) or len(starts) != slots:
        report.add("input_report", "site.slot_start", None, slots, f"needs {slots} times")
    else:
        for t, text in enumerate(starts):
            expected = horizon.start + t * horizon.step
            if _time_of(text) != expected:
                report.add("input_report", "site.slot_start", t, 1, f"{text!r} is not {expected}")
    phase_limit_a = read_phase_limit_a(problem)
    reported_phase = site.get("phase_limit_a")
    if isinstance(reported_phase, list):  # null: no phase limit in that slot
        reported_phase = [math.inf if v is None else v for v in reported_phase]
    for name, truth in (
        ("import_limit_kw", _series(grid.import_limit_kw, slots)),
        ("export_limit_kw", _series(grid.export_limit_kw, slots)),
        ("phase_limit_a", phase_limit_a),
        ("import_price_per_kwh", prices[0]),
        ("export_price_per_kwh", prices[1]),
    ):
        value = reported_phase if name == "phase_limit_a" else site.get(name)
        got = _slot_array(value, slots)
        if got is None:
            report.add("input_report", f"site.{name}", None, slots, f"needs {slots} numbers")
            continue
        with np.errstate(invalid="ignore"):  # inf - inf: no limit reported where none is given
            close = np.abs(got - truth) <= report.tol + RELATIVE_TOL * np.abs(truth)
        same = (got == truth) | (np.isfinite(truth) & close)
        for t in np.flatnonzero(~same):
            report.add(
                "input_mismatch",
                f"site.{name}",
                int(t),
                abs(got[t] - truth[t]),
                f"reports {got[t]:.6g}, the problem gives {truth[t]:.6g}",
            )


def _given_or_answered(
    problem: Problem, site: dict[str, np.ndarray], report: _Report
) -> tuple[np.ndarray, np.ndarray]:
    """Base load and available PV to check against; rule `input_mismatch`.

    Where the problem gives them (a number or an array), they are the truth and the answer must
    echo them; where it leaves them null, the engine's forecast in the answer is what it planned.
    """
    slots = problem.horizon.slots
    result = []
    for given, name in ((problem.base_load_kw, "base_load_kw"), (problem.pv_kw, "pv_available_kw")):
        if given is None:
            result.append(site[name])
            continue
        truth = _series(given, slots)
        differs = np.abs(site[name] - truth)
        for t in np.flatnonzero(differs > report.tol + RELATIVE_TOL * np.abs(truth)):
            report.add(
                "input_mismatch",
                f"site.{name}",
                int(t),
                differs[t],
                f"answer has {site[name][t]:.6g} kW, the problem gives {truth[t]:.6g} kW",
            )
        result.append(truth)
    return result[0], result[1]


def _check_sessions(
    problem: Problem,
    readings: list[_SessionReading],
    power_kw: np.ndarray,
    setpoint: np.ndarray,
    phases_used: np.ndarray,
    report: _Report,
) -> None:
    """Rules `session_window`, `negative_power`, `session_max`, `semi_continuous`, `rounding`,
    `power_current` (SPEC §1, Slots and Power and current; SPEC §4).

    power = 0 outside the window; AC: I = 0 or min_current_a <= |I| <= max (on one phase, the
    one-phase max), I a multiple of 0.1 A, P = I * V * n / 1000 with n the phases used in the
    slot; DC: P = 0 or min_power_kw <= |P| <= min(charger, session max_power_kw). A negative
    set-point is a discharge, which only a V2G session may do (`check_storage`); the limits on
    its size are the same.
    """
    tol, voltage_v = report.tol, problem.site.grid.voltage_v
    for i, r in enumerate(readings):
        name, power, value = f"session:{r.session.id}", power_kw[i], setpoint[i]
        for t in np.flatnonzero(~r.window & (np.abs(power) > tol)):
            report.add(
                "session_window", name, int(t), abs(power[t]), "draws power outside its window"
            )
        unit = "kW" if r.is_dc else "A"
        may_discharge = r.session.discharge is not None and r.charger.bidirectional
        if not may_discharge:
            for t in np.flatnonzero(value < -tol):
                report.add(
                    "negative_power", name, int(t), -value[t], f"negative set-point [{unit}]"
                )
        size = np.abs(value) if may_discharge else value
        if r.is_dc:
            drawn = np.abs(power) if may_discharge else power
            report.above("session_max", name, drawn, r.max_power_kw, "power [kW]")
            floor, what = r.charger.min_power_kw, "kW"
        else:
            most_a = np.where(phases_used[i] == 1, r.max_current_one_a, r.max_current_a)
            report.above("session_max", name, size, most_a, "current [A]")
            floor, what = r.charger.min_current_a, "A"
        # IEC 61851: an EV does not charge below ~6 A, so a set-point is 0 or at least the floor.
        for t in np.flatnonzero((size > tol) & (size < floor - tol)):
            report.add(
                "semi_continuous",
                name,
                int(t),
                floor - size[t],
                f"{value[t]:.6g} {what} is neither 0 nor at least {floor:g} {what}",
            )
        if r.is_dc:
            continue
        tenths = value / CURRENT_STEP_A
        off_grid = np.abs(tenths - np.round(tenths)) * CURRENT_STEP_A > tol
        for t in np.flatnonzero(off_grid):
            below = (tenths[t] - math.floor(tenths[t] + 1e-9)) * CURRENT_STEP_A
            report.add(
                "rounding", name, int(t), below, f"{value[t]!r} A is not a multiple of 0.1 A"
            )
        expected_kw = value * voltage_v * phases_used[i] / 1000.0
        mismatch = np.abs(power - expected_kw)
        for t in np.flatnonzero(mismatch > tol + RELATIVE_TOL * np.abs(expected_kw)):
            report.add(
                "power_current",
                name,
                int(t),
                mismatch[t],
                f"power {power[t]:.6g} kW != {value[t]:.6g} A x {voltage_v:g} V x "
                f"{phases_used[i, t]} / 1000 = {expected_kw[t]:.6g} kW",
            )


def _check_energy(
    problem: Problem,
    readings: list[_SessionReading],
    entries: dict[str, dict],
    delivered_kwh: np.ndarray,
    report: _Report,
) -> None:
    """Rules `energy_cap`, `energy_report`, `unmet_report` (SPEC §1, Energy).

    delivered = sum(power) * step_h <= energy_kwh; the answer's energy_kwh is that sum and its
    unmet_kwh is max(0, counts - delivered).
    """
    horizon = problem.horizon
    slack = report.tol * (1 + horizon.slots * horizon.step_minutes / 60.0)
    for i, r in enumerate(readings):
        name, entry, delivered = f"session:{r.session.id}", entries[r.session.id], delivered_kwh[i]
        wanted = wanted_kwh(r.session)
        if delivered > wanted + slack + RELATIVE_TOL * wanted:
            report.add(
                "energy_cap",
                name,
                None,
                delivered - wanted,
                f"delivers {delivered:.6g} kWh, more than the {wanted:g} kWh it wants",
            )
        for rule, key, expected in (
            ("energy_report", "energy_kwh", delivered),
            ("unmet_report", "unmet_kwh", max(r.counts_kwh - delivered, 0.0)),
        ):
            off = abs(entry[key] - expected)
            if off > slack + RELATIVE_TOL * abs(expected):
                report.add(
                    rule, name, None, off, f"{key} is {entry[key]:.6g}, should be {expected:.6g}"
                )


def _check_balance(
    site: dict[str, np.ndarray],
    base_kw: np.ndarray,
    pv_available_kw: np.ndarray,
    power_kw: np.ndarray,
    batteries: BatteryReading,
    report: _Report,
) -> None:
    """Rules `balance`, `negative_flow`, `import_export_both`, `pv_used` (SPEC §1, Grid).

    charging_kw = sum of session powers (net of V2G discharge); import - export = base +
    charging + batteries - pv_used (SPEC §4: a battery counts in the balance), both >= 0 and
    never both > 0 in one slot; 0 <= pv_used <= pv_available.
    """
    tol = report.tol
    n_sessions = power_kw.shape[0]
    import_kw, export_kw, pv_used_kw = site["import_kw"], site["export_kw"], site["pv_kw"]
    charging_kw = power_kw.sum(axis=0)

    off = np.abs(site["charging_kw"] - charging_kw)
    for t in np.flatnonzero(off > tol * (1 + n_sessions)):
        report.add(
            "balance", "site.charging_kw", int(t), off[t], "is not the sum of session powers"
        )
    battery_kw = batteries.power_kw.sum(axis=0)
    net_kw = base_kw + site["charging_kw"] + battery_kw - pv_used_kw
    off = np.abs(import_kw - export_kw - net_kw)
    for t in np.flatnonzero(off > 5 * tol + RELATIVE_TOL * np.abs(net_kw)):
        report.add(
            "balance",
            "grid",
            int(t),
            off[t],
            f"import - export = {import_kw[t] - export_kw[t]:.6g} kW but base + charging + "
            f"batteries - pv used = {net_kw[t]:.6g} kW",
        )
    for name, flow in (("import_kw", import_kw), ("export_kw", export_kw)):
        for t in np.flatnonzero(flow < -tol):
            report.add("negative_flow", "grid", int(t), -flow[t], f"{name} is negative")
    for t in np.flatnonzero((import_kw > tol) & (export_kw > tol)):
        report.add(
            "import_export_both",
            "grid",
            int(t),
            min(import_kw[t], export_kw[t]),
            f"imports {import_kw[t]:.6g} kW and exports {export_kw[t]:.6g} kW at once",
        )
    report.above("pv_used", "pv", pv_used_kw, pv_available_kw, "PV used [kW]")
    for t in np.flatnonzero(pv_used_kw < -tol):
        report.add("pv_used", "pv", int(t), -pv_used_kw[t], "PV used is negative")


def _check_grid_limits(
    problem: Problem,
    answer: dict,
    site: dict[str, np.ndarray],
    base_kw: np.ndarray,
    pv_available_kw: np.ndarray,
    readings: list[_SessionReading],
    power_kw: np.ndarray,
    phase_a: np.ndarray,
    report: _Report,
    battery_kw: np.ndarray | float = 0.0,
) -> None:
    """Rules `grid_import`, `grid_export`, `grid_phase`, `blocked_slot_charging`,
    `missing_warning` (SPEC §1, Grid and Phases).

    import <= import_limit, export <= export_limit, |I| <= phase_limit_a on each grid phase with
    base - pv_used (and the batteries, SPEC §4) spread evenly over the three. What base load
    and PV alone break (all PV used
    and no charging, or no PV at all for export) the engine cannot help: there charging must be
    0 and a warning must say so, and the limit is only as strict as what could be avoided.
    """
    tol, slots = report.tol, problem.horizon.slots
    grid, voltage_v = problem.site.grid, problem.site.grid.voltage_v
    import_kw, export_kw, pv_used_kw = site["import_kw"], site["export_kw"], site["pv_kw"]
    charging_kw = power_kw.sum(axis=0)

    # What the site does with no charging and all PV used (import side) or no PV (export side).
    a_per_kw = 1000.0 / (3 * voltage_v)
    net_min_kw = base_kw - pv_available_kw
    import_limit_kw = _series(grid.import_limit_kw, slots)
    export_limit_kw = _series(grid.export_limit_kw, slots)
    phase_limit_a = read_phase_limit_a(problem)  # (T,), inf where none
    import_blocked = net_min_kw > import_limit_kw + tol + RELATIVE_TOL * import_limit_kw
    phase_blocked = net_min_kw * a_per_kw > phase_limit_a + tol
    export_forced = -base_kw > export_limit_kw + tol + RELATIVE_TOL * export_limit_kw
    phase_forced_low = base_kw * a_per_kw < -phase_limit_a - tol
    blocked = import_blocked | phase_blocked
    for t in np.flatnonzero(blocked & (np.abs(charging_kw) > tol)):
        which = "import limit" if import_blocked[t] else "grid phase limit"
        report.add(
            "blocked_slot_charging",
            "grid",
            int(t),
            abs(charging_kw[t]),
            f"charges {charging_kw[t]:.6g} kW where base load minus PV alone breaks the {which}",
        )
    warnings = [str(w).lower() for w in answer.get("warnings") or []]
    for mask, word, what in (
        (import_blocked, "import", "base load minus PV alone breaks the import limit"),
        (phase_blocked | phase_forced_low, "phase", "base load (minus PV) breaks a phase limit"),
        (export_forced, "export", "base load alone exports more than the export limit"),
    ):
        if mask.any() and not any(word in w for w in warnings):
            slots_at = np.flatnonzero(mask)
            report.add(
                "missing_warning",
                "grid",
                int(slots_at[0]),
                len(slots_at),
                f"{what} in slots {slots_at.tolist()} but no warning mentions '{word}'",
            )

    # Charging in a blocked slot is reported once (above); only what PV left unused adds to it.
    import_cap_kw = np.where(
        import_blocked, np.maximum(import_limit_kw, net_min_kw + charging_kw), import_limit_kw
    )
    report.above("grid_import", "grid", import_kw, import_cap_kw, "import [kW]")
    report.above(
        "grid_export", "grid", export_kw, np.maximum(export_limit_kw, -base_kw), "export [kW]"
    )
    if not np.isfinite(phase_limit_a).any():
        return
    n_dc = sum(r.is_dc for r in readings)
    slack_a = tol * (1 + a_per_kw * (2 + n_dc))
    charging_a = phase_a.sum(axis=0) + battery_kw * a_per_kw  # (3, T)
    total_a = charging_a + (base_kw - pv_used_kw) * a_per_kw
    for p, phase in enumerate(GRID_PHASES):
        upper_a = np.where(
            phase_blocked,
            np.maximum(phase_limit_a, net_min_kw * a_per_kw + charging_a[p]),
            phase_limit_a,
        )
        lower_a = np.minimum(-phase_limit_a, base_kw * a_per_kw)
        report.above("grid_phase", f"grid:{phase}", total_a[p], upper_a, "current [A]", slack_a)
        report.above(
            "grid_phase", f"grid:{phase}", -total_a[p], -lower_a, "reverse current [A]", slack_a
        )


def _check_circuits(
    problem: Problem,
    readings: list[_SessionReading],
    power_kw: np.ndarray,
    phase_a: np.ndarray,
    batteries: BatteryReading,
    report: _Report,
) -> None:
    """Rules `circuit_power`, `circuit_phase` (SPEC §1, Circuits and Phases; SPEC §4).

    For every circuit, summed over every charger and battery in its subtree: |power| <=
    limit_kw and |current| <= phase_limit_a on each grid phase (a battery as balanced
    three-phase current; in either direction, since a battery or an EV may feed it).
    """
    a_per_kw = 1000.0 / (3 * problem.site.grid.voltage_v)
    for circuit in problem.site.circuits:
        below = np.array([circuit.id in r.circuits for r in readings], dtype=bool)
        stored = np.array([circuit.id in c for c in batteries.parent_circuits], dtype=bool)
        battery_kw = batteries.power_kw[stored].sum(axis=0)
        n_below = int(below.sum()) + int(stored.sum())
        if circuit.limit_kw is not None:
            report.above(
                "circuit_power",
                f"circuit:{circuit.id}",
                np.abs(power_kw[below].sum(axis=0) + battery_kw),
                circuit.limit_kw,
                "charging power [kW]",
                report.tol * max(n_below, 1),
            )
        if circuit.phase_limit_a is not None:
            current_a = phase_a[below].sum(axis=0) + battery_kw * a_per_kw
            slack_a = report.tol * (1 + a_per_kw * n_below)
            for p, phase in enumerate(GRID_PHASES):
                report.above(
                    "circuit_phase",
                    f"circuit:{circuit.id}:{phase}",
                    np.abs(current_a[p]),
                    circuit.phase_limit_a,
                    "current [A]",
                    slack_a,
                )


def _check_kpis(
    problem: Problem,
    answer: dict,
    site: dict[str, np.ndarray],
    readings: list[_SessionReading],
    delivered_kwh: np.ndarray,
    pv_available_kw: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray],
    report: _Report,
) -> None:
    """Rule `kpi` (SPEC §2, §5): each key figure equals what the schedule's own arrays add up to.

    cost = sum(import * import_price) * step_h - sum(export * export_price) * step_h
    + demand_charge_per_kw * sum over billing periods of max(0, max(import) - paid so far).
    """
    tol, slots = report.tol, problem.horizon.slots
    step_h, tariff = problem.horizon.step_minutes / 60.0, problem.tariff
    import_kw, export_kw, pv_used_kw = site["import_kw"], site["export_kw"], site["pv_kw"]
    import_price, export_price = prices
    counts = np.array([r.counts_kwh for r in readings])
    wanted = np.array([wanted_kwh(r.session) for r in readings])
    peak_kw = float(import_kw.max(initial=0.0))
    periods = read_billing_periods(problem)
    period_peaks = [max(import_kw[p.slots].max(), p.peak_so_far_kw) for p in periods]
    demand = tariff.demand_charge_per_kw * sum(
        peak - p.peak_so_far_kw for peak, p in zip(period_peaks, periods, strict=True)
    )
    import_cost = float((import_kw * import_price).sum() * step_h)
    export_revenue = float((export_kw * export_price).sum() * step_h)
    # Slack: each emitted term may be off by tol; energies sum sessions x slots terms.
    energy_slack = tol * (1 + len(readings) * slots * step_h)
    import_slack = tol * (1 + np.abs(import_price).sum() * step_h)
    export_slack = tol * (1 + np.abs(export_price).sum() * step_h)
    demand_slack = tol * (1 + tariff.demand_charge_per_kw)
    expected = {
        "energy_requested_kwh": (float(counts.sum()), tol),
        "energy_wanted_kwh": (float(wanted.sum()), tol),
        "energy_delivered_kwh": (float(delivered_kwh.sum()), energy_slack),
        "unmet_kwh": (float(np.maximum(counts - delivered_kwh, 0.0).sum()), energy_slack),
        "import_cost": (import_cost, import_slack),
        "export_revenue": (export_revenue, export_slack),
        "demand_charge": (demand, demand_slack),
        "total_cost": (
            import_cost - export_revenue + demand,
            import_slack + export_slack + demand_slack,
        ),
        "peak_import_kw": (peak_kw, tol),
        "peak_so_far_kw": (tariff.peak_so_far_kw, tol),
        "pv_used_kwh": (float(pv_used_kw.sum() * step_h), tol * (1 + slots * step_h)),
        "pv_curtailed_kwh": (
            float((pv_available_kw - pv_used_kw).sum() * step_h),
            tol * (1 + 2 * slots * step_h),
        ),
    }
    kpis = answer.get("kpis") or {}
    for key, (value, slack) in expected.items():
        name = f"kpis.{key}"
        if key not in kpis:
            if key in KPI_NAMES:
                report.add("kpi", name, None, 1, "missing")
            continue
        got = kpis[key]
        if not isinstance(got, int | float) or not math.isfinite(got):
            report.add("kpi", name, None, 1, f"{got!r} is not a number")
            continue
        off = abs(got - value)
        if off > slack + RELATIVE_TOL * abs(value):
            report.add("kpi", name, None, off, f"is {got:.6g}, the schedule adds up to {value:.6g}")
    if "demand_periods" in answer:
        _check_demand_periods(answer["demand_periods"], periods, period_peaks, tariff, report)


def _time_of(text: Any) -> datetime | None:
    """An ISO 8601 time with an offset, or None for anything else."""
    try:
        time = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return time if time.tzinfo is not None else None


def _check_demand_periods(
    reported: Any,
    periods: list[BillingPeriod],
    period_peaks: list[float],
    tariff: Tariff,
    report: _Report,
) -> None:
    """Rule `kpi` on `demand_periods` (SPEC §5): one entry per billing period the horizon
    touches, in order, with its start and end, the peak paid so far, its peak and its charge."""
    if not isinstance(reported, list) or len(reported) != len(periods):
        got = len(reported) if isinstance(reported, list) else 0
        report.add(
            "kpi",
            "demand_periods",
            None,
            abs(got - len(periods)) or 1,
            f"lists {got} periods, the horizon touches {len(periods)}",
        )
        return
    for k, (entry, period, peak) in enumerate(zip(reported, periods, period_peaks, strict=True)):
        name = f"demand_periods[{k}]"
        for key, expected in (("start", period.start), ("end", period.end)):
            got = entry.get(key)
            if (got is None) != (expected is None) or (
                got is not None and _time_of(got) != expected
            ):
                report.add("kpi", f"{name}.{key}", None, 1, f"is {got!r}, not {expected}")
        charge = tariff.demand_charge_per_kw * (peak - period.peak_so_far_kw)
        slack = report.tol * (1 + tariff.demand_charge_per_kw)
        for key, value in (
            ("peak_so_far_kw", period.peak_so_far_kw),
            ("peak_kw", peak),
            ("charge", charge),
        ):
            got = entry.get(key)
            off = abs(got - value) if isinstance(got, int | float) else math.inf
            if off > slack + RELATIVE_TOL * abs(value):
                amount = off if math.isfinite(off) else 1
                report.add(
                    "kpi", f"{name}.{key}", None, amount, f"is {got!r}, should be {value:.6g}"
                )
