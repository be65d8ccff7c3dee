"""Intraday updates: the latest measurements pull the next hours of a forecast towards them.

A forecast's error persists: a site 3 kW above its forecast now is likely above it in an hour,
less so in six. With e the mean error of the last hour measured, the forecast h hours after that
hour is moved by e × g^h, an error that decays geometrically (an AR(1) process). Only errors of
the same local day count: a day's forecast is issued at the midnight before it from everything
measured until then (the lag regression already reads the last hour), so at midnight there is
nothing to update and yesterday's errors say nothing new about today's forecast. The gain g is
the site's own: the value that would have given its recent 1 h-ahead updates the least
absolute error (the mean-square optimum, the errors' correlation, is too timid when clouds
come and go: a clear sky persists more reliably than a linear model of it admits). PV errors
are taken in clear-sky-index units (`scale` = clear-sky power): a cloud that halves the output
at 9:00 halves it at 10:00 too, in kW it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LATEST_WINDOW = pd.Timedelta(hours=1)
DEFAULT_GAIN_1H = 0.8
MIN_PAIRS = 24  # error pairs one hour apart needed to fit the gain
GAIN_GRID = np.linspace(0.0, 0.98, 50)


@dataclass(frozen=True)
class LatestError:
    """The mean error of the last measured hour, and the midpoint of that hour."""

    value: float
    at: pd.Timestamp


def relative_errors(
    actual: pd.Series, forecast: pd.Series, scale: pd.Series | None = None
) -> pd.Series:
    """actual − forecast, divided by `scale` where it is positive (NaN elsewhere)."""
    error = actual - forecast.reindex(actual.index)
    if scale is None:
        return error
    scale = scale.reindex(actual.index)
    return (error / scale).where(scale > 0)


def _latest_hour_mean(errors: pd.Series, step: pd.Timedelta, timezone: str) -> pd.Series:
    """At each slot, the mean error of the hour of slots that ends one hour before it, from
    the same local day (NaN where that hour lies before the day's midnight)."""
    if errors.empty:
        return errors
    window = max(1, round(LATEST_WINDOW / step))
    day = errors.index.tz_convert(timezone).normalize()
    hour_means = errors.groupby(day).transform(lambda e: e.rolling(window, min_periods=1).mean())
    hour = pd.Timedelta(hours=1)
    later = hour_means.shift(freq=hour)
    same_day = later.index.tz_convert(timezone).normalize() == day
    return later.where(same_day)


def update_gain_1h(
    errors: pd.Series, step: pd.Timedelta, timezone: str, scale: pd.Series | None = None
) -> float:
    """The gain g of e × g^h with the least absolute error 1 h ahead over `errors` (errors in
    `scale` units are weighed by it, so that a noon error counts more than a dusk one)."""
    latest = _latest_hour_mean(errors, step, timezone).reindex(errors.index)
    weight = scale.reindex(errors.index) if scale is not None else pd.Series(1.0, errors.index)
    pairs = pd.concat([errors, latest, weight], axis=1, sort=True).dropna()
    if len(pairs) < MIN_PAIRS:
        return DEFAULT_GAIN_1H
    now, before, w = (pairs.iloc[:, i].to_numpy() for i in range(3))
    loss = np.abs(now[None, :] - GAIN_GRID[:, None] * before[None, :]) @ w
    return float(GAIN_GRID[np.argmin(loss)])


def latest_error(
    errors: pd.Series, issued_at: pd.Timestamp, step: pd.Timedelta, timezone: str
) -> LatestError:
    """The mean of the errors measured in the last hour before `issued_at`, since the local
    midnight before it (none: no update)."""
    midnight = issued_at.tz_convert(timezone).normalize()
    known = errors[(errors.index + step <= issued_at) & (errors.index >= midnight)].dropna()
    if known.empty:
        return LatestError(0.0, issued_at)
    last = known.index[-1]
    window = known[known.index > last - LATEST_WINDOW]
    return LatestError(float(window.mean()), last + step / 2)


def updated(
    forecast: pd.Series,
    latest: LatestError,
    gain_1h: float,
    step: pd.Timedelta,
    scale: pd.Series | None = None,
) -> pd.Series:
    """`forecast` moved by the latest error, fading as gain_1h ** (hours after it)."""
    lead_h = ((forecast.index + step / 2) - latest.at).total_seconds().to_numpy() / 3600.0
    weight = gain_1h ** np.maximum(lead_h, 0.0)
    shift = latest.value * weight
    if scale is not None:
        shift = shift * scale.reindex(forecast.index).fillna(0.0).to_numpy()
    return forecast + shift


def hour_ahead(
    day_ahead: pd.Series,
    actual: pd.Series,
    gain_1h: pd.Series | float,
    step: pd.Timedelta,
    timezone: str,
    scale: pd.Series | None = None,
) -> pd.Series:
    """Every slot forecast from the measurements up to one hour before it: `updated` with the
    latest hour of errors, vectorised over the slots (what a backtest of 1 h ahead needs)."""
    errors = relative_errors(actual, day_ahead, scale)
    latest = _latest_hour_mean(errors, step, timezone).reindex(day_ahead.index).fillna(0.0)
    shift = latest * pd.Series(gain_1h, index=day_ahead.index)
    if scale is not None:
        shift = shift * scale.reindex(day_ahead.index).fillna(0.0)
    return day_ahead + shift
