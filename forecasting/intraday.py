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
at 9:00 halves it at 10:00 too, in kW it does not. Further ahead (`lead`), the gain is fitted at
that lead: the update a slot L ahead gets is e × g_L, g_L the least-absolute-error gain between
the hour that ends L before a slot and the slot.
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


def latest_hour_mean(
    errors: pd.Series,
    step: pd.Timedelta,
    timezone: str,
    lead: pd.Timedelta = LATEST_WINDOW,
    window: pd.Timedelta = LATEST_WINDOW,
) -> pd.Series:
    """At each slot, the mean error of the `window` (an hour) of slots that ends `lead` before
    it, from the same local day (NaN where that hour lies before the day's midnight)."""
    if errors.empty:
        return errors
    slots = max(1, round(window / step))
    day = errors.index.tz_convert(timezone).normalize()
    means = pd.Series(_rolling_mean_within_days(errors.to_numpy(), day.asi8, slots), errors.index)
    later = means.shift(freq=lead)
    same_day = later.index.tz_convert(timezone).normalize() == day
    return later.where(same_day).reindex(errors.index)


def _rolling_mean_within_days(values: np.ndarray, days: np.ndarray, slots: int) -> np.ndarray:
    """The mean of the known values among each position and the `slots` − 1 before it, of
    the same day only (NaN where none is known); each sum over its own values alone."""
    total = np.zeros(len(values))
    count = np.zeros(len(values))
    for back in range(min(slots, len(values))):
        earlier = np.full(len(values), np.nan)
        earlier[back:] = values[: len(values) - back]
        same_day = np.zeros(len(values), dtype=bool)
        same_day[back:] = days[back:] == days[: len(values) - back]
        known = same_day & np.isfinite(earlier)
        total += np.where(known, earlier, 0.0)
        count += known
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def best_gain(now: np.ndarray, before: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """The g of now ≈ g × before with the least weighted absolute error, and that error per
    unit of weight (pairs with a NaN are left out; too few pairs: DEFAULT_GAIN_1H, inf)."""
    keep = np.isfinite(now) & np.isfinite(before) & np.isfinite(weight)
    if keep.sum() < MIN_PAIRS:
        return DEFAULT_GAIN_1H, float("inf")
    now, before, weight = now[keep], before[keep], weight[keep]
    loss = np.abs(now[None, :] - GAIN_GRID[:, None] * before[None, :]) @ weight
    best = int(np.argmin(loss))
    return float(GAIN_GRID[best]), float(loss[best] / max(weight.sum(), 1e-12))


def fit_gain(now: np.ndarray, before: np.ndarray, weight: np.ndarray) -> float:
    return best_gain(now, before, weight)[0]


def update_gain_1h(
    errors: pd.Series,
    step: pd.Timedelta,
    timezone: str,
    scale: pd.Series | None = None,
    lead: pd.Timedelta = LATEST_WINDOW,
) -> float:
    """The gain g of e × g^h with the least absolute error `lead` (1 h) ahead over `errors`
    (errors in `scale` units are weighed by it, so that a noon error counts more than a dusk
    one)."""
    latest = latest_hour_mean(errors, step, timezone, lead)
    weight = scale.reindex(errors.index) if scale is not None else pd.Series(1.0, errors.index)
    return fit_gain(errors.to_numpy(), latest.to_numpy(), weight.to_numpy(dtype=float))


def latest_error(
    errors: pd.Series,
    issued_at: pd.Timestamp,
    step: pd.Timedelta,
    timezone: str,
    window: pd.Timedelta = LATEST_WINDOW,
) -> LatestError:
    """The mean of the errors measured in the last `window` (hour) before `issued_at`, since
    the local midnight before it (none: no update)."""
    midnight = issued_at.tz_convert(timezone).normalize()
    known = errors[(errors.index + step <= issued_at) & (errors.index >= midnight)].dropna()
    if known.empty:
        return LatestError(0.0, issued_at)
    last = known.index[-1]
    window = known[known.index > last - window]
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
    latest = latest_hour_mean(errors, step, timezone).reindex(day_ahead.index).fillna(0.0)
    shift = latest * pd.Series(gain_1h, index=day_ahead.index)
    if scale is not None:
        shift = shift * scale.reindex(day_ahead.index).fillna(0.0)
    return day_ahead + shift
