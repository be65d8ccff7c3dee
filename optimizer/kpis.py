"""Key figures of a schedule (SPEC §2 `kpis`): energy, cost, peak, PV."""

from __future__ import annotations

from typing import Any

import numpy as np

from smartcharge.optimizer.flows import SiteFlows, session_power_kw
from smartcharge.optimizer.index import ProblemIndex


def session_energy(index: ProblemIndex, setpoint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(delivered kWh, unmet kWh) per session; unmet counts only the energy that counts."""
    delivered_kwh = session_power_kw(index, setpoint).sum(axis=1) * index.step_h
    unmet_kwh = np.maximum(index.energy_counts_kwh - delivered_kwh, 0.0)
    return delivered_kwh, unmet_kwh


def demand_charges(index: ProblemIndex, import_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(peak [kW], charge) of each billing period: its highest import (at least what it had
    paid already), and the demand charge on what lies above that (SPEC §5)."""
    demand = index.demand
    peak_kw = demand.peak_kw(import_kw)
    return peak_kw, index.problem.tariff.demand_charge_per_kw * (peak_kw - demand.peak_so_far_kw)


def compute_kpis(index: ProblemIndex, setpoint: np.ndarray, flows: SiteFlows) -> dict[str, float]:
    """The figures of SPEC §2, plus `peak_so_far_kw` (SPEC §5): every one a number."""
    dt = index.step_h
    delivered_kwh, unmet_kwh = session_energy(index, setpoint)
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
