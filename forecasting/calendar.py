"""A site's local calendar: days and slots of day in its time zone, and day types.

Load follows the wall clock, so history is arranged as a matrix of local days × slots of day.
A DST day simply has 4 quarter-hours missing (spring, 92) or two instants sharing one local
slot (autumn, 100: averaged), so every row still lines up with the rows before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from smartcharge.forecasting.timeseries import require_aware

SUNDAY = 6


def slots_per_day(step_minutes: int) -> int:
    return math.ceil(24 * 60 / step_minutes)


def local_day_and_slot(
    times: pd.DatetimeIndex, timezone: str, step_minutes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each instant's local calendar day (datetime64[D]) and slot of the local day."""
    local = require_aware(times).tz_convert(timezone)
    days = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    slots = (local.hour * 60 + local.minute).to_numpy() // step_minutes
    return days, slots


@dataclass(frozen=True)
class DayMatrix:
    """Values on consecutive local days (rows) × slots of day (columns); NaN where unknown."""

    first_day: np.datetime64
    values: np.ndarray
    timezone: str
    step_minutes: int

    @property
    def days(self) -> np.ndarray:
        return self.first_day + np.arange(len(self.values)).astype("timedelta64[D]")

    def rows_of(self, days: np.ndarray) -> np.ndarray:
        return (days - self.first_day).astype(int)

    def extended_to(self, last_day: np.datetime64) -> DayMatrix:
        """The same matrix with NaN rows appended up to `last_day` (days to forecast)."""
        missing = int((last_day - self.days[-1]).astype(int))
        if missing <= 0:
            return self
        pad = np.full((missing, self.values.shape[1]), np.nan)
        return DayMatrix(
            self.first_day, np.vstack([self.values, pad]), self.timezone, self.step_minutes
        )

    def at(self, times: pd.DatetimeIndex) -> np.ndarray:
        """The matrix's value at each instant (NaN outside the matrix)."""
        days, slots = local_day_and_slot(times, self.timezone, self.step_minutes)
        rows = self.rows_of(days)
        inside = (rows >= 0) & (rows < len(self.values))
        out = np.full(len(times), np.nan)
        out[inside] = self.values[rows[inside], slots[inside]]
        return out


def day_matrix(series: pd.Series, timezone: str, step_minutes: int) -> DayMatrix:
    """`series` (tz-aware, any order, duplicates allowed) as local days × slots of day."""
    series = series.dropna()
    if series.empty:
        raise ValueError("no measured values to learn from")
    days, slots = local_day_and_slot(pd.DatetimeIndex(series.index), timezone, step_minutes)
    first = days.min()
    rows = (days - first).astype(int)
    width = slots_per_day(step_minutes)
    total = np.zeros((rows.max() + 1, width))
    count = np.zeros_like(total)
    np.add.at(total, (rows, slots), series.to_numpy(dtype=float))
    np.add.at(count, (rows, slots), 1.0)
    with np.errstate(invalid="ignore"):
        values = total / count
    return DayMatrix(first, values, timezone, step_minutes)


@cache
def _zone_countries() -> dict[str, str]:
    """IANA zone -> ISO 3166 country code, from the zone.tab that tzdata ships."""
    try:
        text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        path = Path("/usr/share/zoneinfo/zone.tab")
        text = path.read_text() if path.exists() else ""
    pairs = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {fields[2]: fields[0] for fields in pairs if len(fields) >= 3}


def country_of_timezone(timezone: str) -> str | None:
    """The country a zone belongs to ('Europe/Amsterdam' -> 'NL'); None for 'UTC' and the like."""
    return _zone_countries().get(timezone)


def day_types(days: np.ndarray, country: str | None) -> np.ndarray:
    """Monday 0 … Sunday 6, public holidays of `country` counted as Sundays (people are home)."""
    dates = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    types = dates.day_of_week.to_numpy().copy()
    if country is not None:
        types[public_holidays(dates, country)] = SUNDAY
    return types


def public_holidays(dates: pd.DatetimeIndex, country: str) -> np.ndarray:
    holidays = _holiday_dates(country, tuple(sorted(set(dates.year))))
    return np.isin(dates.to_numpy().astype("datetime64[D]"), holidays)


@cache
def _holiday_dates(country: str, years: tuple[int, ...]) -> np.ndarray:
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=years)
    except NotImplementedError:  # a country the holidays package does not know
        return np.array([], dtype="datetime64[D]")
    return np.array(sorted(calendar), dtype="datetime64[D]")
