"""The independent checker: every hard limit of SPEC §1, read again from SPEC.md alone.

It shares no code with the model builder, the index or the unit helpers: it re-derives each
session's window, maximum current, phases and phase mapping and each circuit's subtree from the
problem document, and checks the answer (after rounding, as emitted) against them. Two
independent readings of the spec catch each other's mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from optimizer.problem import Problem

PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Violation:
    rule: str
    entity: str
    slot: int | None
    amount: float
    message: str


def format_violations(violations: list[Violation]) -> str:
    return "\n".join(
        f"{v.rule:<22} {v.entity:<24} slot {v.slot!s:<5} by {v.amount:.6g}: {v.message}"
        for v in violations
    )


def _series(value: Any, slots: int) -> np.ndarray:
    if value is None:
        return np.zeros(slots)
    array = np.asarray(value, dtype=float)
    return np.full(slots, float(array)) if array.ndim == 0 else array


def check_answer(problem: Problem, answer: dict, tol: float = 1e-6) -> list[Violation]:
    """Every way `answer` breaks a hard rule of SPEC §1, with slot, entity and amount."""
    found: list[Violation] = []
    site, horizon = problem.site, problem.horizon
    slots, voltage = horizon.slots, site.grid.voltage_v
    step = timedelta(minutes=horizon.step_minutes)
    step_h = horizon.step_minutes / 60

    def add(rule: str, entity: str, slot: int | None, amount: float, message: str) -> None:
        found.append(Violation(rule, entity, slot, float(amount), message))

    def over(rule: str, entity: str, values: np.ndarray, limit: np.ndarray, what: str) -> None:
        excess = values - limit
        for t in np.flatnonzero(excess > tol + 1e-9 * np.abs(limit)):
            add(rule, entity, int(t), excess[t], f"{what} {values[t]:.4f} above {limit[t]:.4f}")

    flows = answer["site"]
    for key in ("import_kw", "export_kw", "charging_kw", "base_load_kw", "pv_kw"):
        if len(flows.get(key, [])) != slots:
            add("array_length", f"site.{key}", None, slots, f"needs {slots} values")
    sessions = {s["id"]: s for s in answer["sessions"]}
    for s in problem.sessions:
        entry = sessions.get(s.id)
        if entry is None or len(entry["power_kw"]) != slots:
            add("array_length", f"session:{s.id}", None, slots, "missing or wrong length")
    if found:
        return found

    import_kw, export_kw = np.asarray(flows["import_kw"]), np.asarray(flows["export_kw"])
    pv_used = np.asarray(flows["pv_kw"])
    base = (
        _series(problem.base_load_kw, slots)
        if problem.base_load_kw is not None
        else np.asarray(flows["base_load_kw"])
    )
    pv_available = (
        _series(problem.pv_kw, slots)
        if problem.pv_kw is not None
        else np.asarray(flows.get("pv_available_kw", flows["pv_kw"]))
    )
    chargers = {c.id: c for c in site.chargers}
    charging = np.zeros(slots)
    grid_phase_a = np.zeros((3, slots))
    circuit_parent = {c.id: c.parent for c in site.circuits}
    circuit_kw = {c.id: np.zeros(slots) for c in site.circuits}
    circuit_a = {c.id: np.zeros((3, slots)) for c in site.circuits}
    slot_begin = [horizon.start + t * step for t in range(slots)]

    for s in problem.sessions:
        entry, charger = sessions[s.id], chargers[s.charger_id]
        power = np.asarray(entry["power_kw"], dtype=float)
        name = f"session:{s.id}"
        inside = np.array([s.arrival <= b and b + step <= s.departure for b in slot_begin])
        for t in np.flatnonzero(~inside & (np.abs(power) > tol)):
            add("session_window", name, int(t), power[t], "draws power outside its window")
        for t in np.flatnonzero(power < -tol):
            add("negative_power", name, int(t), -power[t], "negative charging power")
        if charger.kind == "dc":
            if entry.get("current_a") is not None:
                add("dc_current", name, None, 0, "a DC session reports current_a")
            caps = [p for p in (charger.max_power_kw, s.max_power_kw) if p is not None]
            cap = min(caps)
            over("session_max", name, power, np.full(slots, cap), "power [kW]")
            low = (power > tol) & (power < charger.min_power_kw - tol)
            for t in np.flatnonzero(low):
                add(
                    "semi_continuous",
                    name,
                    int(t),
                    charger.min_power_kw - power[t],
                    f"{power[t]:.3f} kW below the minimum {charger.min_power_kw} kW",
                )
            per_phase_a = power * 1000 / (3 * voltage)
            phase_load = np.tile(per_phase_a, (3, 1))
        else:
            n = min(charger.phases, s.phases or charger.phases)
            current = np.asarray(entry["current_a"], dtype=float)
            cap_a = min(
                [c for c in (charger.max_current_a, s.max_current_a) if c is not None]
                + [
                    p * 1000 / (voltage * n)
                    for p in (charger.max_power_kw, s.max_power_kw)
                    if p is not None
                ]
            )
            over("session_max", name, current, np.full(slots, cap_a), "current [A]")
            low = (current > tol) & (current < charger.min_current_a - tol)
            for t in np.flatnonzero(low):
                add(
                    "semi_continuous",
                    name,
                    int(t),
                    charger.min_current_a - current[t],
                    f"{current[t]:.2f} A below the minimum {charger.min_current_a} A",
                )
            off_grid = np.abs(current * 10 - np.round(current * 10)) > 1e-6
            for t in np.flatnonzero(off_grid):
                add("rounding", name, int(t), current[t], "current is not a multiple of 0.1 A")
            expected = current * voltage * n / 1000
            mismatch = np.abs(expected - power)
            for t in np.flatnonzero(mismatch > 1e-5):
                add("power_current", name, int(t), mismatch[t], "power_kw != current x V x n")
            rotation = charger.phase_rotation or "L1L2L3"[: 2 * charger.phases]
            wired = [rotation[i : i + 2] for i in range(0, len(rotation), 2)]
            phase_load = np.zeros((3, slots))
            for grid_phase in wired[:n]:
                phase_load[PHASES.index(grid_phase)] += current
        delivered = power.sum() * step_h
        if delivered > s.energy_kwh + 1e-6:
            add("energy_cap", name, None, delivered - s.energy_kwh, "delivered more than wanted")
        if abs(entry["energy_kwh"] - delivered) > 1e-4:
            add(
                "energy_report",
                name,
                None,
                abs(entry["energy_kwh"] - delivered),
                "energy_kwh is not the sum of power x slot length",
            )
        end = horizon.start + slots * step
        after_h = max((s.departure - end).total_seconds() / 3600, 0.0)
        max_kw = (
            min(p for p in (charger.max_power_kw, s.max_power_kw) if p is not None)
            if charger.kind == "dc"
            else cap_a * voltage * n / 1000
        )
        counts = max(s.energy_kwh - max_kw * after_h, 0.0)
        unmet = max(counts - delivered, 0.0)
        if abs(entry["unmet_kwh"] - unmet) > 1e-4:
            add("energy_report", name, None, abs(entry["unmet_kwh"] - unmet), "unmet_kwh wrong")
        charging += power
        grid_phase_a += phase_load
        node = charger.circuit
        while node is not None:
            circuit_kw[node] += power
            circuit_a[node] += phase_load
            node = circuit_parent.get(node)

    if np.abs(np.asarray(flows["charging_kw"]) - charging).max(initial=0) > 1e-4:
        add("balance", "site.charging_kw", None, 0, "charging_kw is not the sum of sessions")
    net = base + charging - pv_used
    for t in np.flatnonzero(np.abs(import_kw - export_kw - net) > 1e-4):
        add(
            "balance",
            "grid",
            int(t),
            abs(import_kw[t] - export_kw[t] - net[t]),
            "import - export != base + charging - pv used",
        )
    for t in np.flatnonzero((import_kw > tol) & (export_kw > tol)):
        add(
            "import_export_both",
            "grid",
            int(t),
            min(import_kw[t], export_kw[t]),
            "import and export both positive",
        )
    over("pv_used", "pv", pv_used, pv_available, "PV used")
    for t in np.flatnonzero(pv_used < -tol):
        add("pv_used", "pv", int(t), -pv_used[t], "negative PV use")

    import_limit = _series(site.grid.import_limit_kw, slots)
    blocked = base - pv_available > import_limit + 1e-9
    if blocked.any():
        for t in np.flatnonzero(blocked & (charging > tol)):
            add(
                "blocked_slot_charging",
                "grid",
                int(t),
                charging[t],
                "charging where base load minus PV alone breaks the import limit",
            )
        if not any("import limit" in w for w in answer.get("warnings", [])):
            add(
                "missing_warning",
                "grid",
                int(np.flatnonzero(blocked)[0]),
                0,
                "no warning for a slot whose base load breaks the import limit",
            )
    over("grid_import", "grid", np.where(blocked, 0.0, import_kw), import_limit, "import [kW]")
    # A negative base load (net metering) exports whatever the engine does; only the excess
    # over what it alone exports counts, and it must be warned about.
    export_limit = _series(site.grid.export_limit_kw, slots)
    base_exports = -base > export_limit + 1e-9
    if base_exports.any() and not any("export limit" in w for w in answer.get("warnings", [])):
        add(
            "missing_warning",
            "grid",
            int(np.flatnonzero(base_exports)[0]),
            0,
            "no warning for a slot whose base load alone exports over the limit",
        )
    over("grid_export", "grid", export_kw, np.maximum(export_limit, -base), "export [kW]")
    if site.grid.phase_limit_a is not None:
        total_a = grid_phase_a + (base - pv_used) * 1000 / (3 * voltage)
        limit = np.full(slots, site.grid.phase_limit_a)
        # Base load minus PV alone may break a phase limit too; then only charging is wrong.
        amps_per_kw = 1000 / (3 * voltage)
        phase_blocked = ((base - pv_available) * amps_per_kw > limit + 1e-9) | (
            base * amps_per_kw < -limit - 1e-9
        )
        for t in np.flatnonzero(phase_blocked & (charging > tol)):
            add(
                "blocked_slot_charging",
                "grid",
                int(t),
                charging[t],
                "charging where base load minus PV alone breaks a phase limit",
            )
        for p in range(3):
            magnitude = np.where(blocked | phase_blocked, 0.0, np.abs(total_a[p]))
            over("grid_phase", f"grid:{PHASES[p]}", magnitude, limit, "phase current [A]")
    for c in site.circuits:
        if c.limit_kw is not None:
            over(
                "circuit_power",
                f"circuit:{c.id}",
                circuit_kw[c.id],
                np.full(slots, c.limit_kw),
                "charging power [kW]",
            )
        if c.phase_limit_a is not None:
            for p in range(3):
                over(
                    "circuit_phase",
                    f"circuit:{c.id}:{PHASES[p]}",
                    circuit_a[c.id][p],
                    np.full(slots, c.phase_limit_a),
                    "phase current [A]",
                )

    kpis = answer.get("kpis", {})
    expected_kpis = {
        "energy_delivered_kwh": charging.sum() * step_h,
        "peak_import_kw": import_kw.max(initial=0.0),
        "import_cost": (import_kw * _series(problem.tariff.import_price_per_kwh, slots)).sum()
        * step_h,
    }
    for key, value in expected_kpis.items():
        if key in kpis and abs(kpis[key] - value) > 1e-3 * max(1.0, abs(value)):
            add("kpi", f"kpis.{key}", None, abs(kpis[key] - value), f"{kpis[key]} != {value}")
    return found
