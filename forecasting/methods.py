"""Every forecasting method by name, as one interface: the backtest scores them, a plan uses
the one the site's own backtest chose.

A `Forecaster` fits on the history measured before the forecast is issued and predicts any
times after it; methods with nothing to fit ignore the state. `refit_days` says how often a
rolling backtest refits (a plan fits at each local midnight): the lag features are always up to
date, only the fitted weights age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from smartcharge.forecasting.calendar import day_matrix
from smartcharge.forecasting.clearsky_index import (
    CLIMATOLOGICAL_INDEX,
    index_ensemble_quantiles,
    mean_daily_index,
)
from smartcharge.forecasting.load import profile_forecast, seasonal_naive, smoothed_blend_row
from smartcharge.forecasting.load_boosting import fit_boosted_load
from smartcharge.forecasting.load_features import forecast_day_by_day, lag_features
from smartcharge.forecasting.load_regression import fit_lag_regression
from smartcharge.forecasting.quantiles import QUANTILES

Predict = Callable[[Any, pd.Series, pd.DatetimeIndex], pd.Series]


@dataclass(frozen=True)
class Forecaster:
    name: str
    fit: Callable[[pd.Series], Any]
    predict: Predict
    refit_days: int = 1

    def forecast(self, history: pd.Series, times: pd.DatetimeIndex) -> pd.Series:
        return self.predict(self.fit(history), history, times)


def stateless(name: str, forecast: Callable[[pd.Series, pd.DatetimeIndex], pd.Series]):
    return Forecaster(name, fit=lambda _: None, predict=lambda _, h, t: forecast(h, t))


# The day-ahead baseline the skill of every other load method is measured against (PV's are
# in `forecasting.pv_candidates`).
LOAD_BASELINE = "yesterday"
# Methods a site chooses between by its own backtest: every one, even the plain ones (a site
# whose weeks repeat is best served by last week).
LOAD_CANDIDATES = (
    "yesterday",
    "last_week",
    "profile",
    "smoothed_blend",
    "lag_regression",
    "gradient_boosting",
)


def load_forecasters(
    timezone: str, step_minutes: int = 15, country: str | None = None
) -> dict[str, Forecaster]:
    def matrix(history: pd.Series):
        return day_matrix(history, timezone, step_minutes)

    def on_features(fit_model: Callable[[Any], Any]) -> Callable[[pd.Series], Any]:
        return lambda history: fit_model(lag_features(matrix(history)))

    def by_rows(model: Any, history: pd.Series, times: pd.DatetimeIndex) -> pd.Series:
        return forecast_day_by_day(matrix(history), times, model.predict_row)

    return {
        "yesterday": stateless("yesterday", lambda h, t: seasonal_naive(h, t, "1D")),
        "last_week": stateless("last_week", lambda h, t: seasonal_naive(h, t, "7D")),
        "profile": stateless(
            "profile", lambda h, t: profile_forecast(h, t, timezone, step_minutes, country)
        ),
        "smoothed_blend": stateless(
            "smoothed_blend",
            lambda h, t: forecast_day_by_day(matrix(h), t, smoothed_blend_row),
        ),
        "lag_regression": Forecaster(
            "lag_regression", on_features(fit_lag_regression), by_rows, refit_days=1
        ),
        "gradient_boosting": Forecaster(
            "gradient_boosting",
            on_features(lambda features: fit_boosted_load(features, country)),
            by_rows,
            refit_days=7,
        ),
    }


def pv_forecasters(
    clearsky_kw: pd.Series, timezone: str, step_minutes: int = 15
) -> dict[str, Forecaster]:
    """Day-ahead PV from measured PV alone (no weather input); `clearsky_kw` must cover the
    history and the times forecast, at slot midpoints."""
    step = pd.Timedelta(minutes=step_minutes)

    def smart_persistence(history: pd.Series, times: pd.DatetimeIndex) -> pd.Series:
        return clearsky_kw.reindex(times) * mean_daily_index(history, clearsky_kw, 1, timezone)

    return {
        "smart_persistence": stateless("smart_persistence", smart_persistence),
        "csi_ensemble": stateless(
            "csi_ensemble",
            lambda h, t: ensemble_pv_quantiles(h, t, clearsky_kw, step)["p50"],
        ),
    }


def ensemble_pv_quantiles(
    history_kw: pd.Series,
    times: pd.DatetimeIndex,
    clearsky_kw: pd.Series,
    step: pd.Timedelta,
    issued_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """P10/P50/P90 PV from the recent-days ensemble of the clear-sky index measured before
    `issued_at` (the first time forecast); climatology without measurements."""
    issued_at = issued_at if issued_at is not None else times[0]
    history_kw = history_kw[history_kw.index + step <= issued_at]
    quantiles = index_ensemble_quantiles(history_kw, clearsky_kw, issued_at)
    if not pd.notna(quantiles).all():
        quantiles = (CLIMATOLOGICAL_INDEX,) * 3
    clear = clearsky_kw.reindex(times)
    band = {
        f"p{round(q * 100)}": (clear * value).clip(lower=0.0)
        for q, value in zip(QUANTILES, quantiles, strict=True)
    }
    return pd.DataFrame(band)
