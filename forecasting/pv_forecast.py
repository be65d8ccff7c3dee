"""The PV forecast a plan gets: each slot from the method its lead-time band chose at the local
midnight (`forecasting.pv_choice`), issued now.

A slot's lead is the time from the forecast's issue to the slot's end; it falls in a band of
`forecasting.pv_candidates.BANDS`. Day-ahead methods for today's slots are the forecasts issued
at today's midnight (their errors since then drive the `_updated` ones); for later days they
are issued now, from everything measured. An `_updated` method moves by its mean relative error
over the latest window measured today × gain^(lead / the band's scored lead), fading with the
lead. Where the chosen method has no forecast (a weather forecast that ends within the
horizon), the next one in the band's ranking takes the slot. P10/P90: the chosen method's
adapted spread in units of the slot's clear-sky power (narrow at dawn and when the sky is
expected clear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting import intraday
from smartcharge.forecasting.clearsky_index import clearsky_index, index_ensemble_quantiles
from smartcharge.forecasting.methods import pv_forecasters
from smartcharge.forecasting.pv_candidates import (
    BANDS,
    ENSEMBLE,
    PERSISTENCE,
    SMART_PERSISTENCE,
    UPDATED,
    WEATHER,
    WEATHER_CORRECTED,
    LeadBand,
    PVSeries,
    band_of,
    updated,
    uses_weather,
)
from smartcharge.forecasting.pv_choice import PVChoice
from smartcharge.forecasting.quantiles import relative_bounds
from smartcharge.forecasting.weather_correction import corrected, day_part

# P10/P90 of a weather-driven forecast with no measured errors to calibrate on, as a share of
# the clear-sky power either side (a typical day-ahead NWP error at central-European sites).
WEATHER_UNCALIBRATED_SPREAD = 0.15


@dataclass
class PVForecast:
    band: pd.DataFrame  # p10, p50, p90 on the times forecast
    methods: dict[str, str]  # band name -> the method(s) its slots used, "+"-joined
    unscored_weather: bool = False


def forecast_pv(
    choice: PVChoice, series: PVSeries, times: pd.DatetimeIndex, issued_at: pd.Timestamp
) -> PVForecast:
    """P10/P50/P90 at `times` from what `series` measured before `issued_at` (its clear sky and
    weather PV cover `times` too)."""
    midnight = issued_at.tz_convert(series.timezone).normalize()
    clear = series.clearsky_kw.reindex(times)
    now = _Issue(choice, series, issued_at, midnight, _levels(choice, series, times, midnight))
    lead = (times + series.step) - issued_at
    band_names = np.array([band_of(lead_i).name for lead_i in lead])
    p50 = pd.Series(np.nan, index=times)
    low, high = np.full(len(times), np.nan), np.full(len(times), np.nan)
    methods: dict[str, str] = {}
    unscored = False
    for band in BANDS:
        slots = band_names == band.name
        if not slots.any():
            continue
        ranking = list(choice.bands[band.name].ranking) or [ENSEMBLE]
        if series.has_weather and not any(uses_weather(m) for m in ranking):
            # A weather forecast with no past to be scored on: trusted beyond two hours (NWP
            # beats persistence there at nearly every site studied), tried last before.
            nearest = band.scored_at is not None and band.scored_at <= BANDS[0].scored_at
            ranking = [*ranking, WEATHER] if nearest else [WEATHER, *ranking]
            unscored = True
        used = []
        for name in ranking:
            todo = slots & p50.isna().to_numpy()
            if not todo.any():
                break
            forecast = now.candidate(name, band, times, lead)
            take = todo & forecast.notna().to_numpy()
            if take.any():
                p50[take] = forecast[take]
                low[take], high[take] = _spread(name, choice, band.name, series, p50, clear, take)
                used.append(name)
        methods[band.name] = "+".join(used)
    band = relative_bounds(p50.fillna(0.0), clear.fillna(0.0), low, high)
    return PVForecast(band, methods, unscored)


def _levels(
    choice: PVChoice, series: PVSeries, times: pd.DatetimeIndex, midnight: pd.Timestamp
) -> dict[str, pd.Series]:
    """Each day-ahead method at `times`: slots before the next midnight as issued at
    `midnight`, later ones from everything measured."""
    measured = series.measured_kw.dropna()
    methods = pv_forecasters(series.clearsky_kw, series.timezone, series.step_minutes)
    tomorrow = midnight + pd.DateOffset(days=1)
    today, later = times[times < tomorrow], times[times >= tomorrow]
    levels = {}
    for name in (SMART_PERSISTENCE, ENSEMBLE):
        parts = [pd.Series(dtype=float)]
        if len(today):
            parts.append(methods[name].forecast(measured[measured.index < midnight], today))
        if len(later):
            parts.append(methods[name].forecast(measured, later))
        levels[name] = pd.concat(parts).reindex(times)
    if series.has_weather:
        weather = series.weather_kw.reindex(times)
        parts = day_part(series.clearsky_kw, series.timezone)
        levels[WEATHER] = weather
        levels[WEATHER_CORRECTED] = corrected(choice.correction, weather, series.clearsky_kw, parts)
    return levels


@dataclass
class _Issue:
    """A forecast being issued: the choice, what was measured, and the day-ahead levels."""

    choice: PVChoice
    series: PVSeries
    issued_at: pd.Timestamp
    midnight: pd.Timestamp
    levels: dict[str, pd.Series]

    def candidate(
        self, name: str, band: LeadBand, times: pd.DatetimeIndex, lead: pd.TimedeltaIndex
    ) -> pd.Series:
        """Candidate `name`'s forecast at `times` (NaN where it has none)."""
        if name == PERSISTENCE:
            return self.persistence(times)
        method = name.removesuffix(UPDATED)
        level = self.levels.get(method)
        if level is None:
            return pd.Series(np.nan, index=times)
        state = self.choice.bands[band.name].states.get(name)
        if not name.endswith(UPDATED) or state is None or state.update is None:
            return level
        latest = intraday.latest_error(
            self.errors_today(method),
            self.issued_at,
            self.series.step,
            self.series.timezone,
            state.update.window,
        )
        fade = state.update.gain ** np.maximum(lead / band.scored_at, 0.0)
        clear = self.series.clearsky_kw.reindex(times)
        return updated(level, np.full(len(times), latest.value), fade, clear)

    def errors_today(self, method: str) -> pd.Series:
        """Relative errors since midnight of `method` as issued at midnight."""
        measured = self.series.measured_kw
        today = measured.index[
            (measured.index >= self.midnight) & (measured.index < self.issued_at)
        ]
        if today.empty:
            return pd.Series(dtype=float, index=today)
        issued = _levels(self.choice, self.series, today, self.midnight)[method]
        return self.series.relative_errors(issued)

    def persistence(self, times: pd.DatetimeIndex) -> pd.Series:
        """The clear-sky index of the latest slot measured today × the clear sky (before
        sunrise: smart persistence)."""
        measured = self.series.measured_kw
        known = (measured.index >= self.midnight) & (
            measured.index + self.series.step <= self.issued_at
        )
        index = clearsky_index(measured[known], self.series.clearsky_kw).dropna()
        if index.empty:
            return self.levels[SMART_PERSISTENCE]
        return self.series.clearsky_kw.reindex(times) * float(index.iloc[-1])


def _spread(
    name: str,
    choice: PVChoice,
    band_name: str,
    series: PVSeries,
    p50: pd.Series,
    clear: pd.Series,
    take: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative P10/P90 bounds of the slots `take` from `name`'s adapted spread; without one,
    the recent-days ensemble's own spread (weather: ±WEATHER_UNCALIBRATED_SPREAD)."""
    state = choice.bands[band_name].states.get(name)
    index = (p50[take] / clear[take]).where(clear[take] > 0).to_numpy()
    ones = np.ones(int(take.sum()))
    if state is not None and state.spread is not None:
        return state.spread.at(index)
    measured = series.measured_kw.dropna()
    if not uses_weather(name) and not measured.empty:
        issued = measured.index[-1] + series.step
        p10, median, p90 = index_ensemble_quantiles(measured, series.clearsky_kw, issued)
        if np.isfinite([p10, median, p90]).all():
            return (p10 - median) * ones, (p90 - median) * ones
    return -WEATHER_UNCALIBRATED_SPREAD * ones, WEATHER_UNCALIBRATED_SPREAD * ones
