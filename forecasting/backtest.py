"""Rolling-origin backtests: day-ahead (issued at local midnight for the next local day) and
intraday (each slot from the measurements up to the slot a lead before it), with P10/P90 bands
calibrated on each method's own errors of the days before.

PV errors are measured over daylight and normalised by kWp, at each lead-time band (0–2 h
scored 1 h ahead, 2–6 h scored 4 h ahead, day-ahead); load errors by the mean load of the slots
scored, day-ahead and 1 h ahead. Both are also scored as `auto`: on each day the candidate with
the least error over the previous two weeks (per band, for PV), which is what a plan of the
site uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smartcharge.forecasting import intraday, metrics
from smartcharge.forecasting.clearsky_index import usable
from smartcharge.forecasting.methods import LOAD_BASELINE, LOAD_CANDIDATES, load_forecasters
from smartcharge.forecasting.pv_candidates import (
    BANDS,
    ENSEMBLE,
    PERSISTENCE,
    SMART_PERSISTENCE,
    PVSeries,
    band_forecasts,
    candidate_names,
    day_ahead_levels,
    local_day_codes,
)
from smartcharge.forecasting.pv_choice import RECORD_DAYS, ranked
from smartcharge.forecasting.quantiles import (
    RECENT_DAYS,
    adaptive_spread,
    error_quantiles,
    relative_bounds,
)
from smartcharge.forecasting.rolling import (
    day_spans,
    local_days,
    rolling_day_ahead,
)

CALIBRATION_DAYS = RECENT_DAYS  # errors of this many days before a forecast set its P10/P90
SELECTION_DAYS = RECENT_DAYS  # the `auto` method: least error over this many days before
HORIZONS = ("day-ahead", "intraday")
# Days of history a method needs before its first scored forecast (load: four weeks of lags).
WARM_UP_DAYS = {"pv": 0, "load": 28}
INTRADAY_BASELINE = {"pv": PERSISTENCE, "load": "persistence"}
# Rows of a result, in the order they are shown: the day-ahead first, then nearer leads.
HORIZON_ORDER = ("day-ahead", *(b.name for b in reversed(BANDS[:-1])), "intraday")

Progress = Callable[[str], None]


@dataclass
class Score:
    method: str
    horizon: str
    mae_kw: float
    nmae_pct: float
    rmse_kw: float
    skill_pct: float
    pinball_kw: float
    coverage_p10_p90_pct: float


@dataclass
class BacktestResult:
    kind: str
    actual: pd.Series
    baselines: dict[str, str]  # horizon -> the method skill is measured against
    bands: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    scores: list[Score] = field(default_factory=list)
    # (auto method, horizon) -> the candidate chosen for each slot
    choices: dict[tuple[str, str], pd.Series] = field(default_factory=dict)

    def best(self, horizon: str) -> str:
        scored = [s for s in self.scores if s.horizon == horizon]
        return min(scored, key=lambda s: s.mae_kw).method


def _per_day(
    values: pd.Series,
    timezone: str,
    start: pd.Timestamp,
    reduce: Callable[[pd.Series], float | tuple[float, ...]],
) -> pd.DataFrame:
    """reduce(values of the CALIBRATION_DAYS days before each local day), stamped on the
    slots of that day (one column per value reduce returns)."""
    out = []
    for day, next_day in local_days(values.index, timezone, start):
        window = values[(values.index >= day - pd.Timedelta(days=CALIBRATION_DAYS))]
        window = window[window.index < day].dropna()
        slots = values.index[(values.index >= day) & (values.index < next_day)]
        reduced = np.atleast_1d(np.asarray(reduce(window), dtype=float))
        out.append(pd.DataFrame(np.tile(reduced, (len(slots), 1)), index=slots))
    return pd.concat(out) if out else pd.DataFrame(dtype=float)


def calibrated_band(
    actual: pd.Series,
    forecast: pd.Series,
    timezone: str,
    scale: pd.Series | None = None,
    mask: pd.Series | None = None,
) -> pd.DataFrame:
    """P10/P90 from the forecast's own errors (relative to `scale`, over `mask`) of the
    CALIBRATION_DAYS days before each day; NaN until MIN_CALIBRATION_DAYS days are known
    (`forecasting.quantiles.error_quantiles`, as a plan's band)."""
    errors = intraday.relative_errors(actual.reindex(forecast.index), forecast, scale)
    if mask is not None:
        errors = errors.where(mask.reindex(errors.index, fill_value=False))

    def quantiles(window: pd.Series) -> tuple[float, float]:
        return error_quantiles(window, timezone) or (np.nan, np.nan)

    bounds = _per_day(errors, timezone, forecast.index[0], quantiles)
    low, high = bounds[0].clip(upper=0.0), bounds[1].clip(lower=0.0)
    if scale is not None:
        low, high = low * scale.reindex(low.index), high * scale.reindex(high.index)
    band = pd.DataFrame({"p10": forecast + low, "p50": forecast, "p90": forecast + high})
    return band.clip(lower=0.0) if scale is not None else band


def update_gain_by_day(
    actual: pd.Series,
    forecast: pd.Series,
    timezone: str,
    step: pd.Timedelta,
    scale: pd.Series | None = None,
) -> pd.Series:
    """intraday.update_gain_1h fitted on the errors of the days before each day."""
    errors = intraday.relative_errors(actual.reindex(forecast.index), forecast, scale)
    return _per_day(
        errors,
        timezone,
        forecast.index[0],
        lambda e: intraday.update_gain_1h(e, step, timezone, scale),
    )[0]


def select_daily(
    forecasts: dict[str, pd.Series], actual: pd.Series, timezone: str
) -> tuple[pd.Series, pd.Series]:
    """Each day, the forecast of the method with the least MAE over the SELECTION_DAYS days
    before (the first method until every method has a day of errors); and the names chosen."""
    names = list(forecasts)
    frame = pd.DataFrame(forecasts)
    errors = frame.sub(actual.reindex(frame.index), axis=0).abs()
    start = frame.dropna().index[0]
    chosen, names_chosen = [], []
    for day, next_day in local_days(frame.index, timezone, start):
        before = errors[(errors.index >= day - pd.Timedelta(days=SELECTION_DAYS))]
        before = before[before.index < day].dropna()
        best = before.mean().idxmin() if len(before) else names[0]
        slots = frame.index[(frame.index >= day) & (frame.index < next_day)]
        chosen.append(frame.loc[slots, best])
        names_chosen.append(pd.Series(best, index=slots))
    return pd.concat(chosen), pd.concat(names_chosen)


def score_bands(
    result: BacktestResult,
    test_start: pd.Timestamp,
    normaliser: float | None,
    mask: pd.Series | None = None,
) -> None:
    """Scores of every band over the test period (and `mask`), skill against the baseline."""
    tested = {}
    for key, band in result.bands.items():
        band = band[band.index >= test_start].dropna()
        if mask is not None:
            band = band[mask.reindex(band.index, fill_value=False)]
        tested[key] = band
    for (method, horizon), band in tested.items():
        observed = result.actual.reindex(band.index)
        method_mae = metrics.mae(observed, band["p50"])
        base = tested[(result.baselines[horizon], horizon)]
        base_mae = metrics.mae(result.actual.reindex(base.index), base["p50"])
        scale = normaliser if normaliser is not None else float(observed.mean())
        result.scores.append(
            Score(
                method=method,
                horizon=horizon,
                mae_kw=method_mae,
                nmae_pct=100 * method_mae / scale,
                rmse_kw=metrics.rmse(observed, band["p50"]),
                skill_pct=metrics.skill_pct(method_mae, base_mae),
                pinball_kw=metrics.mean_pinball(observed, band),
                coverage_p10_p90_pct=metrics.coverage_pct(observed, band),
            )
        )


def _timed(progress: Progress, label: str, work: Callable[[], pd.Series]) -> pd.Series:
    began = time.perf_counter()
    progress(f"{label} ...")
    out = work()
    progress(f"{label}: {time.perf_counter() - began:.1f} s")
    return out


def load_backtest(
    actual: pd.Series,
    timezone: str,
    test_start: pd.Timestamp,
    step_minutes: int = 15,
    country: str | None = None,
    horizons: tuple[str, ...] = HORIZONS,
    progress: Progress = lambda _: None,
) -> BacktestResult:
    """Every load method, rolling day-ahead from CALIBRATION_DAYS before `test_start`."""
    baselines = {"day-ahead": LOAD_BASELINE, "intraday": INTRADAY_BASELINE["load"]}
    result = BacktestResult("load", actual, baselines)
    start = test_start - pd.Timedelta(days=CALIBRATION_DAYS)
    methods = load_forecasters(timezone, step_minutes, country)
    day_ahead = {
        name: _timed(
            progress,
            f"load day-ahead {name}",
            lambda f=forecaster: rolling_day_ahead(actual, f, timezone, start),
        )
        for name, forecaster in methods.items()
    }
    day_ahead["auto"], _ = select_daily(
        {name: day_ahead[name] for name in LOAD_CANDIDATES}, actual, timezone
    )
    if "day-ahead" in horizons:
        for name, forecast in day_ahead.items():
            result.bands[(name, "day-ahead")] = calibrated_band(actual, forecast, timezone)
    if "intraday" in horizons:
        auto = day_ahead["auto"]
        step = pd.Timedelta(minutes=step_minutes)
        gain = update_gain_by_day(actual, auto, timezone, step)
        hour_ago = actual.shift(freq=pd.Timedelta(hours=1)).reindex(auto.index)
        for name, forecast in {
            "persistence": hour_ago,
            "auto_updated": intraday.hour_ahead(auto, actual, gain, step, timezone),
        }.items():
            result.bands[(name, "intraday")] = calibrated_band(actual, forecast, timezone)
    score_bands(result, test_start, None)
    return result


def pv_backtest(
    actual: pd.Series,
    clearsky_kw: pd.Series,
    timezone: str,
    test_start: pd.Timestamp,
    kwp: float,
    step_minutes: int = 15,
    horizons: tuple[str, ...] = HORIZONS,
    progress: Progress = lambda _: None,
    weather_kw: pd.Series | None = None,
) -> BacktestResult:
    """Every PV candidate at every band, scored over daylight, nMAE per kWp; `weather_kw`
    (PV from a weather forecast, NaN where it does not reach) adds the weather methods and an
    `auto_no_weather` row (what the site would choose without them)."""
    step = pd.Timedelta(minutes=step_minutes)
    series = PVSeries(actual, clearsky_kw, timezone, step, weather_kw)
    bands = [b for b in BANDS if ("day-ahead" if b.scored_at is None else "intraday") in horizons]
    baselines = {b.name: SMART_PERSISTENCE if b.scored_at is None else PERSISTENCE for b in bands}
    result = BacktestResult("pv", actual, baselines)
    start = test_start - pd.Timedelta(days=CALIBRATION_DAYS)
    levels = _timed(progress, "pv day-ahead methods", lambda: day_ahead_levels(series, start))
    for band in bands:
        forecasts = _timed(
            progress, f"pv {band.name} candidates", lambda b=band: band_forecasts(series, levels, b)
        )
        for name, forecast in forecasts.items():
            result.bands[(name, band.name)] = calibrated_pv_band(series, forecast)
        autos = {"auto": candidate_names(series.has_weather, band)}
        if series.has_weather:
            autos["auto_no_weather"] = candidate_names(False, band)
        for auto, names in autos.items():
            candidates = {name: result.bands[(name, band.name)] for name in names}
            chosen, names_chosen = select_pv_daily(series, candidates)
            result.bands[(auto, band.name)] = chosen
            result.choices[(auto, band.name)] = names_chosen
    score_bands(result, test_start, kwp, usable(clearsky_kw))
    return result


def calibrated_pv_band(series: PVSeries, forecast: pd.Series) -> pd.DataFrame:
    """P10/P90 of a PV forecast as a plan gets them (`forecasting.quantiles.adaptive_spread`):
    binned quantiles of its own relative errors (per clear-sky power) over the
    CALIBRATION_DAYS days before each day, at levels adapted to the misses of the days before;
    NaN until MIN_CALIBRATION_DAYS days are known."""
    forecast = forecast.dropna()
    if forecast.empty:
        return pd.DataFrame({"p10": forecast, "p50": forecast, "p90": forecast})
    clear = series.clearsky_kw.reindex(forecast.index)
    daylight = series.daylight(forecast.index).to_numpy()
    spans = day_spans(forecast.index, series.timezone, forecast.index[0], CALIBRATION_DAYS)
    spread = adaptive_spread(
        series.measured_kw.reindex(forecast.index).to_numpy(dtype=float),
        forecast.to_numpy(dtype=float),
        clear.to_numpy(dtype=float),
        daylight,
        local_day_codes(forecast.index, series.timezone),
        spans.windows(),
    )
    band = relative_bounds(forecast, clear.fillna(0.0), spread.low, spread.high)
    band.loc[~np.isfinite(spread.low)] = np.nan
    return band


def select_pv_daily(
    series: PVSeries, candidates: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.Series]:
    """Each day, the band of the candidate a plan would have chosen at its midnight
    (`forecasting.pv_choice.ranked` on the days before; the ensemble until candidates can be
    ranked), and the names chosen."""
    names = list(candidates)
    index = candidates[names[0]].index
    for band in candidates.values():
        index = index.union(band.index)
    measured = series.measured_kw.reindex(index)
    daylight = series.daylight(index).to_numpy()
    p50 = np.column_stack([candidates[n]["p50"].reindex(index).to_numpy() for n in names])
    abs_errors = np.abs(p50 - measured.to_numpy()[:, None])
    abs_errors[~daylight] = np.nan
    codes = local_day_codes(index, series.timezone)
    spans = day_spans(index, series.timezone, index[0], RECORD_DAYS)
    fallback = ENSEMBLE if ENSEMBLE in names else names[0]
    best_per_day = []
    for day, window in spans.windows():
        today = codes[day.start] if day.start < len(codes) else codes[-1] + 1
        order = ranked(abs_errors[window], codes[window], names, today) or [fallback]
        best_per_day.append(names.index(order[0]))
    choice = spans.stamped(np.array(best_per_day), len(index)).astype(int)
    stacked = np.stack(
        [candidates[n][["p10", "p50", "p90"]].reindex(index).to_numpy() for n in names]
    )
    chosen = pd.DataFrame(stacked[choice, np.arange(len(index))], index, ["p10", "p50", "p90"])
    return chosen, pd.Series(np.array(names)[choice], index=index)


def default_test_start(actual: pd.Series, timezone: str, kind: str) -> pd.Timestamp:
    """The first local midnight with enough history before it: the warm-up of `kind`'s
    methods, then the calibration of their P10/P90. Raises `ValueError` when the series is
    too short to score a single day."""
    known = actual.dropna()
    if known.empty:
        raise ValueError(f"no {'irradiance' if kind == 'pv' else 'load_kw'} values")
    first_day = known.index[0].tz_convert(timezone).normalize()
    test_start = first_day + pd.Timedelta(days=WARM_UP_DAYS[kind] + CALIBRATION_DAYS)
    if known[known.index >= test_start].empty:
        raise ValueError(
            f"too short: the test starts on {test_start.date()}, after {WARM_UP_DAYS[kind]} "
            f"days of warm-up and {CALIBRATION_DAYS} of calibration"
        )
    return test_start
