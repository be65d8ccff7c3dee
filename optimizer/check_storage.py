"""The independent checker's reading of SPEC §4: batteries, V2G discharge, phase switching.

Like `optimizer.check`, it shares no code with the model builder or the index: it reads the
problem's pydantic models and the answer as emitted. `optimizer.check` calls it for what the
new parts change in the rules it already has (the balance, the phases, the circuits, each
session's limits) and for the rules of §4 alone:

- `battery_entries`: one entry per battery, `power_kw` and `soc_kwh` of `slots` numbers.
- `battery_power`: -max_discharge_kw <= power <= max_charge_kw (one signed number per slot:
  a battery never charges and discharges in one slot).
- `battery_soc`: soc[t] = soc[t-1] + max(p, 0) sqrt(eta) dt - max(-p, 0) / sqrt(eta) dt, from
  `soc_kwh` at the start.
- `battery_soc_range`: min_soc_kwh <= soc <= max_soc_kwh (a battery that starts outside may
  stay there, never go further out).
- `battery_final`: the last state >= final_soc_kwh (default: the starting state), unless a
  warning names the battery and says why (the site's limits, or a rule-based schedule).
- `v2g_discharge_max`, `v2g_energy`, `v2g_report`: a session with `discharge` on a
  bidirectional charger feeds back at most `max_power_kw`, at most `max_energy_kwh` in all;
  `discharged_kwh` is what it fed back (any other session feeding back breaks
  `negative_power`).
- `v2g_short`: a session that discharges leaves with all the energy that counts, but for
  what rounding its set-points down to 0.1 A costs (else it paid for the site's arbitrage,
  or another EV's charge, with range).
- `v2g_range`: a V2G session never ends the horizon with less net energy than 0, less what it
  can still charge after the horizon beyond its `energy_kwh` (no driver pays with range).
- `phases_used`, `phase_switches`: a switching session says 1 or 3 per slot and changes at most
  `options.max_phase_switches` times; any other session uses its nominal phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smartcharge.optimizer.problem import Battery, Charger, Problem, Session


@dataclass(frozen=True)
class BatteryReading:
    """The batteries' power (B, T), + charging, as answered (0 where the answer has none)."""

    batteries: list[Battery]
    power_kw: np.ndarray  # (B, T)
    parent_circuits: list[tuple[str, ...]]  # each battery's circuit and every one above it


def switches_phases(session: Session, charger: Charger) -> bool:
    """SPEC §4: a three-phase AC session on a charger with phase switching decides its phases
    per slot."""
    phases = min(charger.phases, session.phases or charger.phases)
    return charger.kind == "ac" and charger.phase_switching and phases == 3


def read_phases_used(
    problem: Problem, session: Session, charger: Charger, entry: dict, nominal: int, report
) -> np.ndarray:
    """(T,) the phases a session uses per slot; rules `phases_used`, `phase_switches`."""
    slots, name = problem.horizon.slots, f"session:{session.id}"
    answered = entry.get("phases_used")
    if not switches_phases(session, charger):
        if answered is not None and (
            not isinstance(answered, list) or any(p != nominal for p in answered)
        ):
            report.add("phases_used", name, None, 1, f"does not switch: uses {nominal} phases")
        return np.full(slots, nominal)
    if (
        not isinstance(answered, list)
        or len(answered) != slots
        or any(p not in (1, 3) for p in answered)
    ):
        report.add("phases_used", name, None, slots, f"needs {slots} values of 1 or 3")
        return np.full(slots, nominal)
    phases = np.asarray(answered, dtype=int)
    changes = int((phases[1:] != phases[:-1]).sum())
    most = problem.options.max_phase_switches
    if changes > most:
        report.add(
            "phase_switches",
            name,
            None,
            changes - most,
            f"switches {changes} times, at most {most}",
        )
    return phases


def check_discharge(
    problem: Problem,
    session: Session,
    charger: Charger,
    entry: dict,
    power_kw: np.ndarray,
    least_net_kwh: float,
    report,
) -> float:
    """Rules `v2g_discharge_max`, `v2g_energy`, `v2g_short`, `v2g_range`, `v2g_report`; the
    kWh a V2G
    session fed back (any other session that does breaks `negative_power`, `optimizer.check`).
    """
    tol, step_h = report.tol, problem.horizon.step_minutes / 60.0
    name = f"session:{session.id}"
    discharge_kw = np.maximum(-power_kw, 0.0)
    if session.discharge is None or not charger.bidirectional:
        return 0.0
    limit = session.discharge
    report.above("v2g_discharge_max", name, discharge_kw, limit.max_power_kw, "discharge [kW]")
    total = float(discharge_kw.sum() * step_h)
    slack = tol * (1 + problem.horizon.slots * step_h)
    if total > limit.max_energy_kwh + slack:
        report.add(
            "v2g_energy",
            name,
            None,
            total - limit.max_energy_kwh,
            f"discharges {total:.6g} kWh, more than its max_energy_kwh {limit.max_energy_kwh:g}",
        )
    unmet = entry.get("unmet_kwh")
    # Set-points are rounded down to 0.1 A (SPEC §2): that much per slot may go short.
    voltage_v = problem.site.grid.voltage_v
    step_kw = 1e-4 if charger.kind == "dc" else 0.1 * voltage_v * charger.phases / 1000.0
    rounding_kwh = step_kw * problem.horizon.slots * step_h
    if total > slack and isinstance(unmet, int | float) and unmet > slack + rounding_kwh:
        report.add(
            "v2g_short",
            name,
            None,
            unmet,
            f"discharges {total:.6g} kWh yet leaves {unmet:.6g} kWh short: only an EV that "
            "gets all its energy may feed back",
        )
    net = float(power_kw.sum() * step_h)
    if net < least_net_kwh - slack:
        report.add(
            "v2g_range",
            name,
            None,
            least_net_kwh - net,
            f"ends {net:.6g} kWh net: the driver would pay for the site's discharge with range",
        )
    answered = entry.get("discharged_kwh")
    if not isinstance(answered, int | float) or abs(answered - total) > slack:
        report.add("v2g_report", name, None, 1, f"discharged_kwh is {answered!r}, not {total:.6g}")
    return total


def read_batteries(
    problem: Problem, answer: dict, parent_of: dict[str, str | None], report
) -> BatteryReading:
    """The answered battery powers; rules `battery_entries`, `battery_power`, `battery_soc`,
    `battery_soc_range`, `battery_final`."""
    batteries, slots = problem.site.batteries, problem.horizon.slots
    power = np.zeros((len(batteries), slots))
    chains = [_chain(b.circuit, parent_of) for b in batteries]
    if not batteries:
        return BatteryReading(batteries, power, chains)
    entries = {e.get("id"): e for e in answer.get("batteries") or [] if isinstance(e, dict)}
    warnings = [str(w) for w in answer.get("warnings") or []]
    for b, battery in enumerate(batteries):
        name = f"battery:{battery.id}"
        entry = entries.get(battery.id) or {}
        arrays = []
        for key in ("power_kw", "soc_kwh"):
            value = entry.get(key)
            ok = isinstance(value, list) and len(value) == slots
            array = np.asarray(value, dtype=float) if ok else None
            if array is None or not np.isfinite(array).all():
                report.add(
                    "battery_entries", f"{name}.{key}", None, slots, f"needs {slots} numbers"
                )
                array = None
            arrays.append(array)
        if arrays[0] is None:
            continue
        power[b] = arrays[0]
        _check_battery(problem, battery, power[b], arrays[1], warnings, report)
    return BatteryReading(batteries, power, chains)


def _check_battery(
    problem: Problem,
    battery: Battery,
    power_kw: np.ndarray,
    soc_kwh: np.ndarray | None,
    warnings: list[str],
    report,
) -> None:
    tol, step_h, slots = report.tol, problem.horizon.step_minutes / 60.0, problem.horizon.slots
    name = f"battery:{battery.id}"
    report.above("battery_power", name, power_kw, battery.max_charge_kw, "charge [kW]")
    report.above("battery_power", name, -power_kw, battery.max_discharge_kw, "discharge [kW]")
    root = math.sqrt(battery.efficiency)
    moved = (np.maximum(power_kw, 0.0) * root - np.maximum(-power_kw, 0.0) / root) * step_h
    soc = battery.soc_kwh + np.cumsum(moved)
    slack = tol * (1 + np.arange(1, slots + 1) * step_h * 2)
    if soc_kwh is not None:
        off = np.abs(soc_kwh - soc)
        for t in np.flatnonzero(off > slack):
            report.add(
                "battery_soc", name, int(t), off[t], f"soc {soc_kwh[t]:.6g}, not {soc[t]:.6g}"
            )
    upper = battery.capacity_kwh if battery.max_soc_kwh is None else battery.max_soc_kwh
    lowest = min(battery.min_soc_kwh, battery.soc_kwh)
    highest = max(upper, battery.soc_kwh)
    report.above("battery_soc_range", name, soc, highest, "state of charge [kWh]", slack)
    report.above("battery_soc_range", name, -soc, -lowest, "state of charge below [kWh]", slack)
    final = battery.soc_kwh if battery.final_soc_kwh is None else battery.final_soc_kwh
    short = final - soc[-1]
    explained = any(battery.id in w and "final_soc_kwh" in w for w in warnings)
    if short > slack[-1] and not explained:
        report.add(
            "battery_final",
            name,
            slots - 1,
            short,
            f"ends at {soc[-1]:.6g} kWh, below its final_soc_kwh {final:g}, and no warning "
            "says why",
        )


def _chain(circuit: str | None, parent_of: dict[str, str | None]) -> tuple[str, ...]:
    chain: list[str] = []
    while circuit is not None and circuit not in chain:
        chain.append(circuit)
        circuit = parent_of.get(circuit)
    return tuple(chain)


def check_storage_kpis(
    problem: Problem,
    answer: dict,
    reading: BatteryReading,
    discharged_kwh: float,
    report,
) -> None:
    """Rule `kpi` on `battery_cycle_cost` (cycle_cost_per_kwh on the energy discharged at the
    battery's terminals) and `v2g_discharged_kwh`."""
    step_h = problem.horizon.step_minutes / 60.0
    kpis = answer.get("kpis") or {}
    cost = sum(
        b.cycle_cost_per_kwh * float(np.maximum(-reading.power_kw[i], 0.0).sum() * step_h)
        for i, b in enumerate(reading.batteries)
    )
    slack = report.tol * (1 + problem.horizon.slots * step_h * (1 + len(problem.sessions)))
    for key, value in (("battery_cycle_cost", cost), ("v2g_discharged_kwh", discharged_kwh)):
        if key not in kpis:
            if value > slack:
                report.add("kpi", f"kpis.{key}", None, 1, "missing")
            continue
        got = kpis[key]
        off = abs(got - value) if isinstance(got, int | float) else math.inf
        if off > slack:
            report.add(
                "kpi",
                f"kpis.{key}",
                None,
                1 if math.isinf(off) else off,
                f"is {got!r}, the schedule adds up to {value:.6g}",
            )
