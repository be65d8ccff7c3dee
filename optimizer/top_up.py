"""An answer topped up: whatever room a schedule leaves goes to sessions still short of energy.

Rounding to 0.1 A frees a little room in every slot, and a schedule cut short by the time limit
(a stage of the objective order that did not finish) may leave a lot: a stage minimising the
higher tier's shortfall does not care for the lower tier yet. The top-up water-fills every slot
(`optimizer.fallback.fill`) for the sessions still short of the energy that counts, higher
priority first, then earliest departure, within every limit, so that no PV is curtailed and no
room is left in a slot while a session plugged in there is short and could take it. It only
raises set-points, so nothing the schedule achieved on a higher tier is given up, and nothing
it put in a car before an early departure (SPEC §6: the energy missing by then only shrinks);
an estimated session is served by that early departure (`fallback.serving_rank`), so a stage
cut short before the early stage still sees what is due first served first.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from smartcharge.optimizer.fallback import LimitRows, fill, serving_rank
from smartcharge.optimizer.flows import session_power_kw
from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.units import phase_current_of_balanced_kw


def top_up(
    index: ProblemIndex,
    setpoint: np.ndarray,
    import_cap_kw: float | np.ndarray = np.inf,
    pv_hint_kw: np.ndarray | None = None,
    rows: LimitRows | None = None,
    battery_kw: np.ndarray | None = None,
    phases: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(set-points, PV-use hint) with the room filled for sessions short of energy.

    `import_cap_kw` (one, or one per slot) keeps import at or below a peak the schedule chose
    not to exceed (a demand charge it avoided). The PV hint (the solver's choice of PV use)
    grows with the charging added, so that added charging is served by PV the schedule
    curtailed before any import.

    With SPEC §4 dispatch: the batteries' power (`battery_kw`, (B, T)) stays as planned and
    counts like base load (and in its circuits); a session discharging in a slot is not topped
    up there. A switching session on one phase (`phases`) is counted as if on three, which
    overstates what it uses of every row, so what the top-up adds stays within every limit.
    """
    delivered_kwh = session_power_kw(index, setpoint, phases).sum(axis=1) * index.step_h
    short_kwh = np.maximum(index.energy_counts_kwh - delivered_kwh, 0.0)
    if not (short_kwh > 1e-6).any():
        return setpoint, pv_hint_kw
    planned = index
    fixed_usage = None
    if (setpoint < 0).any():
        planned = dataclasses.replace(planned, plugged=index.plugged & (setpoint >= 0))
    if battery_kw is not None and index.batteries is not None:
        rows = LimitRows.of(index) if rows is None else rows
        planned = dataclasses.replace(planned, base_load_kw=index.base_load_kw + battery_kw.sum(0))
        fixed_usage = battery_circuit_usage(index, rows, battery_kw)
    filled = fill(
        planned, setpoint, short_kwh, serving_rank(index), import_cap_kw, rows, fixed_usage
    )
    if pv_hint_kw is None:
        return filled, None
    added_kw = session_power_kw(index, filled, phases) - session_power_kw(index, setpoint, phases)
    return filled, np.minimum(index.pv_kw, pv_hint_kw + added_kw.sum(axis=0))


def battery_circuit_usage(
    index: ProblemIndex, rows: LimitRows, battery_kw: np.ndarray
) -> np.ndarray:
    """(R, T) what the batteries' power (B, T) uses of each circuit row (kW, or balanced
    three-phase A); grid rows get 0 (there a battery counts like base load)."""
    assert index.batteries is not None
    usage = np.zeros((rows.circuit_limit.size, index.slots))
    circuit_rows = np.flatnonzero(rows.circuit_of_row >= 0)
    in_circuit = index.batteries.in_circuit.astype(float)  # (C, B)
    kw_below = in_circuit[rows.circuit_of_row[circuit_rows]] @ battery_kw  # (rows, T)
    amps = phase_current_of_balanced_kw(kw_below, index.voltage_v)
    usage[circuit_rows] = np.where(rows.is_phase_row[circuit_rows, None], amps, kw_below)
    return usage
