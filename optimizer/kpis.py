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


def compute_kpis(index: ProblemIndex, setpoint: np.ndarray, flows: SiteFlows) -> dict[str, Any]:
    """The figures of SPEC §2, plus `peak_so_far_kw` and `demand_periods` (SPEC §5): per billing
    period the horizon touches, its start and end, the peak already paid, its peak with this
    schedule and the demand charge on the difference."""
    dt = index.step_h
    tariff, demand = index.problem.tariff, index.demand
    delivered_kwh, unmet_kwh = session_energy(index, setpoint)
    import_cost = float((flows.import_kw * index.import_price).sum() * dt)
    export_revenue = float((flows.export_kw * index.export_price).sum() * dt)
    peak_import_kw = float(flows.import_kw.max(initial=0.0))
    period_peak_kw = demand.peak_kw(flows.import_kw)
    period_charge = tariff.demand_charge_per_kw * (period_peak_kw - demand.peak_so_far_kw)
    demand_charge = float(period_charge.sum())
    kpis = {
        "energy_requested_kwh": float(index.energy_counts_kwh.sum()),
        "energy_wanted_kwh": float(index.energy_kwh.sum()),
        "energy_delivered_kwh": float(delivered_kwh.sum()),
        "unmet_kwh": float(unmet_kwh.sum()),
        "import_cost": import_cost,
        "export_revenue": export_revenue,
        "demand_charge": float(demand_charge),
        "total_cost": import_cost - export_revenue + float(demand_charge),
        "peak_import_kw": peak_import_kw,
        "pv_used_kwh": float(flows.pv_used_kw.sum() * dt),
        "pv_curtailed_kwh": float((index.pv_kw - flows.pv_used_kw).sum() * dt),
        "peak_so_far_kw": float(tariff.peak_so_far_kw),
    }
    result: dict[str, Any] = {name: round(value, 6) for name, value in kpis.items()}
    result["demand_periods"] = [
        {
            "start": None if start is None else start.isoformat(),
            "end": None if end is None else end.isoformat(),
            "peak_so_far_kw": round(float(so_far), 6),
            "peak_kw": round(float(peak), 6),
            "charge": round(float(charge), 6),
        }
        for start, end, so_far, peak, charge in zip(
            demand.start,
            demand.end,
            demand.peak_so_far_kw,
            period_peak_kw,
            period_charge,
            strict=True,
        )
    ]
    return result
