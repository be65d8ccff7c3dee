"""Time handling shared by every forecaster: aware times only, clean metered series."""

from __future__ import annotations

import pandas as pd


def require_aware(times: pd.DatetimeIndex, name: str = "times") -> pd.DatetimeIndex:
    """`times` as a DatetimeIndex, or a ValueError saying why naive times are refused."""
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        raise ValueError(
            f"{name} are naive: give times with a UTC offset or a time zone "
            "(e.g. '2016-06-01T12:00:00+00:00'); a naive time could be any of 24 instants"
        )
    return times


def clean_history(history_kw: pd.Series, step: str = "15min") -> pd.Series:
    """Sorted, duplicates averaged, resampled to `step`; gaps stay NaN (never invented)."""
    index = require_aware(history_kw.index, "history times")
    series = pd.Series(history_kw.to_numpy(dtype=float), index=index).sort_index()
    series = series.groupby(level=0).mean()
    return series.resample(step).mean()
