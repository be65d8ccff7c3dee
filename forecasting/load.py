"""Site base load from its metered history (15-minute kW): seasonal naive, the weekday ×
time-of-day profile and the smoothed blend.

Time of day and weekday are taken in the site's local time zone, so a DST day (92 or 100
quarter-hours) maps each slot to the same wall-clock time as the days before it. The fitted
methods (a lag regression, gradient boosting) live in their own modules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartcharge.forecasting.calendar import day_matrix, day_types, local_day_and_slot
from smartcharge.forecasting.load_features import LoadFeatures
from smartcharge.forecasting.timeseries import require_aware

PROFILE_WEEKS = 4
BLEND_WEIGHT_OF_WEEK = 0.5


def seasonal_naive(history_kw: pd.Series, times: pd.DatetimeIndex, lag: str = "1D") -> pd.Series:
    """The value one `lag` earlier (yesterday, or last week with lag='7D')."""
    times = require_aware(times)
    index = require_aware(history_kw.index, "history times")
    shifted = pd.Series(history_kw.to_numpy(dtype=float), index=index)
    shifted = shifted.groupby(level=0).mean()  # duplicated times averaged
    shifted.index = shifted.index + pd.Timedelta(lag)
    return shifted.reindex(times)


def profile_forecast(
    history_kw: pd.Series,
    times: pd.DatetimeIndex,
    timezone: str,
    step_minutes: int = 15,
    country: str | None = None,
    weeks: int = PROFILE_WEEKS,
) -> pd.Series:
    """Median of the last `weeks` weeks at the same day type and local time of day (public
    holidays count as Sundays); the time of day alone for a day type not seen yet."""
    times = require_aware(times)
    require_aware(history_kw.index, "history times")
    recent = history_kw[history_kw.index >= times[0] - pd.Timedelta(weeks=weeks)].dropna()
    recent = recent[recent.index < times[0]]
    if recent.empty:
        return pd.Series(np.nan, index=times)
    matrix = day_matrix(recent, timezone, step_minutes)
    kinds = day_types(matrix.days, country)
    by_kind = {
        kind: np.nanmedian(matrix.values[kinds == kind], axis=0)
        for kind in np.unique(kinds)
        if np.isfinite(matrix.values[kinds == kind]).any()
    }
    by_time = np.nanmedian(matrix.values, axis=0)
    target_days, target_slots = local_day_and_slot(times, timezone, step_minutes)
    unique_days, day_of_target = np.unique(target_days, return_inverse=True)
    profiles = np.vstack([by_kind.get(kind, by_time) for kind in day_types(unique_days, country)])
    values = np.where(
        np.isnan(profiles[day_of_target, target_slots]),
        by_time[target_slots],
        profiles[day_of_target, target_slots],
    )
    return pd.Series(values, index=times)


def smoothed_blend_row(features: LoadFeatures, row: int) -> np.ndarray:
    """Half the week's mean shape, half yesterday's, both smoothed over two hours (as ratios
    to the level): averaging days and neighbouring slots removes much of the noise one
    quarter-hour of a household sum carries. Yesterday's gaps take the week's value."""
    week, yesterday = features.select(("week_mean", "yesterday"))[row].T
    yesterday = np.where(np.isnan(yesterday), week, yesterday)
    return BLEND_WEIGHT_OF_WEEK * week + (1 - BLEND_WEIGHT_OF_WEEK) * yesterday
