"""Site flows implied by a schedule: charging, phase currents, PV used, import and export.

A schedule is the sessions' set-points (negative where a bidirectional session discharges),
with, where the site has them (SPEC §4), each battery's net power and the phases each
switching session uses per slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.units import phase_current_of_balanced_kw


@dataclass(frozen=True)
class SiteFlows:
    charging_kw: np.ndarray  # (T,) the sessions' net power
    pv_used_kw: np.ndarray  # (T,)
    import_kw: np.ndarray  # (T,)
    export_kw: np.ndarray  # (T,)
    charging_phase_a: np.ndarray  # (3, T) the sessions' current per grid phase
    battery_kw: np.ndarray | None = None  # (T,) the batteries' net power, + charging


def session_power_kw(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None = None
) -> np.ndarray:
    """(S, T) power [kW] of (S, T) set-points (with `phases` (S, T) used, if they switch)."""
    if phases is None:
        return setpoint * index.kw_per_unit[:, None]
    return setpoint * index.kw_per_unit_at(phases)


def site_flows(
    index: ProblemIndex,
    setpoint: np.ndarray,
    pv_used_hint_kw: np.ndarray | None = None,
    battery_kw: np.ndarray | None = None,
    phases: np.ndarray | None = None,
) -> SiteFlows:
    """Flows of a schedule, with PV used chosen inside every limit.

    PV used is kept as close to the hint (the solver's choice) as the limits allow: at least
    what keeps import and every phase within their upper limits, at most what keeps export and
    every phase within their lower limits and the PV available. Import and export follow from
    the net balance, so they are never both positive. A battery's net power (`battery_kw`,
    (B, T)) counts like base load: in the balance and as balanced three-phase current.
    """
    charging_kw = session_power_kw(index, setpoint, phases).sum(axis=0)
    charging_phase_a = index.phase_currents_a(setpoint, phases)
    battery_total_kw = None if battery_kw is None else np.asarray(battery_kw).sum(axis=0)
    base, pv = index.base_load_kw, index.pv_kw
    if battery_total_kw is not None:
        base = base + battery_total_kw
    amps_per_kw = float(phase_current_of_balanced_kw(1.0, index.voltage_v))
    lower = np.maximum(0.0, base + charging_kw - index.import_limit_kw)
    upper = np.minimum(pv, base + charging_kw + index.export_limit_kw)
    if np.isfinite(index.grid_phase_limit_a).any():
        lower = np.maximum(
            lower, (base + (charging_phase_a - index.phase_upper_a) / amps_per_kw).max(axis=0)
        )
        upper = np.minimum(
            upper, (base + (charging_phase_a - index.phase_lower_a) / amps_per_kw).min(axis=0)
        )
    hint = pv if pv_used_hint_kw is None else pv_used_hint_kw
    # Where limits conflict (a blocked slot), lean to the side that is broken least: all PV
    # when the site imports too much even so, none when it exports too much without any.
    unavoidable = np.where(base - pv > 0, pv, 0.0)
    # Bounds a hair apart (solver noise in a set-point) still meet: use the tighter one.
    feasible = lower <= upper + 1e-7
    pv_used = np.where(feasible, np.clip(hint, np.minimum(lower, upper), upper), unavoidable)
    net_kw = base + charging_kw - pv_used
    return SiteFlows(
        charging_kw=charging_kw,
        pv_used_kw=pv_used,
        import_kw=np.maximum(net_kw, 0.0),
        export_kw=np.maximum(-net_kw, 0.0),
        charging_phase_a=charging_phase_a,
        battery_kw=battery_total_kw,
    )
