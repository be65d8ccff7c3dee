"""Fill a problem's null `base_load_kw` / `pv_kw` with forecasts (SPEC §1, Forecasts).

`options.risk` chooses which quantile the hard limits are planned against: "p50" plans against
the median, "p90" against the P90 base load and the P10 PV, so that a bad forecast does not
break the connection limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.clearsky_index import CLIMATOLOGICAL_INDEX, daily_index, mean_recent_index
from forecasting.load import (
    clean_history,
    profile_forecast,
    seasonal_naive,
    smoothed_blend_forecast,
)
from forecasting.pv import clearsky_pv_kw
from forecasting.quantiles import backtest_residuals, quantile_band
from optimizer.problem import Location, Problem

# Spread of the daily clear-sky index without measurements (a changeable central-European day).
CLIMATOLOGICAL_INDEX_BAND = (0.2, 1.0)


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
) -> ResolvedForecasts:
    times = horizon_times(problem)
    result = ResolvedForecasts(np.zeros(len(times)), np.zeros(len(times)))
    pessimistic = problem.options.risk == "p90"

    if problem.base_load_kw is not None:
        result.base_load_kw = _given(problem.base_load_kw, len(times))
    elif load_history_kw is None or load_history_kw.dropna().empty:
        result.warnings.append(
            f"no base-load history for site {problem.site.id}: base load taken as 0 kW"
        )
    else:
        band = load_quantiles(
            load_history_kw, times, problem.site.timezone, problem.horizon.step_minutes
        )
        result.quantiles["base_load"] = band
        result.base_load_kw = band["p90" if pessimistic else "p50"].to_numpy()

    if problem.pv_kw is not None:
        result.pv_kw = _given(problem.pv_kw, len(times))
    elif problem.site.pv:
        location = problem.site.location or Location(latitude=0.0, longitude=0.0)
        if problem.site.location is None:
            result.warnings.append("site has PV but no location: PV forecast at 0 N, 0 E")
        band = pv_quantiles(pv_history_kw, times, location, problem)
        if pv_history_kw is None:
            result.warnings.append(
                f"no PV measurements for site {problem.site.id}: clear sky x a climatological "
                f"clear-sky index of {CLIMATOLOGICAL_INDEX}"
            )
        result.quantiles["pv"] = band
        result.pv_kw = band["p10" if pessimistic else "p50"].to_numpy()
    return result


def load_quantiles(
    history_kw: pd.Series, times: pd.DatetimeIndex, timezone: str, step_minutes: int
) -> pd.DataFrame:
    """The band of the method with the least error on this site's own last two weeks."""
    history = clean_history(history_kw, f"{step_minutes}min")
    candidates = {
        "yesterday": lambda past, when: seasonal_naive(past, when, "1D"),
        "profile": lambda past, when: profile_forecast(past, when, timezone),
        "smoothed_blend": smoothed_blend_forecast,
    }
    residuals = {name: backtest_residuals(history, f) for name, f in candidates.items()}
    scored = {name: r.abs().mean() for name, r in residuals.items() if not r.empty}
    best = min(scored, key=scored.get) if scored else "profile"
    p50 = candidates[best](history, times).fillna(history.tail(96).mean())
    band = quantile_band(p50, residuals.get(best, pd.Series(dtype=float)), floor=None)
    band.attrs["method"] = best
    return band


def pv_quantiles(
    pv_history_kw: pd.Series | None, times: pd.DatetimeIndex, location: Location, problem: Problem
) -> pd.DataFrame:
    clear = clearsky_pv_kw(times, location, problem.site.pv)
    if pv_history_kw is None or pv_history_kw.dropna().empty:
        low, mid, high = (
            *CLIMATOLOGICAL_INDEX_BAND[:1],
            CLIMATOLOGICAL_INDEX,
            CLIMATOLOGICAL_INDEX_BAND[1],
        )
    else:
        measured = pv_history_kw.dropna()
        history_clear = clearsky_pv_kw(measured.index, location, problem.site.pv)
        days = daily_index(measured, history_clear).dropna().tail(30)
        mid = mean_recent_index(measured, history_clear)
        low = float(np.quantile(days, 0.1)) if len(days) >= 3 else CLIMATOLOGICAL_INDEX_BAND[0]
        high = float(np.quantile(days, 0.9)) if len(days) >= 3 else CLIMATOLOGICAL_INDEX_BAND[1]
    return pd.DataFrame(
        {"p10": clear * min(low, mid), "p50": clear * mid, "p90": clear * max(high, mid)}
    )


def _given(value: float | list[float], slots: int) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    return np.full(slots, float(array)) if array.ndim == 0 else array
