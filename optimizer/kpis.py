"""Key figures of a schedule (SPEC §2 `kpis`): energy, cost, peak, PV."""

from __future__ import annotations

from typing import Any

import numpy as np

from smartcharge.optimizer.flows import SiteFlows, session_power_kw
from smartcharge.optimizer.index import ProblemIndex


def session_energy(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(delivered kWh, unmet kWh) per session; unmet counts only the energy that counts.
    Delivered is net of what a bidirectional session discharged (SPEC §4)."""
    delivered_kwh = session_power_kw(index, setpoint, phases).sum(axis=1) * index.step_h
    unmet_kwh = np.maximum(index.energy_counts_kwh - delivered_kwh, 0.0)
    return delivered_kwh, unmet_kwh


def demand_charges(index: ProblemIndex, import_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(peak [kW], charge) of each billing period: its highest import (at least what it had
    paid already), and the demand charge on what lies above that (SPEC §5)."""
    demand = index.demand
    peak_kw = demand.peak_kw(import_kw)
    return peak_kw, index.problem.tariff.demand_charge_per_kw * (peak_kw - demand.peak_so_far_kw)


def discharged_kwh(
    index: ProblemIndex, setpoint: np.ndarray, phases: np.ndarray | None = None
) -> np.ndarray:
    """(S,) energy each session fed back (SPEC §4, V2G) [kWh]."""
    power_kw = session_power_kw(index, setpoint, phases)
    return np.maximum(-power_kw, 0.0).sum(axis=1) * index.step_h


def battery_cycle_cost(index: ProblemIndex, battery_kw: np.ndarray | None) -> float:
    """Degradation: `cycle_cost_per_kwh` on the energy each battery discharged at its
    terminals (SPEC §4)."""
    if battery_kw is None or index.batteries is None:
        return 0.0
    discharged = np.maximum(-battery_kw, 0.0).sum(axis=1) * index.step_h
    return float(discharged @ index.batteries.cycle_cost_per_kwh)


def compute_kpis(
    index: ProblemIndex,
    setpoint: np.ndarray,
    flows: SiteFlows,
    phases: np.ndarray | None = None,
    battery_kw: np.ndarray | None = None,
) -> dict[str, float]:
    """The figures of SPEC §2, plus `peak_so_far_kw` (SPEC §5) and the storage figures of
    SPEC §4: every one a number. `total_cost` is the site's bill; the batteries' cycle cost
    is its own figure."""
    dt = index.step_h
    delivered_kwh, unmet_kwh = session_energy(index, setpoint, phases)
    import_cost = float((flows.import_kw * index.import_price).sum() * dt)
    export_revenue = float((flows.export_kw * index.export_price).sum() * dt)
    demand_charge = float(demand_charges(index, flows.import_kw)[1].sum())
    kpis = {
        "energy_requested_kwh": float(index.energy_counts_kwh.sum()),
        "energy_wanted_kwh": float(index.energy_kwh.sum()),
        "energy_delivered_kwh": float(delivered_kwh.sum()),
        "unmet_kwh": float(unmet_kwh.sum()),
        "import_cost": import_cost,
        "export_revenue": export_revenue,
        "demand_charge": demand_charge,
        "total_cost": import_cost - export_revenue + demand_charge,
        "peak_import_kw": float(flows.import_kw.max(initial=0.0)),
        "peak_so_far_kw": float(index.problem.tariff.peak_so_far_kw),
        "pv_used_kwh": float(flows.pv_used_kw.sum() * dt),
        "pv_curtailed_kwh": float((index.pv_kw - flows.pv_used_kw).sum() * dt),
        "battery_cycle_cost": battery_cycle_cost(index, battery_kw),
        "v2g_discharged_kwh": float(discharged_kwh(index, setpoint, phases).sum()),
    }
    return {name: round(value, 6) for name, value in kpis.items()}


def demand_period_entries(index: ProblemIndex, flows: SiteFlows) -> list[dict[str, Any]]:
    """The answer's `demand_periods` (SPEC §5): per billing period the horizon touches, its
    local start and end, the peak it had paid, its peak with this schedule and the charge."""
    demand = index.demand
    peak_kw, charge = demand_charges(index, flows.import_kw)
    return [
        {
            "start": None if start is None else start.isoformat(),
            "end": None if end is None else end.isoformat(),
            "peak_so_far_kw": round(float(demand.peak_so_far_kw[p]), 6),
            "peak_kw": round(float(peak_kw[p]), 6),
            "charge": round(float(charge[p]), 6),
        }
        for p, (start, end) in enumerate(zip(demand.start, demand.end, strict=True))
    ]
