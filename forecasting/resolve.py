"""Fill a problem's null `base_load_kw` / `pv_kw` with forecasts (SPEC §1, Forecasts).

Base load: each candidate method is scored on the site's own last two weeks (fitted on what was
measured before them), the best one forecasts from the whole history, the latest measured hour
pulls the next hours towards it, and its errors of those two weeks give the P10/P90.
PV: at each local midnight every candidate (clear-sky-index persistence, smart persistence, the
recent-days ensemble, the weather-driven chain and its correction by the site's own errors, each
with and without the intraday update) is scored on the site's own recent days at each lead-time
band (0–2 h, 2–6 h, day-ahead); each band uses its winner (`forecasting.pv_choice`,
`forecasting.pv_forecast`). Without PV measurements: the weather forecast where it reaches, else
the clear sky and a climatological index. `options.risk` chooses which quantile the hard limits
are planned against: "p50" the median, "p90" the P90 base load and the P10 PV, so that a bad
forecast does not break the connection limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smartcharge.forecasting import intraday
from smartcharge.forecasting.calendar import country_of_timezone, slots_per_day
from smartcharge.forecasting.clearsky_index import (
    CLIMATOLOGICAL_INDEX,
    CLIMATOLOGICAL_INDEX_BAND,
)
from smartcharge.forecasting.intraday import DEFAULT_GAIN_1H
from smartcharge.forecasting.methods import LOAD_CANDIDATES, Forecaster, load_forecasters
from smartcharge.forecasting.pv import clearsky_pv_kw
from smartcharge.forecasting.pv_candidates import BANDS, PVSeries
from smartcharge.forecasting.pv_choice import CHOICE_HISTORY_DAYS, cached_choice
from smartcharge.forecasting.pv_forecast import WEATHER_UNCALIBRATED_SPREAD, forecast_pv
from smartcharge.forecasting.quantiles import RECENT_DAYS, quantile_band, relative_band
from smartcharge.forecasting.timeseries import clean_history, require_aware
from smartcharge.forecasting.weather import pv_from_weather, read_weather
from smartcharge.optimizer.problem import Location, Problem

SELECTION_DAYS = RECENT_DAYS
FALLBACK_LOAD_METHOD = "profile"  # the time of day alone: works from one measured day on
CACHED_CHOICES = 1024  # sites whose daily load method choice is remembered


@dataclass
class ResolvedForecasts:
    base_load_kw: np.ndarray
    pv_kw: np.ndarray
    quantiles: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def horizon_times(problem: Problem) -> pd.DatetimeIndex:
    """Slot starts in UTC (a DST day has 92 or 100 quarter-hours: counted, not assumed)."""
    horizon = problem.horizon
    start = pd.Timestamp(horizon.start).tz_convert("UTC")
    return pd.date_range(start, periods=horizon.slots, freq=f"{horizon.step_minutes}min")


def resolve_forecasts(
    problem: Problem,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
) -> ResolvedForecasts:
    """Forecasts issued at the horizon's start: measurements from then on are not used.
    `weather` (a forecast, see `forecasting.weather`) supplements the problem's own."""
    times = horizon_times(problem)
    for name, history in (("load_history_kw", load_history_kw), ("pv_history_kw", pv_history_kw)):
        if history is not None:
            require_aware(history.index, f"{name} times")
    result = ResolvedForecasts(np.zeros(len(times)), np.zeros(len(times)))
    pessimistic = problem.options.risk == "p90"
    site = problem.site

    if problem.base_load_kw is not None:
        result.base_load_kw = _given(problem.base_load_kw, len(times))
    elif load_history_kw is None or load_history_kw[load_history_kw.index < times[0]].isna().all():
        result.warnings.append(f"no base-load history for site {site.id}: base load taken as 0 kW")
    else:
        band = load_quantiles(
            load_history_kw,
            times,
            site.timezone,
            problem.horizon.step_minutes,
            site.country or country_of_timezone(site.timezone),
        )
        result.quantiles["base_load"] = band
        result.base_load_kw = band["p90" if pessimistic else "p50"].to_numpy()

    if problem.pv_kw is not None:
        result.pv_kw = _given(problem.pv_kw, len(times))
    elif site.pv:
        location = site.location or Location(latitude=0.0, longitude=0.0)
        if site.location is None:
            result.warnings.append("site has PV but no location: PV forecast at 0 N, 0 E")
        if problem.weather is not None:
            given = read_weather(problem.weather)
            weather = given if weather is None else given.combine_first(weather)
        band = pv_quantiles(problem, location, times, pv_history_kw, weather, result.warnings)
        result.quantiles["pv"] = band
        result.pv_kw = band["p10" if pessimistic else "p50"].to_numpy()
    return result


@dataclass(frozen=True)
class LoadChoice:
    """What a site's history up to a local midnight decides for that whole day: the method,
    its fitted state, its errors over the selection window and its intraday update gain."""

    method: str
    state: Any
    residuals: pd.Series
    gain_1h: float


def choose_load_method(
    history: pd.Series, methods: dict[str, Forecaster], step: pd.Timedelta, timezone: str
) -> LoadChoice:
    """The candidate with the least error over the last SELECTION_DAYS days of `history`
    (each fitted on what was measured before those days), refitted on all of `history`."""
    if history.dropna().empty:
        return LoadChoice(FALLBACK_LOAD_METHOD, None, pd.Series(dtype=float), DEFAULT_GAIN_1H)
    window_start = history.index[-1] - pd.Timedelta(days=SELECTION_DAYS)
    before = history[history.index <= window_start]
    window = history[history.index > window_start].dropna()
    errors = {}
    for name in LOAD_CANDIDATES:
        method = methods[name]
        try:
            forecast = method.predict(method.fit(before), history, window.index)
        except ValueError:  # not enough history for this method
            continue
        if forecast.notna().mean() > 0.9:
            errors[name] = (window - forecast).dropna()
    best = min(errors, key=lambda n: errors[n].abs().mean()) if errors else FALLBACK_LOAD_METHOD
    residuals = errors.get(best, pd.Series(dtype=float))
    gain = intraday.update_gain_1h(residuals, step, timezone) if len(residuals) else DEFAULT_GAIN_1H
    return LoadChoice(best, methods[best].fit(history), residuals, gain)


_daily_choices: OrderedDict[tuple, LoadChoice] = OrderedDict()


def _cached_choice(
    history: pd.Series,
    methods: dict[str, Forecaster],
    step: pd.Timedelta,
    timezone: str,
    key: tuple,
) -> LoadChoice:
    """choose_load_method, remembered for the day: a site re-plans many times a day, its
    history up to midnight does not change (a corrected meter value does change the key)."""
    key = (*key, int(pd.util.hash_pandas_object(history, index=True).sum()))
    if key not in _daily_choices:
        _daily_choices[key] = choose_load_method(history, methods, step, timezone)
        while len(_daily_choices) > CACHED_CHOICES:
            _daily_choices.popitem(last=False)
    _daily_choices.move_to_end(key)
    return _daily_choices[key]


def _from_first_midnight(history: pd.Series, timezone: str) -> pd.Series:
    """The history from its first local midnight on: a service reads a fixed span back from
    each plan's start, so the partial first day shifts with every re-plan, and the day's choice
    (keyed by the history's values) would be refitted on every plan instead of once a day."""
    if history.empty:
        return history
    start = history.index[0].tz_convert(timezone)
    first = start.normalize()
    if first < start:
        first = (first + pd.DateOffset(days=1)).normalize()
    return history[history.index >= first]


def load_quantiles(
    history_kw: pd.Series,
    times: pd.DatetimeIndex,
    timezone: str,
    step_minutes: int,
    country: str | None = None,
) -> pd.DataFrame:
    """P10/P50/P90 base load at `times` from the history measured before `times[0]`: the
    method chosen at the last local midnight, the hour measured since pulling it along."""
    issued_at = times[0]
    step = pd.Timedelta(minutes=step_minutes)
    history = clean_history(history_kw[history_kw.index < issued_at], f"{step_minutes}min")
    midnight = issued_at.tz_convert(timezone).normalize()
    methods = load_forecasters(timezone, step_minutes, country)
    key = (timezone, step_minutes, country, midnight)
    before = history[history.index < midnight]
    choice = _cached_choice(_from_first_midnight(before, timezone), methods, step, timezone, key)
    today = history.index[history.index >= midnight]
    p50 = methods[choice.method].predict(choice.state, history, today.append(times))
    p50 = p50.fillna(float(history.tail(slots_per_day(step_minutes)).mean()))
    errors = intraday.relative_errors(history.reindex(today), p50.reindex(today))
    latest = intraday.latest_error(errors, issued_at, step, timezone)
    p50 = intraday.updated(p50.reindex(times), latest, choice.gain_1h, step)
    band = quantile_band(p50, choice.residuals, floor=None)
    band.attrs["method"] = choice.method
    return band


def pv_quantiles(
    problem: Problem,
    location: Location,
    times: pd.DatetimeIndex,
    pv_history_kw: pd.Series | None,
    weather: pd.DataFrame | None,
    warnings: list[str],
) -> pd.DataFrame:
    """P10/P50/P90 PV at `times`, the method of each band in `attrs["methods"]` and all of
    them, "+"-joined, in `attrs["method"]`."""
    step_minutes = problem.horizon.step_minutes
    step = pd.Timedelta(minutes=step_minutes)
    arrays, timezone = problem.site.pv, problem.site.timezone
    measured = None
    if pv_history_kw is not None:
        measured = clean_history(pv_history_kw[pv_history_kw.index < times[0]], step)
        measured = measured if measured.notna().any() else None
    known = measured.index if measured is not None else pd.DatetimeIndex([], tz="UTC")
    clear = clearsky_pv_kw(known.append(times), location, arrays, step_minutes)
    weather_kw = None
    if weather is not None and not weather.empty:
        weather_kw = pv_from_weather(weather, known.append(times), location, arrays, step_minutes)
        if weather_kw.reindex(times).isna().all():
            warnings.append("the weather forecast does not cover the horizon: PV from measurements")
    if measured is None:
        band = _pv_without_measurements(clear.reindex(times), weather_kw)
        if "climatology" in band.attrs["method"]:
            warnings.append(
                f"no PV measurements for site {problem.site.id}: clear sky x a climatological "
                f"clear-sky index of {CLIMATOLOGICAL_INDEX} where no weather forecast reaches"
            )
        return band
    series = PVSeries(measured, clear, timezone, step, weather_kw)
    midnight = times[0].tz_convert(timezone).normalize()
    # The days the choice reads end at midnight and start a fixed span before it, so that
    # every plan of the day (whose stored history starts a little later each time) shares it.
    first = midnight - pd.Timedelta(days=CHOICE_HISTORY_DAYS)
    chosen_from = measured[(measured.index >= first) & (measured.index < midnight)]
    before = PVSeries(chosen_from, clear, timezone, step, weather_kw)
    # The clear sky (location, arrays) is part of the key through its values.
    choice = cached_choice(before, midnight, (timezone, step_minutes))
    forecast = forecast_pv(choice, series, times, times[0])
    if forecast.unscored_weather:
        warnings.append(
            "the weather forecast has no past days to be scored on: used beyond 2 h ahead "
            "without the site's backtest"
        )
    band = forecast.band
    band.attrs["methods"] = forecast.methods
    band.attrs["method"] = _joined(forecast.methods.values())
    return band


def _pv_without_measurements(clear: pd.Series, weather_kw: pd.Series | None) -> pd.DataFrame:
    """The clear sky × a climatological index and its band; the weather forecast (±
    WEATHER_UNCALIBRATED_SPREAD of the clear sky) where it reaches."""
    low, high = CLIMATOLOGICAL_INDEX_BAND
    band = pd.DataFrame(
        {"p10": clear * low, "p50": clear * CLIMATOLOGICAL_INDEX, "p90": clear * high}
    )
    method = "climatology"
    if weather_kw is not None:
        from_weather = weather_kw.reindex(clear.index)
        covered = from_weather.notna()
        if covered.any():
            spread = (-WEATHER_UNCALIBRATED_SPREAD, WEATHER_UNCALIBRATED_SPREAD)
            weather_band = relative_band(from_weather, clear, spread)
            band.loc[covered] = weather_band.loc[covered]
            method = "weather" if covered.all() else "weather+climatology"
    band.attrs["method"] = method
    band.attrs["methods"] = {b.name: method for b in BANDS}
    return band


def _joined(methods) -> str:
    """The methods of every band, each once, in the order they appear ("a+b", "b+c": a+b+c)."""
    seen: dict[str, None] = {}
    for method in methods:
        seen.update(dict.fromkeys(method.split("+")))
    return "+".join(m for m in seen if m)


def _given(value: float | list[float], slots: int) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    return np.full(slots, float(array)) if array.ndim == 0 else array
