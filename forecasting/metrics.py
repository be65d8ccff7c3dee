"""Forecast error measures, on aligned pandas Series (NaN pairs are left out)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _aligned(actual: pd.Series, forecast: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    both = pd.concat([actual, forecast], axis=1, sort=True).dropna()
    return both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()


def mae(actual: pd.Series, forecast: pd.Series) -> float:
    a, f = _aligned(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: pd.Series, forecast: pd.Series) -> float:
    a, f = _aligned(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def skill_pct(mae_method: float, mae_baseline: float) -> float:
    """How much less error than the baseline, in % (0: as good, 100: perfect)."""
    return 100.0 * (1.0 - mae_method / mae_baseline) if mae_baseline > 0 else float("nan")


def pinball(actual: pd.Series, quantile_forecast: pd.Series, q: float) -> float:
    """Mean pinball (quantile) loss of one quantile forecast."""
    a, f = _aligned(actual, quantile_forecast)
    diff = a - f
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def mean_pinball(actual: pd.Series, band: pd.DataFrame) -> float:
    """Pinball loss averaged over the band's p10, p50 and p90 columns."""
    return float(np.mean([pinball(actual, band[f"p{int(q * 100)}"], q) for q in (0.1, 0.5, 0.9)]))


def coverage_pct(actual: pd.Series, band: pd.DataFrame) -> float:
    """Share of actual values inside [p10, p90], in %."""
    both = pd.concat([actual.rename("actual"), band[["p10", "p90"]]], axis=1, sort=True).dropna()
    inside = (both.actual >= both.p10 - 1e-9) & (both.actual <= both.p90 + 1e-9)
    return 100.0 * float(inside.mean()) if len(both) else float("nan")
