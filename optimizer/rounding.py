"""Set-points as chargers can execute them: floored to 0.1 A (0.1 W on DC), 0 or >= minimum.

OCPP 1.6 accepts limits that are multiples of 0.1 and IEC 61851 encodes no current below 6 A,
so the rounded schedule is the one that is checked, reported and emitted. Flooring only lowers
a set-point, which keeps every upper limit; a value a hair under a grid point (solver noise) is
first snapped onto it so that 15.99999999 A stays 16 A, not 15.9 A.
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer.index import ProblemIndex

CURRENT_STEP_A = 0.1
DC_POWER_STEP_KW = 1e-4  # 0.1 W
_NOISE = 1e-6


def floor_to_step(values: np.ndarray, step: float) -> np.ndarray:
    """Largest multiple of `step` not above `values` (after snapping solver noise)."""
    # The final round keeps the float closest to the grid point (13.1, not 13.100000000000001).
    return np.round(np.floor(np.asarray(values, dtype=float) / step + _NOISE) * step, 10)


def round_setpoints(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None = None
) -> np.ndarray:
    """(S, T) set-points -> executable set-points: 0 outside plugged slots, floored, 0 or >= min.

    A discharge (negative, SPEC §4) is floored in size the same way (OCPP's `dischargeLimit`
    is a limit like any other), within the session's discharge limit; a switching session on
    one phase (`phases`) within its one-phase maximum.
    """
    step = np.where(index.is_ac, CURRENT_STEP_A, DC_POWER_STEP_KW)[:, None]
    upper = np.repeat(index.unit_max[:, None], index.slots, axis=1)
    if phases is not None and index.unit_max_one is not None and index.switches.any():
        one = index.switches[:, None] & (phases == 1)
        upper = np.where(one, index.unit_max_one[:, None], upper)
    lower = np.zeros(index.n_sessions)
    if index.discharge_max_unit is not None:
        lower = -index.discharge_max_unit
    clipped = np.clip(np.where(index.plugged, setpoint, 0.0), lower[:, None], upper)
    size = np.abs(clipped)
    rounded = np.round(floor_to_step(size / step, 1.0) * step, 10)
    floor = index.unit_min[:, None]
    # Just under the floor by noise counts as the floor; clearly under it is a pause.
    at_floor = (rounded < floor) & (size >= floor - _NOISE) & (floor > 0)
    rounded = np.where(at_floor, floor, rounded)
    rounded = np.where(rounded < floor, 0.0, rounded)
    return np.where(clipped < 0, -rounded, rounded) + 0.0


def within_net_energy(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None = None
) -> np.ndarray:
    """Set-points whose net energy is at most each session's `energy_kwh` (SPEC §4): a V2G
    session's discharge, floored in size, can leave it a few Wh more than it asked for; its
    latest charging is lowered by whole steps (to 0 where it would fall below the minimum)."""
    if index.discharge_max_unit is None or not (setpoint < 0).any():
        return setpoint
    step = np.where(index.is_ac, CURRENT_STEP_A, DC_POWER_STEP_KW)
    kw_per_unit = index.kw_per_unit_at(phases)  # (S, T)
    net_kwh = (setpoint * kw_per_unit).sum(axis=1) * index.step_h
    result = setpoint.copy()
    for s in np.flatnonzero(net_kwh > index.energy_kwh + 1e-9):
        excess_kwh = net_kwh[s] - index.energy_kwh[s]
        for t in np.flatnonzero(result[s] > 0)[::-1]:
            unit_kwh = kw_per_unit[s, t] * index.step_h
            lower = np.ceil(excess_kwh / unit_kwh / step[s] - _NOISE) * step[s]
            new = result[s, t] - lower
            new = 0.0 if new < index.unit_min[s] - _NOISE else round(new, 10)
            excess_kwh -= (result[s, t] - new) * unit_kwh
            result[s, t] = new
            if excess_kwh <= 1e-9:
                break
    return result
