"""What each PV method would have forecast, at each lead-time band: the candidates a site's own
backtest chooses between (`forecasting.pv_choice`) and the rows of `smartcharge forecast
backtest`.

Bands: 0–2 h ahead (scored 1 h ahead), 2–6 h (scored 4 h ahead) and day-ahead (issued at the
local midnight before the day). A slot L ahead is forecast from the slots that start L or more
before it (the latest one ends L − step before the slot starts).

Day-ahead methods, each issued at the local midnight before its day:
- `smart_persistence`: yesterday's daily clear-sky index × today's clear sky;
- `csi_ensemble`: the recent-days ensemble's median index (`forecasting.clearsky_index`);
- `weather`: pvlib's chain on a weather forecast (`forecasting.weather`);
- `weather_corrected`: the same, corrected by the site's own errors of the 28 days before
  (`forecasting.weather_correction`).
Intraday, besides these:
- `csi_persistence`: the clear-sky index of the latest slot measured, carried to the slot
  (before sunrise, where there is none: smart persistence);
- `<method>_updated`: the day-ahead method moved by its mean error of the latest measured hour
  of the same day × a gain fitted, at the band's lead, on the site's errors of the two weeks
  before (`forecasting.intraday`) — the update is only chosen where it helped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting import intraday
from smartcharge.forecasting.clearsky_index import MAX_INDEX, clearsky_index, usable
from smartcharge.forecasting.methods import pv_forecasters
from smartcharge.forecasting.rolling import (
    day_spans,
    local_days,
    per_day,
    rolling_day_ahead,
)
from smartcharge.forecasting.weather_correction import (
    CORRECTION_DAYS,
    corrected,
    correction_pairs,
    day_part,
    fit_correction,
)


@dataclass(frozen=True)
class LeadBand:
    """Slots whose end lies up to `up_to` after the forecast is issued (None: any further),
    scored `scored_at` ahead (None: issued at the local midnight before the day)."""

    name: str
    scored_at: pd.Timedelta | None
    up_to: pd.Timedelta | None


BANDS = (
    LeadBand("0-2h", pd.Timedelta(hours=1), pd.Timedelta(hours=2)),
    LeadBand("2-6h", pd.Timedelta(hours=4), pd.Timedelta(hours=6)),
    LeadBand("day-ahead", None, None),
)
SMART_PERSISTENCE = "smart_persistence"
ENSEMBLE = "csi_ensemble"
WEATHER = "weather"
WEATHER_CORRECTED = "weather_corrected"
PERSISTENCE = "csi_persistence"
UPDATED = "_updated"
WEATHER_METHODS = (WEATHER, WEATHER_CORRECTED)


def band_of(lead: pd.Timedelta) -> LeadBand:
    return next(b for b in BANDS if b.up_to is None or lead <= b.up_to)


def uses_weather(method: str) -> bool:
    return method.removesuffix(UPDATED) in WEATHER_METHODS


@dataclass(frozen=True)
class PVSeries:
    """A site's measured PV and what explains it, on one grid of slots (stamped with their
    start): `clearsky_kw` and `weather_kw` (PV from the weather forecast, NaN where it does not
    reach) cover at least the measured times."""

    measured_kw: pd.Series
    clearsky_kw: pd.Series
    timezone: str
    step: pd.Timedelta
    weather_kw: pd.Series | None = None

    @property
    def step_minutes(self) -> int:
        return int(self.step / pd.Timedelta(minutes=1))

    @property
    def has_weather(self) -> bool:
        return self.weather_kw is not None and bool(self.weather_kw.notna().any())

    def daylight(self, index: pd.DatetimeIndex) -> pd.Series:
        return usable(self.clearsky_kw).reindex(index, fill_value=False)

    def relative_errors(self, forecast: pd.Series) -> pd.Series:
        """(measured − forecast) / clear sky over daylight, on the forecast's times."""
        clear = self.clearsky_kw.reindex(forecast.index)
        error = (self.measured_kw.reindex(forecast.index) - forecast) / clear
        return error.where(self.daylight(forecast.index))


def day_ahead_levels(series: PVSeries, start: pd.Timestamp) -> dict[str, pd.Series]:
    """Every day-ahead method on each local day from `start`, as issued at its midnight."""
    methods = pv_forecasters(series.clearsky_kw, series.timezone, series.step_minutes)
    levels = {
        name: rolling_day_ahead(series.measured_kw, methods[name], series.timezone, start)
        for name in (SMART_PERSISTENCE, ENSEMBLE)
    }
    if series.has_weather:
        weather = series.weather_kw.reindex(levels[SMART_PERSISTENCE].index)
        levels[WEATHER] = weather
        levels[WEATHER_CORRECTED] = corrected_by_day(series, weather, start)
    return levels


def corrected_by_day(series: PVSeries, weather: pd.Series, start: pd.Timestamp) -> pd.Series:
    """Each local day of `weather` corrected as fitted on the CORRECTION_DAYS days before."""
    if weather.empty:
        return weather
    pairs = correction_pairs(
        series.measured_kw, series.weather_kw, series.clearsky_kw, series.timezone
    )
    parts = day_part(series.clearsky_kw, series.timezone)
    out = []
    for day, next_day in local_days(weather.index, series.timezone, start):
        times = weather.index[(weather.index >= day) & (weather.index < next_day)]
        if times.empty:
            continue
        # `pairs.day` holds local midnights as naive nanoseconds, in order.
        since, until = (
            int(np.searchsorted(pairs.day, t.tz_localize(None).as_unit("ns").value))
            for t in (day - pd.DateOffset(days=CORRECTION_DAYS), day)
        )
        window = pairs.between(since, until)
        correction = fit_correction(window)
        out.append(corrected(correction, weather[times], series.clearsky_kw, parts))
    return pd.concat(out) if out else weather.iloc[:0]


def persistence(
    series: PVSeries, index: pd.DatetimeIndex, lead: pd.Timedelta, fallback: pd.Series
) -> pd.Series:
    """The clear-sky index of the slot `lead` before each slot × its clear sky; `fallback`
    (a forecast in kW) where that slot has no index."""
    measured_index = clearsky_index(series.measured_kw, series.clearsky_kw)
    carried = measured_index.shift(freq=lead).reindex(index)
    clear = series.clearsky_kw.reindex(index)
    return (clear * carried).fillna(fallback.reindex(index))


@dataclass(frozen=True)
class UpdateFit:
    """How a day-ahead method is pulled by the latest measurements: its mean relative error
    over the latest `window` of the day × `gain` (at a band's lead)."""

    window: pd.Timedelta
    gain: float


def latest_windows(step: pd.Timedelta) -> list[pd.Timedelta]:
    """The spans the latest error is averaged over: the latest slot, half an hour, an hour
    (a 15-minute PV reading is noisier than its half-hour; at an hour's resolution they
    coincide)."""
    spans = (step, pd.Timedelta(minutes=30), pd.Timedelta(hours=1))
    return sorted({max(step, span) for span in spans})


@dataclass
class UpdateInputs:
    """A method's relative errors (`now`), for each latest window the mean error of that
    window ending `lead` before each slot, and each slot's weight (its clear-sky power)."""

    now: np.ndarray
    latest: dict[pd.Timedelta, np.ndarray]
    weight: np.ndarray

    def fit(self, rows: slice) -> tuple[UpdateFit, int]:
        """The window and gain with the least absolute error over `rows` (and the window's
        position in `latest`)."""
        fits = [
            intraday.best_gain(self.now[rows], latest[rows], self.weight[rows])
            for latest in self.latest.values()
        ]
        best = min(range(len(fits)), key=lambda i: fits[i][1])
        return UpdateFit(list(self.latest)[best], fits[best][0]), best


def update_inputs(series: PVSeries, level: pd.Series, lead: pd.Timedelta) -> UpdateInputs:
    errors = series.relative_errors(level)
    latest = {
        window: intraday.latest_hour_mean(
            errors, series.step, series.timezone, lead, window
        ).to_numpy()
        for window in latest_windows(series.step)
    }
    weight = series.clearsky_kw.reindex(level.index).to_numpy(dtype=float)
    return UpdateInputs(errors.to_numpy(), latest, weight)


def updated(
    level: pd.Series, latest: pd.Series | np.ndarray, gain: np.ndarray | float, clear: pd.Series
) -> pd.Series:
    """`level` moved by `latest` × `gain` (relative errors), within 0 .. MAX_INDEX × clear."""
    shift = np.nan_to_num(np.asarray(latest, dtype=float)) * gain
    moved = level + clear * shift
    return moved.clip(lower=0.0, upper=MAX_INDEX * clear)


def band_forecasts(
    series: PVSeries, levels: dict[str, pd.Series], band: LeadBand
) -> dict[str, pd.Series]:
    """Every candidate at `band` on the times of `levels` (intraday: each level updated as
    fitted each day on the two weeks before it)."""
    if band.scored_at is None:
        return dict(levels)
    index = levels[SMART_PERSISTENCE].index
    if index.empty:
        return dict(levels)
    clear = series.clearsky_kw.reindex(index)
    out = {PERSISTENCE: persistence(series, index, band.scored_at, levels[SMART_PERSISTENCE])}
    spans = day_spans(index, series.timezone, index[0])
    for name, level in levels.items():
        out[name] = level
        inputs = update_inputs(series, level, band.scored_at)
        fitted = per_day(spans, len(index), lambda rows, i=inputs: _gain_and_window(i, rows))
        windows = np.stack(list(inputs.latest.values()), axis=1)
        rows = np.arange(len(index))
        latest = windows[rows, np.nan_to_num(fitted[:, 1]).astype(int)]
        out[name + UPDATED] = updated(level, latest, fitted[:, 0], clear)
    return out


def _gain_and_window(inputs: UpdateInputs, rows: slice) -> tuple[float, int]:
    fit, position = inputs.fit(rows)
    return fit.gain, position


def candidate_names(with_weather: bool, band: LeadBand) -> list[str]:
    levels = [SMART_PERSISTENCE, ENSEMBLE, *(WEATHER_METHODS if with_weather else ())]
    if band.scored_at is None:
        return levels
    return [PERSISTENCE, *levels, *(name + UPDATED for name in levels)]


def local_day_codes(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """An integer per local calendar day (consecutive days, consecutive integers)."""
    local = index.tz_convert(timezone).tz_localize(None).normalize()
    return local.as_unit("ns").asi8 // (86_400 * 10**9)
