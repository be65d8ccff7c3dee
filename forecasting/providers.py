"""Weather forecasts as real providers answer, read into `forecasting.weather`'s frame.

A provider's radiation is a mean over a period, stamped with the period's *end*; the frame
holds values at the instant they stand for, so a mean is placed at the middle of its period.

- Open-Meteo (`/v1/forecast`, the JSON that EMHASS and many home-energy tools read): `hourly`
  and/or `minutely_15` blocks of arrays beside `time`. `shortwave_radiation` (GHI),
  `direct_normal_irradiance`, `diffuse_radiation` are the mean of the preceding hour (or 15
  minutes); their `_instant` variants, `temperature_2m`, `cloud_cover` and `wind_speed_10m` are
  instantaneous and are interpolated to the radiation's instants. Times are local strings in the
  `timezone` asked for, shifted by the one `utc_offset_seconds` of the response — the offset of
  the day the request was made, applied to the whole response even across a DST change
  (open-meteo/open-meteo#261, #1764) — or, with `timeformat=unixtime`, seconds since 1970 in
  UTC. Units come from `hourly_units`: wind in km/h (the default), m/s, mph or kn; temperature in
  °C or °F.
- Solcast (`/data/forecast/radiation_and_weather`, also `estimated_actuals`): a list of
  records, each a mean over `period` (ISO 8601, e.g. PT30M) ending at `period_end` (UTC): `ghi`,
  `dni`, `dhi` [W/m²], `air_temp` [°C], `wind_speed_10m` [m/s]. Cloud opacity is not cloud cover
  and is not read.

A value a provider leaves null stays missing: a row without GHI (or cloud cover) is dropped,
other columns are interpolated in time between the values given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

ProviderFormat = Literal["open-meteo", "solcast"]
PROVIDER_FORMATS: tuple[ProviderFormat, ...] = ("open-meteo", "solcast")
OPEN_METEO_BLOCKS = {"minutely_15": pd.Timedelta(minutes=15), "hourly": pd.Timedelta(hours=1)}
# Open-Meteo name -> (our name, True if a mean over the period ending at the stamp).
OPEN_METEO_FIELDS = {
    "shortwave_radiation": ("ghi", True),
    "direct_normal_irradiance": ("dni", True),
    "diffuse_radiation": ("dhi", True),
    "shortwave_radiation_instant": ("ghi", False),
    "direct_normal_irradiance_instant": ("dni", False),
    "diffuse_radiation_instant": ("dhi", False),
    "temperature_2m": ("temp_air", False),
    "cloud_cover": ("cloud_cover", False),
    "wind_speed_10m": ("wind_speed", False),
}
SOLCAST_FIELDS = {
    "ghi": "ghi",
    "dni": "dni",
    "dhi": "dhi",
    "air_temp": "temp_air",
    "wind_speed_10m": "wind_speed",
}
SOLCAST_LISTS = ("forecasts", "estimated_actuals")
WIND_TO_M_S = {"km/h": 1 / 3.6, "m/s": 1.0, "mph": 0.44704, "kn": 0.514444, "knots": 0.514444}
TEMPERATURE_UNITS = ("°C", "°F")


class ProviderFormatError(ValueError):
    """A provider's document that cannot be read: `loc` is the path to the bad field."""

    def __init__(self, loc: list[str | int], message: str):
        super().__init__(f"{'.'.join(str(part) for part in loc) or 'body'}: {message}")
        self.loc = loc
        self.message = message


@dataclass
class ProviderWeather:
    """The frame (UTC instants, our column names) and, for each row and column, the path of
    the value it came from in the provider's document (to name a bad value in an error)."""

    frame: pd.DataFrame
    sources: dict[str, list[list[str | int]]]


def detect_format(document: Any) -> ProviderFormat | None:
    if isinstance(document, Mapping):
        if any(block in document for block in OPEN_METEO_BLOCKS):
            return "open-meteo"
        if any(name in document for name in SOLCAST_LISTS):
            return "solcast"
    return None


def read_provider(document: Any, provider: ProviderFormat | None = None) -> ProviderWeather:
    provider = provider or detect_format(document)
    if not isinstance(document, Mapping):
        raise ProviderFormatError([], f"a {provider or 'provider'} forecast is a JSON object")
    if provider == "open-meteo":
        return read_open_meteo(document)
    if provider == "solcast":
        return read_solcast(document)
    raise ProviderFormatError(
        [],
        f"not a provider's forecast: Open-Meteo has {' or '.join(OPEN_METEO_BLOCKS)}, "
        f"Solcast {' or '.join(SOLCAST_LISTS)}",
    )


def read_open_meteo(document: Mapping[str, Any]) -> ProviderWeather:
    blocks = [name for name in OPEN_METEO_BLOCKS if isinstance(document.get(name), Mapping)]
    if not blocks:
        raise ProviderFormatError([], "an Open-Meteo forecast needs an hourly or minutely_15 block")
    # The finer block wins where both reach; the hourly one continues past it.
    parts = [_open_meteo_block(document, name) for name in blocks]
    frame = pd.concat([part.frame for part in parts])
    sources = {
        c: [source for p in parts for source in p.sources.get(c, [[]] * len(p.frame))]
        for c in frame.columns
    }
    keep = ~frame.index.duplicated(keep="first")
    frame, sources = frame[keep], {c: _kept(s, keep) for c, s in sources.items()}
    order = np.argsort(frame.index.asi8, kind="stable")
    return _completed(
        ProviderWeather(frame.iloc[order], {c: [s[i] for i in order] for c, s in sources.items()})
    )


def _open_meteo_block(document: Mapping[str, Any], block: str) -> ProviderWeather:
    values = document[block]
    units = document.get(f"{block}_units") or {}
    period = OPEN_METEO_BLOCKS[block]
    times = _open_meteo_times(values.get("time"), document, block, units.get("time"))
    columns: dict[str, pd.Series] = {}
    sources: dict[str, list[list[str | int]]] = {}
    for field, (name, averaged) in OPEN_METEO_FIELDS.items():
        if field not in values or (name in columns and not averaged):
            continue  # a period mean is preferred to its _instant variant
        raw = _numbers(values[field], [block, field], len(times))
        raw = raw * _unit_factor(name, units.get(field), [f"{block}_units", field])
        if name == "temp_air" and units.get(field) == "°F":
            raw = (raw - 32.0) * 5.0 / 9.0
        at = times - period / 2 if averaged else times
        columns[name] = pd.Series(raw, index=at)
        sources[name] = [[block, field, i] for i in range(len(times))]
    if "ghi" not in columns and "cloud_cover" not in columns:
        raise ProviderFormatError(
            [block], "needs shortwave_radiation (GHI) or cloud_cover for the PV forecast"
        )
    # Every column onto the instants of the radiation (or of the cloud cover): row i of the
    # frame is row i of the block.
    anchor = "ghi" if "ghi" in columns else "cloud_cover"
    instants = columns[anchor].index
    frame = pd.DataFrame(index=instants)
    for name, series in columns.items():
        frame[name] = series.to_numpy() if series.index.equals(instants) else _at(series, instants)
    return ProviderWeather(frame, sources)


def _open_meteo_times(
    raw: Any, document: Mapping[str, Any], block: str, unit: str | None
) -> pd.DatetimeIndex:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ProviderFormatError([block, "time"], "needs a list of at least two times")
    if unit == "unixtime" or all(isinstance(t, int | float) for t in raw):
        try:
            return pd.DatetimeIndex(pd.to_datetime(raw, unit="s", utc=True))
        except (ValueError, TypeError, OverflowError):
            raise ProviderFormatError([block, "time"], "not seconds since 1970") from None
    offset = document.get("utc_offset_seconds")
    if not isinstance(offset, int | float) or isinstance(offset, bool):
        raise ProviderFormatError(
            ["utc_offset_seconds"],
            "needed with local times (or ask Open-Meteo for timeformat=unixtime)",
        )
    try:
        local = pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601"))
    except (ValueError, TypeError):
        raise ProviderFormatError([block, "time"], "not ISO 8601 local times") from None
    if local.tz is not None:
        return local.tz_convert("UTC")
    return (local - pd.Timedelta(seconds=float(offset))).tz_localize("UTC")


def read_solcast(document: Mapping[str, Any]) -> ProviderWeather:
    key = next((name for name in SOLCAST_LISTS if name in document), None)
    records = document.get(key) if key else None
    if not isinstance(records, list) or len(records) < 2:
        raise ProviderFormatError([key or SOLCAST_LISTS[0]], "needs a list of at least two periods")
    ends, periods = [], []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ProviderFormatError([key, i], "each period is an object")
        for field in ("period_end", "period"):
            if not isinstance(record.get(field), str):
                raise ProviderFormatError([key, i, field], "missing (a string)")
        try:
            end = pd.Timestamp(record["period_end"])
            period = pd.Timedelta(record["period"])
        except ValueError:
            raise ProviderFormatError([key, i], "period_end or period is not ISO 8601") from None
        if end.tz is None:
            raise ProviderFormatError([key, i, "period_end"], "needs a UTC offset (Z)")
        if period <= pd.Timedelta(0):
            raise ProviderFormatError([key, i, "period"], "must be positive")
        ends.append(end.tz_convert("UTC"))
        periods.append(period)
    instants = pd.DatetimeIndex(ends) - pd.TimedeltaIndex(periods) / 2
    frame = pd.DataFrame(index=instants)
    sources = {}
    for field, name in SOLCAST_FIELDS.items():
        if any(field in record for record in records):
            raw = [record.get(field) for record in records]
            frame[name] = _numbers(raw, [key, field], len(records))
            sources[name] = [[key, i, field] for i in range(len(records))]
    if "ghi" not in frame.columns:
        raise ProviderFormatError([key], "needs ghi in its periods (output_parameters=ghi,...)")
    return _completed(ProviderWeather(frame, sources))


def _completed(weather: ProviderWeather) -> ProviderWeather:
    """Rows without GHI (or, lacking GHI, cloud cover) dropped; other gaps interpolated."""
    frame = weather.frame
    anchor = "ghi" if "ghi" in frame.columns else "cloud_cover"
    keep = frame[anchor].notna().to_numpy()
    if keep.sum() < 2:
        raise ProviderFormatError([], f"fewer than two times with a value of {anchor}")
    frame = frame[keep].copy()
    for name in frame.columns:
        if frame[name].isna().any():
            filled = frame[name].interpolate(method="time", limit_direction="both")
            frame[name] = filled
    if frame.index.has_duplicates:
        raise ProviderFormatError([], "two values for the same time")
    return ProviderWeather(frame, {c: _kept(s, keep) for c, s in weather.sources.items()})


def _numbers(raw: Any, loc: list[str | int], count: int) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) != count:
        size = len(raw) if isinstance(raw, list) else "no list of"
        raise ProviderFormatError(loc, f"{size} values for {count} times")
    for i, value in enumerate(raw):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ProviderFormatError([*loc, i], f"not a number: {value!r}")
    return np.array([np.nan if v is None else float(v) for v in raw])


def _unit_factor(name: str, unit: str | None, loc: list[str | int]) -> float:
    if name == "wind_speed":
        if unit is None:
            return WIND_TO_M_S["km/h"]  # Open-Meteo's default
        if unit not in WIND_TO_M_S:
            raise ProviderFormatError(loc, f"unknown wind unit {unit!r} ({', '.join(WIND_TO_M_S)})")
        return WIND_TO_M_S[unit]
    if name == "temp_air" and unit is not None and unit not in TEMPERATURE_UNITS:
        raise ProviderFormatError(loc, f"unknown temperature unit {unit!r}")
    return 1.0


def _at(series: pd.Series, instants: pd.DatetimeIndex) -> np.ndarray:
    """`series` linearly in time at `instants`, its end values held beyond its span."""
    known = series.dropna()
    if known.empty:
        return np.full(len(instants), np.nan)
    x = instants.as_unit("ns").asi8.astype(float)
    xp = known.index.as_unit("ns").asi8.astype(float)
    return np.interp(x, xp, known.to_numpy(dtype=float))


def _kept(sources: list, keep: np.ndarray) -> list:
    return [source for source, kept in zip(sources, keep, strict=True) if kept]
