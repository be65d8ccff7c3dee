"""Site base load from its metered history (15-minute kW): seasonal-naive and profile forecasts.

Time of day and weekday are taken in the site's local time zone, so a DST day (92 or 100
quarter-hours) maps each slot to the same wall-clock time as the days before it.
"""

from __future__ import annotations

import pandas as pd

from forecasting.pv import require_aware


def clean_history(history_kw: pd.Series, step: str = "15min") -> pd.Series:
    """Sorted, duplicates averaged, resampled to `step`; gaps stay NaN (never invented)."""
    index = require_aware(history_kw.index, "history times")
    series = pd.Series(history_kw.to_numpy(dtype=float), index=index).sort_index()
    series = series.groupby(level=0).mean()
    return series.resample(step).mean()


def seasonal_naive(history_kw: pd.Series, times: pd.DatetimeIndex, lag: str = "1D") -> pd.Series:
    """The value one `lag` earlier (yesterday, or last week with lag='7D')."""
    times = require_aware(times)
    shifted = history_kw.copy()
    shifted.index = shifted.index + pd.Timedelta(lag)
    return shifted.reindex(times)


def profile_forecast(
    history_kw: pd.Series, times: pd.DatetimeIndex, timezone: str, weeks: int = 4
) -> pd.Series:
    """Median of the last `weeks` weeks at the same weekday and local time of day."""
    times = require_aware(times)
    start = times[0] - pd.Timedelta(weeks=weeks)
    recent = history_kw[(history_kw.index >= start) & (history_kw.index < times[0])].dropna()
    if recent.empty:
        return pd.Series(float("nan"), index=times)
    local = recent.index.tz_convert(timezone)
    keys = list(zip(local.day_of_week, local.hour * 60 + local.minute, strict=True))
    profile = recent.groupby(pd.MultiIndex.from_tuples(keys)).median()
    target = times.tz_convert(timezone)
    wanted = pd.MultiIndex.from_arrays([target.day_of_week, target.hour * 60 + target.minute])
    values = profile.reindex(wanted).to_numpy()
    forecast = pd.Series(values, index=times)
    # A weekday never seen (short history): fall back on the time of day alone.
    by_time = recent.groupby(local.hour * 60 + local.minute).median()
    fallback = by_time.reindex(target.hour * 60 + target.minute).to_numpy()
    return forecast.fillna(pd.Series(fallback, index=times))


def smoothed_blend_forecast(
    history_kw: pd.Series,
    times: pd.DatetimeIndex,
    days: int = 7,
    window_slots: int = 8,
    weight_of_mean: float = 0.5,
) -> pd.Series:
    """w x (mean of the last `days` days at the same time) + (1 - w) x (yesterday), both
    smoothed over `window_slots` slots around that time.

    Averaging days and neighbouring slots removes much of the noise a single household sum
    carries from one quarter-hour to the next; on the 25-household year it cuts the
    day-ahead error of "repeat yesterday" by about a seventh (`BENCHMARKS.md`).
    """
    times = require_aware(times)
    smoothed = history_kw.rolling(window_slots, center=True, min_periods=1).mean()
    lagged = [smoothed.reindex(times - pd.Timedelta(days=d)).to_numpy() for d in range(1, days + 1)]
    mean_of_days = pd.DataFrame(lagged).mean(axis=0).to_numpy()
    yesterday = lagged[0]
    blend = weight_of_mean * mean_of_days + (1 - weight_of_mean) * yesterday
    return pd.Series(blend, index=times).fillna(pd.Series(mean_of_days, index=times))
