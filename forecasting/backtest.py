"""Rolling-origin backtests: day-ahead (issued at local midnight for the next local day) and
1 h ahead (each slot from the measurements up to the slot one hour before it), with P10/P90
bands calibrated on each method's own errors of the days before.

PV errors are measured over daylight and normalised by kWp; load errors by the mean load of
the slots scored. Day-ahead load is also scored as `auto`: on each day the candidate with the
least error over the previous two weeks, which is what a plan of the site uses.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smartcharge.forecasting import intraday, metrics
from smartcharge.forecasting.clearsky_index import CLIMATOLOGICAL_INDEX, clearsky_index, usable
from smartcharge.forecasting.methods import (
    LOAD_BASELINE,
    LOAD_CANDIDATES,
    PV_BASELINE,
    Forecaster,
    ensemble_pv_quantiles,
    load_forecasters,
    pv_forecasters,
    stateless,
)
from smartcharge.forecasting.quantiles import RECENT_DAYS, error_quantiles

CALIBRATION_DAYS = RECENT_DAYS  # errors of this many days before a forecast set its P10/P90
SELECTION_DAYS = RECENT_DAYS  # the `auto` method: least error over this many days before
HORIZONS = ("day-ahead", "intraday")
INTRADAY_BASELINE = {"pv": "csi_persistence", "load": "persistence"}

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

    def best(self, horizon: str) -> str:
        scored = [s for s in self.scores if s.horizon == horizon]
        return min(scored, key=lambda s: s.mae_kw).method


def local_days(
    index: pd.DatetimeIndex, timezone: str, start: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of each local calendar day from `start` to the end of `index`: a DST day
    is 23 or 25 hours long, not 24."""
    bounds = pd.date_range(
        start.tz_convert(timezone).normalize(),
        index[-1].tz_convert(timezone).normalize() + pd.DateOffset(days=1),
        freq="D",
    )
    return list(itertools.pairwise(bounds))


def rolling_day_ahead(
    actual: pd.Series, forecaster: Forecaster, timezone: str, start: pd.Timestamp
) -> pd.Series:
    """Each local day from `start` forecast at the midnight before it from what was measured
    before; the forecaster refits every `refit_days` days."""
    out, state, fitted_on = [], None, None
    for day, next_day in local_days(actual.index, timezone, start):
        times = actual.index[(actual.index >= day) & (actual.index < next_day)]
        past = actual[actual.index < day]
        if times.empty or past.dropna().empty:
            continue
        if fitted_on is None or (day.date() - fitted_on.date()).days >= forecaster.refit_days:
            try:
                state, fitted_on = forecaster.fit(past), day
            except ValueError:  # not enough history yet for this method
                continue
        out.append(forecaster.predict(state, past, times))
    return pd.concat(out) if out else pd.Series(dtype=float)


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
) -> BacktestResult:
    """Every PV method (no weather input), scored over daylight, nMAE per kWp."""
    baselines = {"day-ahead": PV_BASELINE, "intraday": INTRADAY_BASELINE["pv"]}
    result = BacktestResult("pv", actual, baselines)
    start = test_start - pd.Timedelta(days=CALIBRATION_DAYS)
    daylight = usable(clearsky_kw)
    methods = pv_forecasters(clearsky_kw, timezone, step_minutes)
    step = pd.Timedelta(minutes=step_minutes)

    def band(forecast: pd.Series) -> pd.DataFrame:
        return calibrated_band(actual, forecast, timezone, clearsky_kw, daylight)

    if "day-ahead" in horizons:
        for name, forecaster in methods.items():
            forecast = _timed(
                progress,
                f"pv day-ahead {name}",
                lambda f=forecaster: rolling_day_ahead(actual, f, timezone, start),
            )
            result.bands[(name, "day-ahead")] = band(forecast)
    if "intraday" in horizons:
        level_only = stateless(
            "csi_ensemble_level",
            lambda h, t: ensemble_pv_quantiles(h, t, clearsky_kw, step, timezone, update=False)[
                "p50"
            ],
        )
        level = rolling_day_ahead(actual, level_only, timezone, start)
        daylight_clearsky_kw = clearsky_kw.where(daylight)
        gain = update_gain_by_day(actual, level, timezone, step, daylight_clearsky_kw)
        index_hour_ago = clearsky_index(actual, clearsky_kw).shift(freq=pd.Timedelta(hours=1))
        persistence = clearsky_kw.reindex(level.index) * index_hour_ago.reindex(level.index).fillna(
            CLIMATOLOGICAL_INDEX
        )
        ensemble = intraday.hour_ahead(level, actual, gain, step, timezone, daylight_clearsky_kw)
        result.bands[("csi_persistence", "intraday")] = band(persistence)
        result.bands[("csi_ensemble", "intraday")] = band(ensemble.clip(lower=0.0))
    score_bands(result, test_start, kwp, daylight)
    return result
