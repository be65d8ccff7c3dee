"""`backtest`: how well the forecasts a plan uses would have done on a measured series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from smartcharge.forecasting.backtest import BacktestResult


class Backtest:
    """Every forecasting method replayed day by day on a measured series, and ``auto``: the
    choice a plan makes each day from the site's own recent errors.

    Attributes
    ----------
    kind : {"pv", "load"}
    test_start : pandas.Timestamp
        The first local midnight scored (the days before train and calibrate).
    actual_kw : pandas.Series
        The measured series (for PV: the power the arrays would have metered).
    clearsky_kw : pandas.Series or None
        PV only: the arrays' clear-sky power.
    """

    def __init__(
        self,
        result: BacktestResult,
        test_start: pd.Timestamp,
        clearsky_kw: pd.Series | None = None,
    ) -> None:
        self.result = result
        self.kind = result.kind
        self.test_start = test_start
        self.actual_kw = result.actual
        self.clearsky_kw = clearsky_kw

    @property
    def scores(self) -> pd.DataFrame:
        """One row per (method, horizon): MAE, nMAE (% of kWp over daylight for PV, % of the
        mean load for load), RMSE, skill against the baseline, pinball loss, P10–P90 coverage."""
        import pandas as pd

        rows = [asdict(score) for score in self.result.scores]
        return pd.DataFrame(rows).set_index(["method", "horizon"])

    @property
    def choices(self) -> pd.DataFrame:
        """Share of the test days on which ``auto`` chose each method, per horizon."""
        import pandas as pd

        shares = {}
        for (_, horizon), names in self.result.choices.items():
            days = names[names.index >= self.test_start].groupby(level=0).first()
            shares[horizon] = days.value_counts(normalize=True)
        return pd.DataFrame(shares).fillna(0.0).rename_axis("method")

    def plot(self, path: str | Path | None = None, days: int = 7) -> Figure:
        """Forecast against actual over the last `days` test days per horizon, with ``auto``'s
        P10–P90 band, and every method's nMAE beside it."""
        from smartcharge.api.plots import plot_backtest

        return plot_backtest(self.result, self.test_start, path, days)

    def __repr__(self) -> str:
        return (
            f"<Backtest {self.kind} from {self.test_start.date()}: {len(self.result.scores)} rows>"
        )


def backtest(
    kind: Literal["pv", "load"],
    measured: pd.Series | pd.DataFrame,
    *,
    timezone: str,
    step_minutes: int = 15,
    location: Mapping[str, float] | None = None,
    arrays: Sequence[Mapping[str, Any]] = (),
    weather: Any = None,
    country: str | None = None,
    test_start: pd.Timestamp | str | None = None,
    test_days: int | None = None,
    progress: bool = True,
) -> Backtest:
    """Replay the forecasts on a measured series, day-ahead from each local midnight and at
    the intraday lead times, as `smartcharge forecast backtest` does.

    Parameters
    ----------
    kind : {"pv", "load"}
    measured : pandas.Series or pandas.DataFrame
        Load: the metered load [kW]. PV: measured irradiance (``ghi`` and where measured
        ``dni``, ``dhi``, ``temp_air``, ``wind_speed``; the power the arrays would have
        metered is computed with pvlib) or the metered PV power [kW] of the arrays. Indexed by
        tz-aware interval start, at `step_minutes`.
    timezone : str
        The site's time zone: days and day types are local.
    location, arrays :
        PV only: as a problem's ``site.location`` and ``site.pv``.
    weather : optional
        PV only: a weather forecast (DataFrame, provider JSON, or path) to score beside the
        measured-PV methods.
    country : str, optional
        Load only: ISO 3166 code for public holidays (default: the time zone's country).
    test_start : optional
        The first day scored (default: after the warm-up and calibration days).
    test_days : int, optional
        Score this many days only.
    progress : bool
        A log line per method on stderr.

    Examples
    --------
    >>> load = smartcharge.datasets.household_load_kw()[:"2022-03-15"]
    >>> result = smartcharge.backtest("load", load, timezone="Europe/Amsterdam",
    ...                               test_days=7, progress=False)
    >>> bool(result.scores.loc[("auto", "day-ahead"), "nmae_pct"] < 25)
    True
    """
    import sys

    import pandas as pd

    from smartcharge.forecasting import backtest as rolling
    from smartcharge.forecasting.calendar import country_of_timezone
    from smartcharge.forecasting.pv import clearsky_pv_kw, metered_pv_kw
    from smartcharge.forecasting.weather import pv_from_weather, read_weather
    from smartcharge.optimizer.problem import Location, PVArray

    if kind not in ("pv", "load"):
        raise ValueError(f"kind: {kind!r} is not 'pv' or 'load'")

    def log(text: str) -> None:
        if progress:
            print(f"[backtest] {text}", file=sys.stderr)

    if kind == "load":
        actual = measured.iloc[:, 0] if isinstance(measured, pd.DataFrame) else measured
    else:
        if location is None or not arrays:
            raise ValueError("location, arrays: a PV backtest needs the arrays and where they are")
        site_location = Location.model_validate(dict(location))
        site_arrays = [PVArray.model_validate(dict(a)) for a in arrays]
        if isinstance(measured, pd.DataFrame):
            actual = metered_pv_kw(measured, site_location, site_arrays, step_minutes)
        else:
            actual = measured
        clear = clearsky_pv_kw(actual.index, site_location, site_arrays, step_minutes)
    if test_start is None:
        start = rolling.default_test_start(actual, timezone, kind)
    else:
        start = pd.Timestamp(test_start)
        start = start.tz_localize(timezone) if start.tzinfo is None else start
    if test_days is not None:
        actual = actual[actual.index < start + pd.Timedelta(days=test_days)]
    if kind == "load":
        result = rolling.load_backtest(
            actual,
            timezone,
            start,
            step_minutes,
            country or country_of_timezone(timezone),
            progress=log,
        )
        return Backtest(result, start)
    clear = clear.reindex(actual.index)
    weather_kw = None
    if weather is not None:
        forecast = read_weather(weather)
        weather_kw = pv_from_weather(
            forecast, actual.index, site_location, site_arrays, step_minutes
        )
    kwp = sum(a.kwp for a in site_arrays)
    result = rolling.pv_backtest(
        actual, clear, timezone, start, kwp, step_minutes, progress=log, weather_kw=weather_kw
    )
    return Backtest(result, start, clear)
