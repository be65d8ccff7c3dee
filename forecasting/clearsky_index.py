"""The clear-sky index: measured PV / clear-sky PV, and forecasts that carry it forward."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Below this share of the array's clear-sky power the index is noise (dawn, dusk).
MIN_CLEARSKY_SHARE = 0.05
# A climatological index when nothing is measured yet (central-European annual mean).
CLIMATOLOGICAL_INDEX = 0.6


def clearsky_index(measured_kw: pd.Series, clearsky_kw: pd.Series) -> pd.Series:
    """measured / clear sky where the clear sky is worth dividing by; NaN elsewhere."""
    clear = clearsky_kw.reindex(measured_kw.index)
    usable = clear > MIN_CLEARSKY_SHARE * clear.max()
    return (measured_kw / clear).where(usable).clip(0.0, 1.5)


def daily_index(measured_kw: pd.Series, clearsky_kw: pd.Series) -> pd.Series:
    """One index per local day: measured energy / clear-sky energy over daylight."""
    clear = clearsky_kw.reindex(measured_kw.index)
    usable = clear > MIN_CLEARSKY_SHARE * clear.max()
    measured_day = measured_kw.where(usable).resample("D").sum(min_count=1)
    clear_day = clear.where(usable).resample("D").sum(min_count=1)
    return (measured_day / clear_day).clip(0.0, 1.5)


def mean_recent_index(measured_kw: pd.Series, clearsky_kw: pd.Series, days: int = 7) -> float:
    """The energy-weighted clear-sky index of the last `days` days (climatology if none)."""
    if measured_kw.dropna().empty:
        return CLIMATOLOGICAL_INDEX
    start = measured_kw.index.max() - pd.Timedelta(days=days)
    recent = measured_kw[measured_kw.index > start]
    clear = clearsky_kw.reindex(recent.index)
    usable = clear > MIN_CLEARSKY_SHARE * clear.max()
    energy = clear.where(usable).sum()
    return (
        float(np.clip(recent.where(usable).sum() / energy, 0.0, 1.5))
        if energy > 0
        else (CLIMATOLOGICAL_INDEX)
    )
