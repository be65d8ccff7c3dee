"""Metered values in (idempotent by timestamp), and the forecasts the next plan will use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from smartcharge.api.deps import ClockDep, DatabaseDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.store.measurements import (
    read_battery_soc,
    read_measurements,
    upsert_battery_soc,
    upsert_measurements,
)
from smartcharge.api.stored_problem import stored_problem
from smartcharge.forecasting.pv_candidates import BANDS
from smartcharge.forecasting.resolve import horizon_times, resolve_forecasts
from smartcharge.optimizer.problem import (
    EnergyKwh,
    NonNegativeSitePowerKw,
    SitePowerKw,
    parse_problem,
)

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["measurements and forecasts"])


class MeasurementIn(BaseModel):
    """One metering interval's average power, stamped with the interval's start."""

    model_config = ConfigDict(extra="forbid")
    time_utc: AwareDatetime
    base_load_kw: SitePowerKw | None = Field(default=None, description="site load without charging")
    pv_kw: NonNegativeSitePowerKw | None = Field(default=None, description="PV production")
    import_kw: NonNegativeSitePowerKw | None = Field(default=None, description="grid meter, import")
    export_kw: NonNegativeSitePowerKw | None = Field(default=None, description="grid meter, export")
    battery_soc_kwh: dict[str, EnergyKwh] | None = Field(
        default=None,
        description="per battery id of the site (SPEC §4), its measured state of charge at "
        "time_utc; the next plan starts from the latest one instead of the document's soc_kwh",
    )

    @model_validator(mode="after")
    def _some_value(self) -> MeasurementIn:
        values = (self.base_load_kw, self.pv_kw, self.import_kw, self.export_kw)
        if all(v is None for v in values) and not self.battery_soc_kwh:
            raise ValueError(
                "give at least one of base_load_kw, pv_kw, import_kw, export_kw, battery_soc_kwh"
            )
        return self


class MeasurementsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measurements: list[MeasurementIn] = Field(max_length=100_000)


class MeasurementsStored(BaseModel):
    stored: int


class MeasurementOut(BaseModel):
    time_utc: datetime
    base_load_kw: float | None
    pv_kw: float | None
    import_kw: float | None
    export_kw: float | None
    battery_soc_kwh: dict[str, float] | None = None


class Band(BaseModel):
    p10: list[float]
    p50: list[float]
    p90: list[float]


class ForecastOut(BaseModel):
    start: datetime
    step_minutes: int
    times: list[datetime]
    base_load_kw: Band
    pv_kw: Band
    base_load_method: str = Field(description="method chosen by backtest, or 'given' / 'none'")
    pv_method: str = Field(
        description="the PV methods used over the horizon, '+'-joined in order of lead (see "
        "pv_methods); without PV measurements 'weather' (the stored weather forecast covers "
        "the horizon), 'weather+climatology' (it covers part of it) or 'climatology'; "
        "'given' / 'none' (no PV arrays)"
    )
    pv_methods: dict[str, str] = Field(
        description="per lead-time band ('0-2h', '2-6h', 'day-ahead': the time from now to a "
        "slot's end), the method its slots use, chosen at the local midnight by the site's own "
        "backtest: csi_persistence, smart_persistence, csi_ensemble, weather, "
        "weather_corrected, or one of the last four with '_updated' (pulled by the latest "
        "measured error); 'a+b' where a ends within the horizon (a weather forecast) and b "
        "takes over"
    )
    warnings: list[str]


@router.post("/measurements", summary="Store meter values", response_model=MeasurementsStored)
def post_measurements(
    body: MeasurementsIn, site: SiteDep, database: DatabaseDep
) -> MeasurementsStored:
    """Idempotent: the same timestamps posted again overwrite, never duplicate. Plans pick the
    values up at the next re-plan (event or tick); a meter value alone does not trigger one.
    A battery's state must name a battery of the site and fit its capacity (else 422)."""
    rows = [m.model_dump() for m in body.measurements]
    battery_rows = battery_states(body, site.document)
    upsert_measurements(database, site.pk, rows)
    upsert_battery_soc(database, site.pk, battery_rows)
    return MeasurementsStored(stored=len(rows))


def battery_states(body: MeasurementsIn, document: dict) -> list[tuple[str, datetime, float]]:
    """(battery id, time, kWh) per measured battery state, each checked against the site."""
    capacity_kwh = {b["id"]: b["capacity_kwh"] for b in document["site"].get("batteries") or []}
    rows = []
    for i, measurement in enumerate(body.measurements):
        for battery_id, soc_kwh in (measurement.battery_soc_kwh or {}).items():
            loc = ["measurements", i, "battery_soc_kwh", battery_id]
            if battery_id not in capacity_kwh:
                known = ", ".join(sorted(capacity_kwh)) or "none"
                raise field_error(loc, f"the site has no battery '{battery_id}' (it has: {known})")
            if soc_kwh > capacity_kwh[battery_id]:
                raise field_error(
                    loc, f"{soc_kwh} kWh is above the capacity {capacity_kwh[battery_id]} kWh"
                )
            rows.append((battery_id, measurement.time_utc, soc_kwh))
    return rows


@router.get("/measurements", summary="Stored meter values", response_model=list[MeasurementOut])
def get_measurements(
    site: SiteDep,
    database: DatabaseDep,
    since: Annotated[AwareDatetime | None, Query(description="from this time (inclusive)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
) -> list[MeasurementOut]:
    frame = read_measurements(database, site.pk, since=since, until=until)
    frame = frame.replace({np.nan: None})
    batteries = read_battery_soc(database, site.pk, since=since, until=until)
    meters = {t.to_pydatetime(): row.to_dict() for t, row in frame.iterrows()}
    empty = dict.fromkeys(frame.columns)
    return [
        MeasurementOut(time_utc=t, **meters.get(t, empty), battery_soc_kwh=batteries.get(t))
        for t in sorted(meters.keys() | batteries.keys())
    ]


@router.get(
    "/forecast", summary="Base load and PV forecasts with quantiles", response_model=ForecastOut
)
def forecast(
    site: SiteDep,
    database: DatabaseDep,
    clock: ClockDep,
    hours: Annotated[float, Query(gt=0, le=168, description="how far ahead")] = 24,
) -> ForecastOut:
    """What the next plan of this site will plan against where its document leaves base load
    or PV null (given values are returned as they are, with no spread): learned from the
    stored measurements, PV following the stored weather forecast where it reaches."""
    step_minutes = site.document.get("horizon", {}).get("step_minutes", 15)
    slots = max(1, round(hours * 60 / step_minutes))
    stored = stored_problem(database, site, clock.now(), slots=slots, sessions=[])
    # Only the forecasts matter here: per-slot prices and given series are cut to `hours`.
    stored.problem["tariff"] = {}
    for name in ("base_load_kw", "pv_kw"):
        given = stored.problem.get(name)
        if isinstance(given, list):
            stored.problem[name] = (given + given[-1:] * slots)[:slots]
    problem = parse_problem(stored.problem)
    resolved = resolve_forecasts(problem, **stored.histories)
    times = horizon_times(problem)
    return ForecastOut(
        start=problem.horizon.start,
        step_minutes=step_minutes,
        times=list(times.to_pydatetime()),
        base_load_kw=_band(resolved.quantiles.get("base_load"), resolved.base_load_kw),
        pv_kw=_band(resolved.quantiles.get("pv"), resolved.pv_kw),
        base_load_method=_method(problem.base_load_kw, resolved.quantiles.get("base_load")),
        pv_method=_method(problem.pv_kw, resolved.quantiles.get("pv")),
        pv_methods=_methods_by_band(problem.pv_kw, resolved.quantiles.get("pv")),
        warnings=resolved.warnings,
    )


def _band(quantiles: pd.DataFrame | None, planned: np.ndarray) -> Band:
    if quantiles is None:
        values = [float(v) for v in planned]
        return Band(p10=values, p50=values, p90=values)
    return Band(**{q: [float(v) for v in quantiles[q]] for q in ("p10", "p50", "p90")})


def _methods_by_band(given: object, quantiles: pd.DataFrame | None) -> dict[str, str]:
    if given is not None or quantiles is None:
        return {band.name: _method(given, quantiles) for band in BANDS}
    return dict(quantiles.attrs.get("methods", {}))


def _method(given: object, quantiles: pd.DataFrame | None) -> str:
    if given is not None:
        return "given"
    return quantiles.attrs.get("method", "none") if quantiles is not None else "none"
