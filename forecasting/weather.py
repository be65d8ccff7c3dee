"""Weather forecasts for PV, from any provider: read, put on the plan's slots, turned into power.

A forecast arrives as a DataFrame, a CSV (plain or .gz) or JSON (a file, a dict of columns or a
list of records) with a time column or index and GHI [W/m²] (optionally DNI and DHI), or only
the cloud cover [%]; temperature and wind speed are used when given. Column names may carry
their units (`ghi_w_m2`, `temp_air_c`, as in the problem document) or be pvlib's (`ghi`,
`temp_air`). A provider's own JSON (Open-Meteo, Solcast) is recognised and read by
`forecasting.providers`. Each value stands for the instant of its time.

Providers give hourly values, plans want quarter-hours. GHI is interpolated as a clear-sky
index (GHI / clear-sky GHI), not in W/m², so the hour around sunrise keeps its curve; the
diffuse fraction is interpolated the same way and DNI follows from closure. Where only the cloud
cover is given, GHI = clear-sky GHI × (1 − 0.75 × cover^3.4) (Kasten & Czeplak 1980), split by
Erbs; a forecast may mix both (GHI where given, cloud cover elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smartcharge.forecasting.providers import ProviderFormat, detect_format, read_provider
from smartcharge.forecasting.pv import (
    clearsky_irradiance,
    complete_irradiance,
    ghi_from_cloud_cover,
    pv_power_kw,
    solar_position,
)
from smartcharge.forecasting.timeseries import require_aware
from smartcharge.optimizer.problem import Location, PVArray, Weather

COLUMN_UNITS = {
    "ghi": "ghi_w_m2",
    "dni": "dni_w_m2",
    "dhi": "dhi_w_m2",
    "temp_air": "temp_air_c",
    "wind_speed": "wind_speed_m_s",
    "cloud_cover": "cloud_cover_pct",
}
TIME_COLUMNS = ("time", "time_utc", "timestamp")
MIN_CLEARSKY_GHI_W_M2 = 10.0  # below this the clear-sky index of GHI is not worth a ratio
MAX_GHI_INDEX = 1.5

WeatherSource = pd.DataFrame | Weather | dict | list | str | Path


def read_weather(source: WeatherSource, provider: ProviderFormat | None = None) -> pd.DataFrame:
    """The forecast as a DataFrame on aware UTC times with pvlib's column names (ghi, dni,
    dhi, temp_air, wind_speed, cloud_cover: those given). A provider's JSON is recognised, or
    read as `provider` says. ValueError says what is wrong."""
    if isinstance(source, Weather):
        source = source.model_dump(exclude_none=True)
    if isinstance(source, str | Path):
        source = _read_file(Path(source))
    if provider is not None or detect_format(source) is not None:
        source = read_provider(source, provider).frame
    if isinstance(source, dict | list):
        source = pd.DataFrame(source)
    if not isinstance(source, pd.DataFrame):
        raise ValueError(f"a weather forecast cannot be read from {type(source).__name__}")
    return _normalised(source)


def _read_file(path: Path) -> pd.DataFrame | dict | list:
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.name.endswith((".json", ".json.gz")):
        opened = pd.io.common.get_handle(path, "r", compression="infer")
        with opened as handle:
            return json.load(handle.handle)
    return pd.read_csv(path)


def to_weather_document(frame: pd.DataFrame) -> dict[str, list]:
    """A frame of `read_weather` as the problem document's `weather` (ISO UTC times, names
    with units): what the service stores and checks."""
    document: dict[str, list] = {"time": [t.isoformat() for t in frame.index]}
    for name, units in COLUMN_UNITS.items():
        if name in frame.columns:
            document[units] = [float(v) for v in frame[name]]
    return document


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.rename(columns={units: name for name, units in COLUMN_UNITS.items()})
    time_column = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    if time_column is not None:
        frame = frame.set_index(_utc_times(frame.pop(time_column)))
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError(f"a weather forecast needs a time index or one of {TIME_COLUMNS}")
    frame.index = require_aware(frame.index, "weather times").tz_convert("UTC")
    known = [c for c in COLUMN_UNITS if c in frame.columns]
    if "ghi" not in known and "cloud_cover" not in known:
        raise ValueError("a weather forecast needs ghi (irradiance) or cloud_cover")
    frame = frame[known].apply(pd.to_numeric, errors="coerce")
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def _utc_times(values: pd.Series) -> pd.DatetimeIndex:
    """Aware times as UTC, whatever their offsets (a forecast in local time crosses DST
    changes); naive ones are refused."""
    try:
        times = pd.DatetimeIndex(pd.to_datetime(values))
    except ValueError:  # offsets that differ, or naive times among aware ones
        stamps = [pd.Timestamp(value) for value in values]
        naive = [stamp for stamp in stamps if stamp.tz is None]
        if naive:
            require_aware(pd.DatetimeIndex(naive), "weather times")
        times = pd.DatetimeIndex([stamp.tz_convert("UTC") for stamp in stamps])
    return require_aware(times, "weather times").tz_convert("UTC")


def _interpolated(values: pd.Series, at: pd.DatetimeIndex, hold_ends: bool = False) -> np.ndarray:
    """Linear in time at `at`; outside the known values' span NaN (never extrapolated), or
    with `hold_ends` their first and last value."""
    known = values.dropna()
    if known.empty:
        return np.full(len(at), np.nan)
    # Nanoseconds on both sides: pandas' times may come in s, ms, us or ns.
    x = at.as_unit("ns").asi8.astype(float)
    xp = pd.DatetimeIndex(known.index).as_unit("ns").asi8.astype(float)
    interpolated = np.interp(x, xp, known.to_numpy(dtype=float))
    if hold_ends:
        return interpolated
    return np.where((x >= xp[0]) & (x <= xp[-1]), interpolated, np.nan)


def weather_on_slots(
    weather: pd.DataFrame, times: pd.DatetimeIndex, location: Location, step_minutes: float
) -> pd.DataFrame:
    """ghi, dni, dhi, temp_air, wind_speed at the midpoint of each slot starting at `times`."""
    times = require_aware(times)
    midpoints = times + pd.Timedelta(minutes=step_minutes / 2)
    clear_here = clearsky_irradiance(weather.index, location)["ghi"]
    clear_slots = clearsky_irradiance(times, location, step_minutes)["ghi"].to_numpy()
    # Times with cloud cover but no GHI (another provider, a coarser product) get GHI from it.
    given_ghi = weather.get("ghi", pd.Series(np.nan, index=weather.index))
    if "cloud_cover" in weather.columns:
        given_ghi = given_ghi.fillna(ghi_from_cloud_cover(clear_here, weather["cloud_cover"]))
    ratio = (given_ghi / clear_here).where(clear_here > MIN_CLEARSKY_GHI_W_M2)
    # Between sunrise and the first time with a ratio (and the last one and sunset) the index
    # is held: the GHI span, not the ratio's, says where the forecast reaches.
    index = np.clip(_interpolated(ratio, midpoints, hold_ends=True), 0.0, MAX_GHI_INDEX)
    ghi = pd.Series(np.where(clear_slots > 0, index * clear_slots, 0.0), index=times)
    ghi = ghi.where(~np.isnan(_interpolated(given_ghi, midpoints)))
    slots = pd.DataFrame({"ghi": ghi})
    if {"dni", "dhi"} <= set(weather.columns):
        fraction = (weather["dhi"] / weather["ghi"]).where(weather["ghi"] > 0).clip(0.0, 1.0)
        diffuse = _interpolated(fraction, midpoints, hold_ends=True)
        if not np.isnan(diffuse).all():
            cos_zenith = np.cos(np.radians(solar_position(times, location, step_minutes)["zenith"]))
            # A sun within 3° of the horizon: its beam is negligible, the light all diffuse.
            high_sun = cos_zenith > 0.05
            slots["dhi"] = pd.Series(ghi * diffuse, index=times).where(high_sun, ghi)
            slots["dni"] = ((ghi - slots["dhi"]) / cos_zenith).where(high_sun, 0.0).clip(0.0)
    for name, default in (("temp_air", 20.0), ("wind_speed", 1.0)):
        given = _interpolated(weather[name], midpoints) if name in weather.columns else np.nan
        slots[name] = pd.Series(given, index=times).fillna(default)
    return slots


def pv_from_weather(
    weather: pd.DataFrame,
    times: pd.DatetimeIndex,
    location: Location,
    arrays: Sequence[PVArray],
    step_minutes: float,
) -> pd.Series:
    """AC power [kW] of the arrays in each slot; NaN where the forecast does not reach."""
    slots = weather_on_slots(weather, times, location, step_minutes)
    covered = slots["ghi"].notna()
    if not covered.any():
        return pd.Series(np.nan, index=times)
    inside = slots[covered]
    if inside.get("dni") is not None and inside[["dni", "dhi"]].notna().all().all():
        irradiance = inside[["ghi", "dni", "dhi"]]
    else:
        irradiance = complete_irradiance(inside[["ghi"]], location, step_minutes)
    power = pv_power_kw(
        irradiance,
        location,
        arrays,
        inside["temp_air"],
        inside["wind_speed"],
        interval_minutes=step_minutes,
    )
    return power.reindex(times)
