"""Forecast uncertainty as quantiles, calibrated on the site's own recent errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

QUANTILES = (0.1, 0.5, 0.9)
# A site's recent errors: the last two weeks set a forecast's P10/P90 (and choose its method),
# and a band needs errors of at least three days.
RECENT_DAYS = 14
MIN_CALIBRATION_DAYS = 3
# P10/P90 either side of a forecast with no errors to learn from, as a share of the forecast.
UNCALIBRATED_SPREAD = 0.2


def quantile_band(p50: pd.Series, residuals: pd.Series, floor: float | None = 0.0) -> pd.DataFrame:
    """P10/P50/P90 columns: the P50 plus the empirical 10 % and 90 % residuals."""
    if residuals.empty:
        low, high = -UNCALIBRATED_SPREAD * p50.abs(), UNCALIBRATED_SPREAD * p50.abs()
    else:
        low, high = np.quantile(residuals, QUANTILES[0]), np.quantile(residuals, QUANTILES[-1])
    band = pd.DataFrame(
        {"p10": p50 + np.minimum(low, 0), "p50": p50, "p90": p50 + np.maximum(high, 0)}
    )
    return band.clip(lower=floor) if floor is not None else band


def error_quantiles(errors: pd.Series, timezone: str) -> tuple[float, float] | None:
    """The 10 % and 90 % quantiles of `errors`; None if they span under MIN_CALIBRATION_DAYS
    local days."""
    errors = errors.dropna()
    if errors.index.tz_convert(timezone).normalize().nunique() < MIN_CALIBRATION_DAYS:
        return None
    low, high = np.quantile(errors, (QUANTILES[0], QUANTILES[-1]))
    return float(low), float(high)


def relative_band(
    p50: pd.Series, scale: pd.Series, relative_quantiles: tuple[float, float]
) -> pd.DataFrame:
    """P10/P90 as the P50 plus quantiles of errors measured in units of `scale` (PV: its
    clear-sky power), never below zero."""
    low, high = min(relative_quantiles[0], 0.0), max(relative_quantiles[1], 0.0)
    band = pd.DataFrame({"p10": p50 + low * scale, "p50": p50, "p90": p50 + high * scale})
    return band.clip(lower=0.0)


# PV errors depend on the sky the forecast expects: a clear forecast can only be too high, an
# overcast one too low, a broken one either way. Errors are binned by the forecast's clear-sky
# index at these edges; a bin with too few errors borrows the quantiles of all of them.
INDEX_BIN_EDGES = (0.4, 0.8)
MIN_BIN_ERRORS = 30
# Adaptive conformal inference (Gibbs & Candès 2021): after each day, each tail's quantile
# level moves by ADAPT_RATE × (its target share − the share of the day's slots it missed), so
# a band that missed too often widens and one that missed too rarely narrows, whatever the
# climate. Levels stay within LEVEL_RANGE.
ADAPT_RATE = 0.02
LEVEL_RANGE = (0.005, 0.5)


@dataclass(frozen=True)
class BinnedQuantiles:
    """Quantiles of relative errors, one (low, high) per bin of the forecast clear-sky index."""

    low: np.ndarray
    high: np.ndarray

    def band(self, p50: pd.Series, scale: pd.Series) -> pd.DataFrame:
        """P10/P90 as the P50 plus the quantiles of its bin in units of `scale` (PV: each
        slot's clear-sky power), never below zero nor past the P50."""
        low, high = self.at((p50 / scale).where(scale > 0).to_numpy())
        return relative_bounds(p50, scale, low, high)

    def at(self, forecast_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bins = index_bins(forecast_index)
        return self.low[bins], self.high[bins]


def relative_bounds(
    p50: pd.Series, scale: pd.Series, low: np.ndarray, high: np.ndarray
) -> pd.DataFrame:
    """P10/P50/P90 columns: the P50 plus `low` / `high` (relative errors) × `scale`."""
    p10, p90 = _bounds(p50.to_numpy(dtype=float), scale.to_numpy(dtype=float), low, high)
    return pd.DataFrame({"p10": p10, "p50": p50.clip(lower=0.0), "p90": p90}, index=p50.index)


def _bounds(
    p50: np.ndarray, scale: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P10 and P90 from relative bounds that never narrow past the P50, never below zero."""
    p10 = np.maximum(p50 + np.minimum(low, 0.0) * scale, 0.0)
    p90 = np.maximum(p50 + np.maximum(high, 0.0) * scale, 0.0)
    return p10, p90


def index_bins(forecast_index: np.ndarray) -> np.ndarray:
    return np.digitize(np.nan_to_num(forecast_index, nan=0.0), INDEX_BIN_EDGES)


def binned_error_quantiles(
    errors: np.ndarray,
    forecast_index: np.ndarray,
    levels: tuple[float, float] = (QUANTILES[0], QUANTILES[-1]),
) -> BinnedQuantiles | None:
    """The `levels` quantiles of `errors` per bin of `forecast_index` (None: no errors)."""
    keep = np.isfinite(errors) & np.isfinite(forecast_index)
    errors, bins = errors[keep], index_bins(forecast_index[keep])
    if errors.size == 0:
        return None
    pooled = np.quantile(errors, levels)
    count = len(INDEX_BIN_EDGES) + 1
    low, high = np.full(count, pooled[0]), np.full(count, pooled[1])
    for b in range(count):
        inside = errors[bins == b]
        if inside.size >= MIN_BIN_ERRORS:
            low[b], high[b] = np.quantile(inside, levels)
    return BinnedQuantiles(low, high)


@dataclass
class AdaptiveSpread:
    """A forecast's P10/P90 through a run of days: the relative bounds each day got, and the
    quantiles (at the adapted levels, from the last window) for the day after the run."""

    low: np.ndarray
    high: np.ndarray
    next_day: BinnedQuantiles | None
    levels: tuple[float, float]


def adaptive_spread(
    actual_kw: np.ndarray,
    p50_kw: np.ndarray,
    scale_kw: np.ndarray,
    scored: np.ndarray,
    day_codes: np.ndarray,
    windows: list[tuple[slice, slice]],
    calibration_days: int = RECENT_DAYS,
) -> AdaptiveSpread:
    """Each day (`windows`: its slots and the slots of the days before it), bounds from the
    binned quantiles of the errors in units of `scale` over its window at the current levels
    (none until MIN_CALIBRATION_DAYS days), then the levels adapted to the day's misses. Only
    the `scored` slots (daylight) count as errors."""
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(scored, (actual_kw - p50_kw) / scale_kw, np.nan)
        index = np.where(scale_kw > 0, p50_kw / scale_kw, np.nan)
    low, high = np.full(len(p50_kw), np.nan), np.full(len(p50_kw), np.nan)
    levels = [QUANTILES[0], QUANTILES[-1]]

    def fitted(window: slice) -> BinnedQuantiles | None:
        known = np.isfinite(errors[window])
        if np.unique(day_codes[window][known]).size < MIN_CALIBRATION_DAYS:
            return None
        return binned_error_quantiles(errors[window], index[window], tuple(levels))

    for day, window in windows:
        quantiles = fitted(window)
        if quantiles is None:
            continue
        low[day], high[day] = quantiles.at(index[day])
        scored = np.isfinite(errors[day])
        if scored.any():
            p10, p90 = _bounds(
                p50_kw[day][scored], scale_kw[day][scored], low[day][scored], high[day][scored]
            )
            actual = actual_kw[day][scored]
            missed_low = np.mean(actual < p10 - 1e-9)
            missed_high = np.mean(actual > p90 + 1e-9)
            # Missed more than its share: the tail's quantile moves outwards.
            levels[0] -= ADAPT_RATE * (missed_low - QUANTILES[0])
            levels[1] += ADAPT_RATE * (missed_high - (1 - QUANTILES[-1]))
            levels[0] = float(np.clip(levels[0], *LEVEL_RANGE))
            levels[1] = float(np.clip(levels[1], 1 - LEVEL_RANGE[1], 1 - LEVEL_RANGE[0]))
    last = day_codes[np.isfinite(errors)].max() if np.isfinite(errors).any() else None
    next_day = None
    if last is not None:
        recent = np.flatnonzero(day_codes > last - calibration_days)
        if recent.size:
            next_day = fitted(slice(recent[0], len(errors)))
    return AdaptiveSpread(low, high, next_day, (levels[0], levels[1]))
