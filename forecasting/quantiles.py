"""Forecast uncertainty as quantiles, calibrated on the site's own recent errors."""

from __future__ import annotations

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
