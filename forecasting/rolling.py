"""Rolling origins on local days: what a site knew at each local midnight.

A day-ahead forecast is issued at the local midnight before its day from what was measured
before; what a site learns from its recent errors (a gain, a spread, the method it chooses) is
fitted on the RECENT_DAYS days before that midnight and used for the whole day. A DST day is 23
or 25 hours long, not 24.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartcharge.forecasting.methods import Forecaster
from smartcharge.forecasting.quantiles import RECENT_DAYS


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


@dataclass(frozen=True)
class DaySpans:
    """Positions in a sorted index: each local day's slots [first, end) and its window of the
    `window_days` days before it [window_first, first)."""

    days: list[pd.Timestamp]
    first: np.ndarray
    end: np.ndarray
    window_first: np.ndarray

    def windows(self) -> list[tuple[slice, slice]]:
        """(the day's slots, the slots of its window) for each day."""
        return [
            (slice(first, end), slice(window, first))
            for first, end, window in zip(self.first, self.end, self.window_first, strict=True)
        ]

    def stamped(self, per_day: np.ndarray, length: int) -> np.ndarray:
        """Values per day (rows) spread over each day's slots; NaN before the first day."""
        per_day = np.asarray(per_day, dtype=float)
        out = np.full((length, *per_day.shape[1:]), np.nan)
        for row, (first, end) in enumerate(zip(self.first, self.end, strict=True)):
            out[first:end] = per_day[row]
        return out


def day_spans(
    index: pd.DatetimeIndex, timezone: str, start: pd.Timestamp, window_days: int = RECENT_DAYS
) -> DaySpans:
    bounds = local_days(index, timezone, start)
    position = index.as_unit("ns").asi8

    def at(times: list[pd.Timestamp]) -> np.ndarray:
        stamps = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns").asi8
        return np.searchsorted(position, stamps)

    starts = [day for day, _ in bounds]
    windows = [day - pd.Timedelta(days=window_days) for day in starts]
    return DaySpans(starts, at(starts), at([end for _, end in bounds]), at(windows))


def per_day(
    spans: DaySpans, length: int, reduce: Callable[[slice], float | tuple[float, ...]]
) -> np.ndarray:
    """reduce(the window before each day, as a slice of positions), stamped on that day's
    slots (one column per value reduce returns)."""
    values = [np.atleast_1d(reduce(window)) for _, window in spans.windows()]
    if not values:
        return np.full((length, 1), np.nan)
    return spans.stamped(np.vstack(values), length)
