"""Rolling-origin backtests: day-ahead (issued at local midnight for the next day) and
intraday (1 h ahead), with quantile bands calibrated on each method's own past errors.

PV errors are measured over daylight and normalised by kWp; load errors by the mean load.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import metrics
from forecasting.clearsky_index import MIN_CLEARSKY_SHARE, clearsky_index, daily_index
from forecasting.load import profile_forecast, seasonal_naive, smoothed_blend_forecast

CALIBRATION_DAYS = 7
# (method, horizon) -> the baseline its skill is measured against
BASELINES = {
    "day-ahead": {"pv": "smart_persistence", "load": "yesterday"},
    "intraday": {"pv": "csi_persistence", "load": "persistence"},
}


@dataclass
class Score:
    method: str
    horizon: str
    mae_kw: float
    nmae_pct: float
    rmse_kw: float
    skill_pct: float
    pinball_kw: float
    coverage_p10_p90_pct: float


def load_methods(timezone: str) -> dict[str, dict[str, Callable]]:
    """Forecasters f(history before the issue time, target times) -> Series, per horizon."""
    return {
        "day-ahead": {
            "yesterday": lambda past, times: seasonal_naive(past, times, "1D"),
            "last_week": lambda past, times: seasonal_naive(past, times, "7D"),
            "profile": lambda past, times: profile_forecast(past, times, timezone),
            "smoothed_blend": smoothed_blend_forecast,
        },
        # Intraday forecasters also get `hour_ago`: each slot's actual value one hour earlier.
        "intraday": {
            "persistence": lambda past, times, hour_ago: hour_ago,
            "profile_corrected": lambda past, times, hour_ago: _corrected_profile(
                past, times, hour_ago, timezone
            ),
        },
    }


def _corrected_profile(
    past: pd.Series, times: pd.DatetimeIndex, hour_ago: pd.Series, timezone: str
) -> pd.Series:
    """The day's profile, shifted by half of its error an hour earlier (errors persist)."""
    profile = profile_forecast(past, times.append(times - pd.Timedelta(hours=1)), timezone)
    profile = profile.groupby(level=0).first()
    error_hour_ago = hour_ago.to_numpy() - profile.reindex(times - pd.Timedelta(hours=1)).to_numpy()
    return profile.reindex(times) + 0.5 * np.nan_to_num(error_hour_ago)


def pv_methods(clearsky_kw: pd.Series) -> dict[str, dict[str, Callable]]:
    def scaled(index_of_past: Callable[[pd.Series], float]):
        return lambda past, times: clearsky_kw.reindex(times) * index_of_past(past)

    def day_index(past: pd.Series, days: int) -> float:
        values = daily_index(past, clearsky_kw).dropna().tail(days)
        return float(values.mean()) if len(values) else 0.6

    return {
        "day-ahead": {
            "smart_persistence": scaled(lambda past: day_index(past, 1)),
            "csi_7d": scaled(lambda past: day_index(past, 7)),
            "csi_3d": scaled(lambda past: day_index(past, 3)),
        },
        "intraday": {
            "csi_persistence": lambda past, times, hour_ago: (
                clearsky_kw.reindex(times)
                * clearsky_index(hour_ago.set_axis(times - pd.Timedelta(hours=1)), clearsky_kw)
                .fillna(0.6)
                .to_numpy()
            )
        },
    }


def rolling_forecasts(
    actual: pd.Series, forecaster: Callable, horizon: str, timezone: str, start: pd.Timestamp
) -> pd.Series:
    """Forecasts of every slot from `start` on, issued as the horizon says."""
    out = []
    # Calendar days in local time: a DST day is 23 or 25 hours long, not 24.
    local_days = pd.date_range(
        start.tz_convert(timezone).normalize(),
        actual.index[-1].tz_convert(timezone).normalize() + pd.Timedelta(days=1),
        freq="D",
    )
    for day, next_day in itertools.pairwise(local_days):
        times = actual.index[(actual.index >= day) & (actual.index < next_day)]
        if times.empty:
            continue
        past = actual[actual.index < day]
        if horizon == "day-ahead":
            out.append(forecaster(past, times))
        else:  # each slot from what was measured one hour before it
            hour_ago = actual.reindex(times - pd.Timedelta(hours=1)).set_axis(times)
            out.append(forecaster(past, times, hour_ago))
    return pd.concat(out)


def calibrated_band(
    actual: pd.Series, forecast: pd.Series, scale: pd.Series | None = None
) -> pd.DataFrame:
    """P10/P90 from the method's own errors of the previous CALIBRATION_DAYS days."""
    error = actual.reindex(forecast.index) - forecast
    if scale is not None:
        error = error / scale.reindex(forecast.index).where(scale > 0)
    window = f"{CALIBRATION_DAYS}D"
    low = error.rolling(window, min_periods=96).quantile(0.1).shift(1)
    high = error.rolling(window, min_periods=96).quantile(0.9).shift(1)
    if scale is not None:
        low, high = low * scale.reindex(forecast.index), high * scale.reindex(forecast.index)
    band = pd.DataFrame(
        {"p10": forecast + low.clip(upper=0), "p50": forecast, "p90": forecast + high.clip(lower=0)}
    )
    return band.clip(lower=0.0) if scale is not None else band


def score_all(
    actual: pd.Series,
    methods: dict[str, dict[str, Callable]],
    kind: str,
    timezone: str,
    test_start: pd.Timestamp,
    normaliser: float,
    daylight: pd.Series | None = None,
    scale: pd.Series | None = None,
    horizons: tuple[str, ...] = ("day-ahead", "intraday"),
    progress: Callable[[str], None] = lambda _: None,
) -> list[Score]:
    """Score every method of every horizon over the test period (after calibration days)."""
    calibration_start = test_start - pd.Timedelta(days=CALIBRATION_DAYS)
    scores = []
    for horizon in horizons:
        results = {}
        for name, forecaster in methods[horizon].items():
            progress(f"{kind} {horizon} {name}")
            forecast = rolling_forecasts(actual, forecaster, horizon, timezone, calibration_start)
            band = calibrated_band(actual, forecast, scale)
            tested = band[band.index >= test_start]
            if daylight is not None:
                tested = tested[daylight.reindex(tested.index).fillna(False)]
            results[name] = tested
        baseline_mae = metrics.mae(actual, results[BASELINES[horizon][kind]]["p50"])
        for name, band in results.items():
            observed = actual.reindex(band.index)
            method_mae = metrics.mae(observed, band["p50"])
            scores.append(
                Score(
                    method=name,
                    horizon=horizon,
                    mae_kw=method_mae,
                    nmae_pct=100 * method_mae / normaliser,
                    rmse_kw=metrics.rmse(observed, band["p50"]),
                    skill_pct=metrics.skill_pct(method_mae, baseline_mae),
                    pinball_kw=metrics.mean_pinball(observed, band),
                    coverage_p10_p90_pct=metrics.coverage_pct(observed, band),
                )
            )
    return scores


def daylight_mask(clearsky_kw: pd.Series) -> pd.Series:
    return clearsky_kw > MIN_CLEARSKY_SHARE * clearsky_kw.max()
