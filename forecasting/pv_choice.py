"""Which PV method a site uses at each lead-time band: chosen at each local midnight by the
site's own backtest.

Every candidate of `forecasting.pv_candidates` is scored by its mean absolute error (kW, over
daylight) on the site's last SELECTION_DAYS days, each day forecast as it would have been. The
two-week winner replaces the winner of the site's longer record (RECORD_DAYS) only when its
lead over those two weeks is larger than their noise: a paired t statistic of the daily errors
above SIGNIFICANCE_T. Two weeks of PV errors are a handful of weather spells, and a switch on
noise costs more than it saves (on the shipped climates, choosing the plain two-week winner
lost 1–4 % of the error the better candidate saves; see BENCHMARKS.md). A candidate scored on
fewer than MIN_CALIBRATION_DAYS days (a weather forecast stored only lately) is left out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting.pv_candidates import (
    BANDS,
    SMART_PERSISTENCE,
    UPDATED,
    LeadBand,
    PVSeries,
    UpdateFit,
    band_forecasts,
    candidate_names,
    day_ahead_levels,
    local_day_codes,
    update_inputs,
)
from smartcharge.forecasting.quantiles import (
    MIN_CALIBRATION_DAYS,
    RECENT_DAYS,
    BinnedQuantiles,
    adaptive_spread,
)
from smartcharge.forecasting.rolling import day_spans
from smartcharge.forecasting.weather_correction import (
    CORRECTION_DAYS,
    Correction,
    correction_pairs,
    fit_correction,
)

SELECTION_DAYS = RECENT_DAYS
RECORD_DAYS = 42
SIGNIFICANCE_T = 2.0
CACHED_CHOICES = 1024  # sites whose daily PV choice is remembered
# The history a choice reads: the record scored, and the two weeks its first day's update
# gains and spreads are fitted on.
CHOICE_HISTORY_DAYS = RECORD_DAYS + SELECTION_DAYS


def ranked(
    abs_errors_kw: np.ndarray, day_codes: np.ndarray, names: list[str], today: int
) -> list[str]:
    """Candidates (columns of `abs_errors_kw`, NaN where not forecast or not scored) best
    first for the local day `today` (a `local_day_codes` value), from the rows of the
    RECORD_DAYS days before it; ties keep the order of `names`. Empty: none can be scored."""
    short = day_codes >= today - SELECTION_DAYS
    known = np.isfinite(abs_errors_kw)
    days_known = [np.unique(day_codes[short & known[:, c]]).size for c in range(len(names))]
    eligible = np.flatnonzero(np.array(days_known) >= MIN_CALIBRATION_DAYS)
    if eligible.size == 0:
        return []
    errors = abs_errors_kw[:, eligible]
    common = np.isfinite(errors).all(axis=1)
    if not (common & short).any():
        return []
    short_order = eligible[np.argsort(errors[common & short].mean(axis=0), kind="stable")]
    record_order = eligible[np.argsort(errors[common].mean(axis=0), kind="stable")]
    winner = short_order[0]
    incumbent = record_order[0]
    if winner != incumbent and not _significantly_better(
        abs_errors_kw[common & short], day_codes[common & short], winner, incumbent
    ):
        winner = incumbent
    order = [winner, *(c for c in short_order if c != winner)]
    return [names[c] for c in order]


def _significantly_better(
    abs_errors_kw: np.ndarray, day_codes: np.ndarray, challenger: int, incumbent: int
) -> bool:
    """Whether the challenger's daily mean errors are below the incumbent's by more than
    SIGNIFICANCE_T standard errors of their mean difference."""
    days, position = np.unique(day_codes, return_inverse=True)
    if days.size < MIN_CALIBRATION_DAYS:
        return False
    count = np.bincount(position)
    saved = np.bincount(
        position, abs_errors_kw[:, incumbent] - abs_errors_kw[:, challenger]
    ) / np.maximum(count, 1)
    spread = saved.std(ddof=1)
    if spread == 0:
        return bool(saved.mean() > 0)
    return bool(saved.mean() / (spread / np.sqrt(days.size)) > SIGNIFICANCE_T)


@dataclass(frozen=True)
class CandidateState:
    """What a candidate carries into a plan: its update (the `_updated` ones) and its P10/P90
    for the next day (None: too few days of errors)."""

    update: UpdateFit | None
    spread: BinnedQuantiles | None


@dataclass(frozen=True)
class BandChoice:
    ranking: tuple[str, ...]  # best first; a slot a method cannot forecast gets the next
    states: dict[str, CandidateState]


@dataclass(frozen=True)
class PVChoice:
    """A site's PV methods for a local day, decided at its midnight."""

    bands: dict[str, BandChoice]
    correction: Correction | None


def choose_pv_methods(series: PVSeries, midnight: pd.Timestamp) -> PVChoice:
    """Every candidate scored on the RECORD_DAYS before `midnight` (`series` holds what was
    measured before it), ranked per band; their updates, spreads and the weather correction
    fitted on the days before."""
    measured = series.measured_kw.dropna()
    correction = None
    if series.has_weather:
        since = midnight - pd.DateOffset(days=CORRECTION_DAYS)
        recent = series.measured_kw[series.measured_kw.index >= since]
        correction = fit_correction(
            correction_pairs(recent, series.weather_kw, series.clearsky_kw, series.timezone)
        )
    if measured.empty:
        return PVChoice({b.name: BandChoice((), {}) for b in BANDS}, correction)
    first_day = measured.index[0].tz_convert(series.timezone).normalize()
    start = max(first_day, midnight - pd.Timedelta(days=CHOICE_HISTORY_DAYS))
    levels = day_ahead_levels(series, start)
    bands = {b.name: _band_choice(series, levels, b, midnight) for b in BANDS}
    return PVChoice(bands, correction)


def _band_choice(
    series: PVSeries, levels: dict[str, pd.Series], band: LeadBand, midnight: pd.Timestamp
) -> BandChoice:
    forecasts = band_forecasts(series, levels, band)
    names = [n for n in candidate_names(series.has_weather, band) if n in forecasts]
    index = levels[SMART_PERSISTENCE].index
    if index.empty:
        return BandChoice((), {})
    measured = series.measured_kw.reindex(index).to_numpy()
    daylight = series.daylight(index).to_numpy()
    codes = local_day_codes(index, series.timezone)
    today = int(local_day_codes(pd.DatetimeIndex([midnight]), series.timezone)[0])
    p50 = np.column_stack([forecasts[n].reindex(index).to_numpy() for n in names])
    abs_errors = np.abs(p50 - measured[:, None])
    abs_errors[~daylight] = np.nan
    record = codes >= today - RECORD_DAYS
    ranking = ranked(abs_errors[record], codes[record], names, today)
    spans = day_spans(index, series.timezone, index[0], SELECTION_DAYS)
    recent = slice(int(np.searchsorted(codes, today - SELECTION_DAYS)), len(index))
    clear = series.clearsky_kw.reindex(index).to_numpy(dtype=float)
    states = {}
    for name in ranking:
        spread = adaptive_spread(
            measured,
            p50[:, names.index(name)],
            clear,
            daylight,
            codes,
            spans.windows(),
        ).next_day
        update = None
        if name.endswith(UPDATED) and band.scored_at is not None:
            inputs = update_inputs(series, levels[name.removesuffix(UPDATED)], band.scored_at)
            update = inputs.fit(recent)[0]
        states[name] = CandidateState(update, spread)
    return BandChoice(tuple(ranking), states)


_daily_choices: OrderedDict[tuple, PVChoice] = OrderedDict()


def cached_choice(series: PVSeries, midnight: pd.Timestamp, key: tuple) -> PVChoice:
    """choose_pv_methods, remembered for the day (a site re-plans many times a day; a
    corrected meter value or a new weather forecast for the past changes the key)."""
    # The choice reads the clear sky and the weather only at the measured times.
    index = series.measured_kw.index
    parts = [series.measured_kw, series.clearsky_kw.reindex(index)]
    if series.weather_kw is not None:
        parts.append(series.weather_kw.reindex(index))
    digest = tuple(int(pd.util.hash_pandas_object(p, index=True).sum()) for p in parts)
    key = (*key, midnight, digest)
    if key not in _daily_choices:
        _daily_choices[key] = choose_pv_methods(series, midnight)
        while len(_daily_choices) > CACHED_CHOICES:
            _daily_choices.popitem(last=False)
    _daily_choices.move_to_end(key)
    return _daily_choices[key]
