"""A weather-driven PV forecast corrected by the site's own errors (model output statistics).

A site's measured PV differs from pvlib's chain on a weather forecast in ways that repeat: the
provider's clouds are too thin or too thick, its irradiance smoothed (a grid cell, an hour),
the array shaded in the morning, its tilt or azimuth declared wrong, the inverter other than
modelled. In clear-sky-index units (power / the array's clear-sky power) the measured index y
is regressed on the forecast index x, y ≈ a + b·x, separately in each fifth of the array's
clear-sky day (the share of its clear-sky energy reached by the slot: morning shade and a wrong
azimuth show as a bias by time of day, whatever the season or time zone). Least absolute
deviations, each slot weighted by its clear-sky power: the median is what a plan scored by
absolute error wants, and one odd day does not pull it. Each fifth's fit is shrunk towards the
fit of the whole day with the weight of a week of data, so a fifth with few days leans on the
whole; fewer than MIN_CALIBRATION_DAYS days of pairs: no correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting.clearsky_index import MAX_INDEX, usable
from smartcharge.forecasting.quantiles import MIN_CALIBRATION_DAYS

CORRECTION_DAYS = 28  # the errors a correction learns from
DAY_PARTS = 5  # fifths of the array's clear-sky day
PRIOR_DAYS = 7.0  # the whole day's fit counts as this many days of a part's own
IRLS_ITERATIONS = 20
SLOPE_RANGE = (0.0, 2.0)


@dataclass(frozen=True)
class Correction:
    """y = intercept[part] + slope[part] · x, in clear-sky-index units."""

    intercept: np.ndarray
    slope: np.ndarray


def day_part(clearsky_kw: pd.Series, timezone: str) -> pd.Series:
    """Which fifth of its local day's clear-sky energy each slot's midpoint falls in (0-4)."""
    days = clearsky_kw.index.tz_convert(timezone).normalize()
    total = clearsky_kw.groupby(days).transform("sum")
    reached = clearsky_kw.groupby(days).cumsum() - clearsky_kw / 2
    share = (reached / total).where(total > 0).fillna(0.0)
    return np.minimum((share * DAY_PARTS).astype(int), DAY_PARTS - 1)


@dataclass(frozen=True)
class CorrectionPairs:
    """Daylight slots with a measurement and a forecast, as arrays: forecast and measured
    index, weight (clear-sky power), part of the day and local day."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    part: np.ndarray
    day: np.ndarray

    def between(self, first: int, end: int) -> CorrectionPairs:
        return CorrectionPairs(
            *(a[first:end] for a in (self.x, self.y, self.weight, self.part, self.day))
        )


def correction_pairs(
    measured_kw: pd.Series, forecast_kw: pd.Series, clearsky_kw: pd.Series, timezone: str
) -> CorrectionPairs:
    clear = clearsky_kw.reindex(measured_kw.index)
    x = (forecast_kw.reindex(measured_kw.index) / clear).clip(0.0, MAX_INDEX)
    y = (measured_kw / clear).clip(0.0, MAX_INDEX)
    keep = usable(clearsky_kw).reindex(measured_kw.index, fill_value=False) & x.notna() & y.notna()
    times = measured_kw.index[keep]
    local = times.tz_convert(timezone).tz_localize(None).normalize()
    return CorrectionPairs(
        x[keep].to_numpy(),
        y[keep].to_numpy(),
        clear[keep].to_numpy(),
        day_part(clearsky_kw, timezone).reindex(times).to_numpy(dtype=int),
        local.as_unit("ns").asi8,
    )


def fit_correction(pairs: CorrectionPairs) -> Correction | None:
    """The correction learnt from `pairs` (None: under MIN_CALIBRATION_DAYS local days)."""
    if np.unique(pairs.day).size < MIN_CALIBRATION_DAYS:
        return None
    whole = _lad_line(pairs.x, pairs.y, pairs.weight)
    intercept, slope = np.full(DAY_PARTS, whole[0]), np.full(DAY_PARTS, whole[1])
    for p in range(DAY_PARTS):
        inside = pairs.part == p
        part_days = np.unique(pairs.day[inside]).size
        if part_days == 0:
            continue
        own = _lad_line(pairs.x[inside], pairs.y[inside], pairs.weight[inside])
        share = part_days / (part_days + PRIOR_DAYS)
        intercept[p] = share * own[0] + (1 - share) * whole[0]
        slope[p] = share * own[1] + (1 - share) * whole[1]
    return Correction(intercept, slope)


def corrected(
    correction: Correction | None,
    forecast_kw: pd.Series,
    clearsky_kw: pd.Series,
    parts: pd.Series,
) -> pd.Series:
    """`forecast_kw` corrected (as it is without a correction); NaN where it is NaN. `parts`:
    `day_part` of the clear sky on (at least) the forecast's times."""
    if correction is None:
        return forecast_kw
    clear = clearsky_kw.reindex(forecast_kw.index)
    x = (forecast_kw / clear).where(clear > 0).clip(0.0, MAX_INDEX)
    part = parts.reindex(forecast_kw.index).fillna(0).to_numpy(dtype=int)
    index = correction.intercept[part] + correction.slope[part] * x
    power = (clear * index.clip(0.0, MAX_INDEX)).where(clear > 0, 0.0)
    return power.where(forecast_kw.notna())


def _lad_line(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(a, b) of y ≈ a + b·x with the least weighted absolute error (iteratively reweighted
    least squares), the slope kept in SLOPE_RANGE."""
    design = np.column_stack([np.ones_like(x), x])
    w = weight.copy()
    coefficients = np.array([0.0, 1.0])
    for _ in range(IRLS_ITERATIONS):
        gram = design.T @ (design * w[:, None])
        if np.linalg.cond(gram) > 1e10:  # x barely varies: a shift only
            shift = _weighted_median(y - x, weight)
            return shift, 1.0
        coefficients = np.linalg.solve(gram, design.T @ (w * y))
        residual = np.abs(y - design @ coefficients)
        w = weight / np.maximum(residual, 1e-3)
    slope = float(np.clip(coefficients[1], *SLOPE_RANGE))
    if slope != coefficients[1]:
        return _weighted_median(y - slope * x, weight), slope
    return float(coefficients[0]), slope


def _weighted_median(values: np.ndarray, weight: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weight[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
