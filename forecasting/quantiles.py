"""Forecast uncertainty as quantiles, calibrated on the site's own recent errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

QUANTILES = (0.1, 0.5, 0.9)
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


def relative_band(
    p50: pd.Series, scale: pd.Series, relative_quantiles: tuple[float, float]
) -> pd.DataFrame:
    """P10/P90 as the P50 plus quantiles of errors measured in units of `scale` (PV: its
    clear-sky power), never below zero."""
    low, high = min(relative_quantiles[0], 0.0), max(relative_quantiles[1], 0.0)
    band = pd.DataFrame({"p10": p50 + low * scale, "p50": p50, "p90": p50 + high * scale})
    return band.clip(lower=0.0)
