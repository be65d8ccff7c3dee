"""Forecast uncertainty as quantiles, calibrated on the site's own recent errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

QUANTILES = (0.1, 0.5, 0.9)


def backtest_residuals(
    history_kw: pd.Series,
    forecaster: Callable[[pd.Series, pd.DatetimeIndex], pd.Series],
    days: int = 14,
) -> pd.Series:
    """actual - forecast over the last `days` days, each day forecast from the days before."""
    end = history_kw.index.max().normalize()
    residuals = []
    for day in pd.date_range(end - pd.Timedelta(days=days), end - pd.Timedelta(days=1), freq="D"):
        times = history_kw.index[
            (history_kw.index >= day) & (history_kw.index < day + pd.Timedelta(days=1))
        ]
        if times.empty:
            continue
        past = history_kw[history_kw.index < day]
        residuals.append(history_kw.reindex(times) - forecaster(past, times))
    return pd.concat(residuals).dropna() if residuals else pd.Series(dtype=float)


def quantile_band(p50: pd.Series, residuals: pd.Series, floor: float | None = 0.0) -> pd.DataFrame:
    """P10/P50/P90 columns: the P50 plus the empirical 10 % and 90 % residuals."""
    if residuals.empty:
        low, high = -0.2 * p50.abs(), 0.2 * p50.abs()
    else:
        low = pd.Series(np.quantile(residuals, 0.1), index=p50.index)
        high = pd.Series(np.quantile(residuals, 0.9), index=p50.index)
    band = pd.DataFrame(
        {"p10": p50 + np.minimum(low, 0), "p50": p50, "p90": p50 + np.maximum(high, 0)}
    )
    return band.clip(lower=floor) if floor is not None else band
