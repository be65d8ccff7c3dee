"""PV power of a site's arrays from pvlib's physics chain.

solar position -> clear sky (Ineichen with pvlib's Linke turbidity climatology) or measured /
forecast irradiance -> decomposition (Erbs, when only GHI is known) -> transposition onto each
array's plane (Hay-Davies) -> cell temperature (Faiman) -> PVWatts DC with the array's losses
-> inverter clipping. Every function takes and returns tz-aware pandas objects; naive times
are rejected (we never guess a time zone). A value stamped with an interval's start stands for
the interval's mean: with `interval_minutes`, the sun is placed at the interval's midpoint (at
the start, a morning quarter-hour's clear sky would be read 7.5 minutes early).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pvlib

from smartcharge.forecasting.timeseries import require_aware
from smartcharge.optimizer.problem import Location, PVArray

GAMMA_PDC_PER_C = -0.004  # PVWatts' default temperature coefficient of crystalline silicon
# Kasten & Czeplak (1980): GHI = clear-sky GHI x (1 - 0.75 x (cloud cover)^3.4).
KASTEN_A, KASTEN_B = 0.75, 3.4


def _midpoints(times: pd.DatetimeIndex, interval_minutes: float) -> pd.DatetimeIndex:
    return times + pd.Timedelta(minutes=interval_minutes / 2)


def solar_position(
    times: pd.DatetimeIndex, location: Location, interval_minutes: float = 0.0
) -> pd.DataFrame:
    """pvlib's solar position at `times` (interval midpoints), indexed by `times`."""
    solar = pvlib.solarposition.get_solarposition(
        _midpoints(times, interval_minutes),
        location.latitude,
        location.longitude,
        altitude=location.altitude_m,
    )
    return solar.set_axis(times)


def clearsky_irradiance(
    times: pd.DatetimeIndex, location: Location, interval_minutes: float = 0.0
) -> pd.DataFrame:
    """Clear-sky GHI, DNI, DHI [W/m^2] (Ineichen, pvlib's Linke turbidity climatology)."""
    times = require_aware(times)
    site = pvlib.location.Location(
        location.latitude, location.longitude, altitude=location.altitude_m
    )
    return site.get_clearsky(_midpoints(times, interval_minutes), model="ineichen").set_axis(times)


def ghi_from_cloud_cover(clear_ghi_w_m2: pd.Series, cloud_cover_pct: pd.Series) -> pd.Series:
    """GHI [W/m^2] from cloud cover [%] (Kasten & Czeplak 1980)."""
    fraction = np.clip(np.asarray(cloud_cover_pct, dtype=float) / 100.0, 0.0, 1.0)
    return clear_ghi_w_m2 * (1.0 - KASTEN_A * fraction**KASTEN_B)


def complete_irradiance(
    weather: pd.DataFrame, location: Location, interval_minutes: float = 0.0
) -> pd.DataFrame:
    """`ghi`, `dni`, `dhi` [W/m^2] for every time: DNI/DHI from GHI by Erbs where missing."""
    times = require_aware(weather.index, "weather times")
    solar = solar_position(times, location, interval_minutes)
    ghi = weather["ghi"].clip(lower=0)  # a missing GHI stays missing (never invented)
    if {"dni", "dhi"} <= set(weather.columns) and weather[["dni", "dhi"]].notna().all().all():
        return pd.DataFrame(
            {"ghi": ghi, "dni": weather["dni"].clip(lower=0), "dhi": weather["dhi"].clip(lower=0)}
        )
    erbs = pvlib.irradiance.erbs(ghi, solar["zenith"], times)
    return pd.DataFrame({"ghi": ghi, "dni": erbs["dni"], "dhi": erbs["dhi"]})


def pv_power_kw(
    irradiance: pd.DataFrame,
    location: Location,
    arrays: Sequence[PVArray],
    temp_air_c: pd.Series | float = 20.0,
    wind_speed_m_s: pd.Series | float = 1.0,
    interval_minutes: float = 0.0,
) -> pd.Series:
    """AC power [kW] of all `arrays` under `irradiance` (columns ghi, dni, dhi [W/m^2])."""
    times = require_aware(irradiance.index, "irradiance times")
    solar = solar_position(times, location, interval_minutes)
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    total = pd.Series(0.0, index=times)
    known = irradiance[["ghi", "dni", "dhi"]].notna().all(axis=1)  # missing: NaN, not 0 kW
    for array in arrays:
        poa = (
            pvlib.irradiance.get_total_irradiance(
                array.tilt_deg,
                array.azimuth_deg,
                solar["apparent_zenith"],
                solar["azimuth"],
                irradiance["dni"],
                irradiance["ghi"],
                irradiance["dhi"],
                dni_extra=dni_extra,
                model="haydavies",
            )["poa_global"]
            .fillna(0.0)
            .where(known)
        )
        cell_c = pvlib.temperature.faiman(poa, temp_air_c, wind_speed_m_s)
        dc_kw = pvlib.pvsystem.pvwatts_dc(poa, cell_c, array.kwp, GAMMA_PDC_PER_C)
        ac_kw = dc_kw * (1.0 - array.losses_pct / 100.0)
        if array.inverter_kw is not None:
            ac_kw = ac_kw.clip(upper=array.inverter_kw)
        total = total + ac_kw.clip(lower=0.0)
    return total


def clearsky_pv_kw(
    times: pd.DatetimeIndex,
    location: Location,
    arrays: Sequence[PVArray],
    interval_minutes: float = 0.0,
) -> pd.Series:
    """AC power [kW] of the arrays under a clear sky (20 °C, 1 m/s)."""
    irradiance = clearsky_irradiance(times, location, interval_minutes)
    return pv_power_kw(irradiance, location, arrays, interval_minutes=interval_minutes)


def metered_pv_kw(
    measured: pd.DataFrame,
    location: Location,
    arrays: Sequence[PVArray],
    interval_minutes: float,
) -> pd.Series:
    """The AC power [kW] the arrays would have metered under measured irradiance (`ghi`, and
    `dni`/`dhi`, `temp_air`, `wind_speed` where measured), NaN where `ghi` is missing."""
    known = measured.dropna(subset=["ghi"])
    irradiance = complete_irradiance(known, location, interval_minutes)
    return pv_power_kw(
        irradiance,
        location,
        arrays,
        known.get("temp_air", 20.0),
        known.get("wind_speed", 1.0),
        interval_minutes=interval_minutes,
    ).reindex(measured.index)
