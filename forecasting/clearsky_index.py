"""The clear-sky index (measured PV / clear-sky PV) and PV forecasts that carry it forward.

Without a weather forecast, tomorrow's PV is today's clear sky times a guess of the index. The
guesses, from plain to better:
- smart persistence: yesterday's daily index (the mean daily index of the last N days);
- the recent-days ensemble: every measured quarter-hour of the last days is a sample of the
  index, weighted by its clear-sky power (an error at noon costs more than one at dawn) and by
  its age (half-life of two days: weather comes in spells). The forecast is the ensemble's
  weighted median, the value that minimises the expected absolute error (a June at Payerne is
  bimodal: clear days near 1, overcast ones near 0.35, and their mean fits neither), and its
  P10/P90 are the ensemble's own quantiles (Yang's complete-history persistence ensemble,
  with forgetting).
Which guess a site uses, and how the latest measurements pull it during the day, its own
backtest decides (`forecasting.pv_candidates`, `forecasting.pv_choice`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartcharge.forecasting.quantiles import QUANTILES

# Below this share of the array's clear-sky power the index is noise (dawn, dusk).
MIN_CLEARSKY_SHARE = 0.05
# A climatological index when nothing is measured yet (central-European annual mean).
CLIMATOLOGICAL_INDEX = 0.6
# Spread of the daily clear-sky index without measurements (a changeable central-European day).
CLIMATOLOGICAL_INDEX_BAND = (0.2, 1.0)
MAX_INDEX = 1.5
ENSEMBLE_HALF_LIFE_DAYS = 2.0
ENSEMBLE_DAYS = 14


def usable(clearsky_kw: pd.Series) -> pd.Series:
    """Slots whose clear sky is worth dividing by (daylight, away from dawn and dusk)."""
    return clearsky_kw > MIN_CLEARSKY_SHARE * clearsky_kw.max()


def clearsky_index(measured_kw: pd.Series, clearsky_kw: pd.Series) -> pd.Series:
    """measured / clear sky where the clear sky is worth dividing by; NaN elsewhere."""
    clear = clearsky_kw.reindex(measured_kw.index)
    return (measured_kw / clear).where(usable(clear)).clip(0.0, MAX_INDEX)


def daily_index(measured_kw: pd.Series, clearsky_kw: pd.Series, timezone: str = "UTC") -> pd.Series:
    """One index per local day: measured energy / clear-sky energy over daylight."""
    clear = clearsky_kw.reindex(measured_kw.index)
    day = usable(clear) & measured_kw.notna()
    measured_day = measured_kw.where(day).tz_convert(timezone).resample("D").sum(min_count=1)
    clear_day = clear.where(day).tz_convert(timezone).resample("D").sum(min_count=1)
    return (measured_day / clear_day).clip(0.0, MAX_INDEX)


def weighted_quantiles(
    values: np.ndarray, weights: np.ndarray, quantiles: tuple[float, ...]
) -> np.ndarray:
    """Quantiles of the distribution that puts `weights` on `values` (NaN if empty)."""
    keep = np.isfinite(values) & np.isfinite(weights) & (weights > 0)
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return np.full(len(quantiles), np.nan)
    order = np.argsort(values)
    values, cumulative = values[order], np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, np.asarray(quantiles) * cumulative[-1])
    return values[np.minimum(positions, values.size - 1)]


def index_ensemble_quantiles(
    measured_kw: pd.Series,
    clearsky_kw: pd.Series,
    issued_at: pd.Timestamp,
    quantiles: tuple[float, ...] = QUANTILES,
    half_life_days: float = ENSEMBLE_HALF_LIFE_DAYS,
) -> np.ndarray:
    """The recent-days ensemble's quantiles of the index, as seen at `issued_at`."""
    recent = measured_kw[
        (measured_kw.index < issued_at)
        & (measured_kw.index >= issued_at - pd.Timedelta(days=ENSEMBLE_DAYS))
    ]
    index = clearsky_index(recent, clearsky_kw)
    age_days = (issued_at - recent.index).total_seconds().to_numpy() / 86400.0
    weights = clearsky_kw.reindex(recent.index).to_numpy() * 0.5 ** (age_days / half_life_days)
    return weighted_quantiles(index.to_numpy(), weights, quantiles)


def mean_daily_index(
    measured_kw: pd.Series, clearsky_kw: pd.Series, days: int, timezone: str = "UTC"
) -> float:
    """The mean of the last `days` daily indices (1: smart persistence); climatology if none."""
    values = daily_index(measured_kw, clearsky_kw, timezone).dropna().tail(days)
    return float(values.mean()) if len(values) else CLIMATOLOGICAL_INDEX
