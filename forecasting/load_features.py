"""Scale-free lag features of a site's load, and day-by-day forecasting with them.

Every feature of local day d is known at the local midnight before d, and is divided by the mean
load of the 7 days before d (the *level*): the load of 25 households doubles from April to June,
and a model fitted on ratios in winter still applies in summer. Yesterday's last hours say where
the level is heading (a hot evening tends to be followed by a hot day).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting.calendar import DayMatrix, local_day_and_slot

LEVEL_DAYS = 7
SMOOTHING_H = 2.0  # a quarter-hour of 25 households is mostly noise; two hours is the shape
EVENING_FROM_H = 20.0
REGRESSION_FEATURES = ("yesterday", "week_mean", "yesterday_level", "evening", "last_hour", "one")


@dataclass(frozen=True)
class LoadFeatures:
    """Per local day × slot of day: features and target, both as ratios to the day's level."""

    days: np.ndarray  # datetime64[D], one per row
    names: tuple[str, ...]
    values: np.ndarray  # days × slots × features
    target: np.ndarray  # days × slots (NaN: not measured, or to forecast)
    level_kw: np.ndarray  # days

    def select(self, names: tuple[str, ...]) -> np.ndarray:
        return self.values[..., [self.names.index(name) for name in names]]


def _lagged(rows: np.ndarray, days: int) -> np.ndarray:
    """rows[d - days] in row d (NaN where that lies before the first row)."""
    out = np.full_like(rows, np.nan)
    if days < len(rows):
        out[days:] = rows[: len(rows) - days]
    return out


def _nanmean(stack: np.ndarray, axis: int) -> np.ndarray:
    count = np.sum(~np.isnan(stack), axis=axis)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, np.nansum(stack, axis=axis) / np.maximum(count, 1), np.nan)


def smooth_within_days(values: np.ndarray, window_slots: int) -> np.ndarray:
    """Centred moving average along each day (NaN-aware, never across midnight)."""
    if window_slots <= 1:
        return values
    known = ~np.isnan(values)
    padded = np.pad(np.where(known, values, 0.0), ((0, 0), (1, 0)))
    counts = np.pad(known.astype(float), ((0, 0), (1, 0)))
    csum, ccount = np.cumsum(padded, axis=1), np.cumsum(counts, axis=1)
    width = values.shape[1]
    half = window_slots // 2
    hi = np.minimum(np.arange(width) + window_slots - half, width)
    lo = np.maximum(np.arange(width) - half, 0)
    total = csum[:, hi] - csum[:, lo]
    count = ccount[:, hi] - ccount[:, lo]
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def lag_features(matrix: DayMatrix) -> LoadFeatures:
    """The features of every row of `matrix` (the first row has no level; the next ones take
    it from the days they have, up to LEVEL_DAYS)."""
    values = matrix.values
    slots_per_hour = 60 / matrix.step_minutes
    smoothed = smooth_within_days(values, max(1, round(SMOOTHING_H * slots_per_hour)))
    day_mean = _nanmean(values, axis=1)
    level = _nanmean(np.stack([_lagged(day_mean, d) for d in range(1, LEVEL_DAYS + 1)]), axis=0)
    evening_from = int(EVENING_FROM_H * slots_per_hour)
    last_hour_from = values.shape[1] - max(1, round(slots_per_hour))
    width = values.shape[1]

    def per_day(column: np.ndarray) -> np.ndarray:
        return np.repeat(column[:, None], width, axis=1)

    features = {
        "yesterday": _lagged(smoothed, 1),
        "week_mean": _nanmean(
            np.stack([_lagged(smoothed, d) for d in range(1, LEVEL_DAYS + 1)]), axis=0
        ),
        "last_week": _lagged(smoothed, 7),
        "yesterday_level": per_day(_lagged(day_mean, 1)),
        "evening": per_day(_lagged(_nanmean(values[:, evening_from:], axis=1), 1)),
        "last_hour": per_day(_lagged(_nanmean(values[:, last_hour_from:], axis=1), 1)),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(level > 0, level, np.nan)[:, None]
        stacked = np.stack([f / scale for f in features.values()], axis=-1)
        target = values / scale
    ones = np.ones((*values.shape, 1))
    return LoadFeatures(
        days=matrix.days,
        names=(*features, "one"),
        values=np.concatenate([stacked, ones], axis=-1),
        target=target,
        level_kw=level,
    )


# predict(features, row) -> the forecast of that row as ratios to its level (one per slot)
RowPredictor = Callable[[LoadFeatures, int], np.ndarray]


def forecast_day_by_day(
    matrix: DayMatrix, times: pd.DatetimeIndex, predict_row: RowPredictor
) -> pd.Series:
    """Forecasts at `times`, one local day after the other: a day not yet measured is filled
    with its forecast before the next day's features are taken (recursive multi-day)."""
    days, _ = local_day_and_slot(times, matrix.timezone, matrix.step_minutes)
    filled = matrix.extended_to(days.max())
    values = filled.values.copy()
    forecast = np.full_like(values, np.nan)
    for day in np.unique(days):
        row = int(filled.rows_of(np.array([day]))[0])
        window = slice(max(0, row - LEVEL_DAYS), row + 1)
        window_matrix = DayMatrix(
            filled.days[window.start], values[window], matrix.timezone, matrix.step_minutes
        )
        features = lag_features(window_matrix)
        local_row = row - window.start
        forecast[row] = predict_row(features, local_row) * features.level_kw[local_row]
        unknown = np.isnan(values[row])
        values[row, unknown] = forecast[row, unknown]
    result = DayMatrix(filled.first_day, forecast, matrix.timezone, matrix.step_minutes)
    return pd.Series(result.at(times), index=times)
