"""A day-ahead weather forecast made from measured irradiance: the truth with the errors of a
numerical weather prediction (NWP), seeded. For backtests where no archived forecast exists.

The error model: day-ahead NWP irradiance is hourly and smooth, misplaces clouds in time and
often gets the day's type of weather partly wrong (about half of the cloudy days forecast
clear in Mathiesen & Kleissl's NAM validation, Solar Energy 85, 2011); it is good on settled
days and bad on changeable ones. In clear-sky-index units k (hourly GHI / clear-sky GHI):
1. hourly means of the measured GHI (what a provider's hourly value stands for);
2. smoothed: the centred 3-hour mean of k (an NWP grid cell of 10–25 km sees a cloud field
   averaged over hours of advection);
3. shifted in time by δ hours per local day, δ ~ N(0, 1 h) rounded to the hour (fronts and
   convection arrive early or late);
4. half of the day's k taken from another day within ten days either side, at the same hour
   (the weather type partly wrong: no error in a run of alike days, a large one in a
   changeable spell — so the error's size follows the climate, as published errors do);
5. hourly noise: an AR(1) process of lag-1 correlation 0.8 and standard deviation 0.07 in k;
6. k within 0 .. 1.1, GHI = k × clear-sky GHI; DNI and DHI by Erbs; temperature measured
   + N(0, 1.5 °C).
Day-ahead forecasts from ECMWF show an hourly GHI RMSE of roughly 20 % (arid sites) to 50 %
(central Europe, the Alps) of the mean GHI (Perez et al. 2013, Solar Energy 94, 305–326;
Lorenz et al. 2009, IEEE JSTARS 2, 2–10). The weight of step 4 was set to 0.5 by the size of
the errors alone (hourly GHI RMSE 30–36 % of the mean on the three development climates, 55 %
on subarctic Sand Point: the upper half of the published range, so a forecast that flatters
nothing); `python -m benchmarks.pv_climates` prints the errors of every run beside its scores.

    python -m benchmarks.perturbed_weather --climate colorado --out forecast.json [--seed 1]

writes it as an Open-Meteo response (hourly, radiation averaged over the preceding hour) for
`smartcharge forecast backtest --weather forecast.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from smartcharge.forecasting.pv import clearsky_irradiance, solar_position
from smartcharge.optimizer.problem import Location

SMOOTHING_HOURS = 3
TIMING_SD_H = 1.0
OTHER_DAY_WEIGHT = 0.5
OTHER_DAY_RANGE = 10  # days either side
NOISE_SD = 0.07
NOISE_LAG1 = 0.8
MAX_FORECAST_INDEX = 1.1
TEMPERATURE_SD_C = 1.5
MIN_CLEAR_GHI_W_M2 = 10.0


def perturbed_forecast(
    measured: pd.DataFrame,
    location: Location | Mapping[str, float],
    timezone: str,
    seed: int = 1,
    other_day_weight: float = OTHER_DAY_WEIGHT,
) -> pd.DataFrame:
    """Hourly forecast (ghi, dni, dhi, temp_air) stamped with each hour's start, from
    `measured` (ghi [, temp_air], any resolution, stamped with interval starts)."""
    location = Location.model_validate(location)
    rng = np.random.default_rng(seed)
    hourly = measured.resample("1h").mean()
    hours = hourly.index
    clear = clearsky_irradiance(hours, location, 60)["ghi"]
    index = (hourly["ghi"] / clear).where(clear > MIN_CLEAR_GHI_W_M2).clip(0.0, 1.5)
    smooth = index.rolling(SMOOTHING_HOURS, center=True, min_periods=1).mean().to_numpy()
    days = hours.tz_convert(timezone).normalize()
    day_codes, day_of_hour = np.unique(days.asi8, return_inverse=True)
    position = np.arange(len(hours))
    # 3. the day's clouds early or late
    shift_h = np.round(rng.normal(0.0, TIMING_SD_H, len(day_codes))).astype(int)
    shifted = _at(smooth, position - shift_h[day_of_hour])
    # 4. part of the day's clouds from another day near it
    other_day = rng.integers(-OTHER_DAY_RANGE, OTHER_DAY_RANGE + 1, len(day_codes))
    other_day = np.where(other_day == 0, 1, other_day)
    other = _at(smooth, position + 24 * other_day[day_of_hour])
    mixed = (1 - other_day_weight) * shifted + other_day_weight * np.where(
        np.isnan(other), shifted, other
    )
    # 5. hourly noise
    noise = np.zeros(len(hours))
    innovations = rng.normal(0.0, NOISE_SD * np.sqrt(1 - NOISE_LAG1**2), len(hours))
    for i in range(1, len(hours)):
        noise[i] = NOISE_LAG1 * noise[i - 1] + innovations[i]
    forecast_index = np.clip(mixed + noise, 0.0, MAX_FORECAST_INDEX)
    ghi = pd.Series(np.nan_to_num(forecast_index * clear.to_numpy()), index=hours)
    ghi = ghi.where(clear > MIN_CLEAR_GHI_W_M2, 0.0)
    zenith = solar_position(hours, location, 60)["zenith"]
    split = pvlib.irradiance.erbs(ghi, zenith, hours)
    frame = pd.DataFrame({"ghi": ghi, "dni": split["dni"], "dhi": split["dhi"]})
    if "temp_air" in hourly.columns:
        noise_c = rng.normal(0.0, TEMPERATURE_SD_C, len(hours))
        frame["temp_air"] = hourly["temp_air"] + noise_c
    return frame[hourly["ghi"].notna()].clip(lower=-60)


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions] where the position is inside, and the value there known; else the
    value at the position itself (night, the ends of the record)."""
    inside = (positions >= 0) & (positions < len(values))
    picked = np.where(inside, values[np.clip(positions, 0, len(values) - 1)], np.nan)
    return np.where(np.isnan(picked), values, picked)


def to_open_meteo(
    forecast: pd.DataFrame, location: Location | Mapping[str, float], timezone: str
) -> dict:
    """`forecast` (hour starts) as Open-Meteo answers: local times shifted by one offset, each
    radiation value the mean of the hour *ending* at its time."""
    location = Location.model_validate(location)
    ends = forecast.index + pd.Timedelta(hours=1)
    offset_s = int(ends[0].tz_convert(timezone).utcoffset().total_seconds())
    local = (ends.tz_convert("UTC") + pd.Timedelta(seconds=offset_s)).tz_localize(None)
    hourly = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in local]}
    units = {"time": "iso8601"}
    for ours, theirs, unit in (
        ("ghi", "shortwave_radiation", "W/m²"),
        ("dni", "direct_normal_irradiance", "W/m²"),
        ("dhi", "diffuse_radiation", "W/m²"),
        ("temp_air", "temperature_2m", "°C"),
    ):
        if ours in forecast.columns:
            hourly[theirs] = [round(float(v), 1) for v in forecast[ours]]
            units[theirs] = unit
    if "temp_air" in forecast.columns:
        # Temperature is instantaneous: the value at the hour's end, not its mean.
        hourly["temperature_2m"] = [
            round(float(v), 1) for v in forecast["temp_air"].shift(-1).ffill()
        ]
    return {
        "latitude": location.latitude,
        "longitude": location.longitude,
        "utc_offset_seconds": offset_s,
        "timezone": timezone,
        "elevation": location.altitude_m,
        "hourly_units": units,
        "hourly": hourly,
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.pv_climates import CLIMATES, measured_irradiance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--climate", choices=list(CLIMATES), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    climate = CLIMATES[args.climate]
    measured = measured_irradiance(climate, climate.steps[0])
    forecast = perturbed_forecast(measured, climate.location, climate.timezone, args.seed)
    document = to_open_meteo(forecast, climate.location, climate.timezone)
    args.out.write_text(json.dumps(document, ensure_ascii=False))
    print(f"{args.out}: {len(forecast)} hours", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
