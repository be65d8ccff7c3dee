"""Shared inputs of the forecasting tests: cuts of the real data in data/ (read once per
process), the Payerne station and a small problem with PV."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from smartcharge.forecasting.pv import complete_irradiance, pv_power_kw
from smartcharge.optimizer.problem import Location, PVArray
from tests.builders import charger, problem, session

DATA = Path(__file__).parent.parent / "data"
LOAD_CSV = DATA / "load" / "households25_15min_2022.csv.gz"
BSRN_CSV = DATA / "pv" / "bsrn_payerne_2016-06_1min.csv.gz"
PAYERNE = Location(latitude=46.815, longitude=6.944, altitude_m=491)
AMSTERDAM = "Europe/Amsterdam"


@cache
def _household_table() -> pd.DataFrame:
    return pd.read_csv(LOAD_CSV)


def household_load(start: str, days: int) -> pd.Series:
    """The summed load of the 25 households [kW] from local midnight `start` (Amsterdam), on
    its own UTC times."""
    table = _household_table()
    series = pd.Series(
        table["load_kw"].to_numpy(dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(table["time_utc"], utc=True)),
    )
    first = pd.Timestamp(start, tz=AMSTERDAM)
    last = first + pd.DateOffset(days=days)
    return series[(series.index >= first) & (series.index < last)]


def household_history(end: pd.Timestamp, days: int = 42) -> pd.Series:
    """The last `days` days of the household file, restamped to end just before `end`."""
    table = _household_table().tail(96 * days)
    index = pd.date_range(end=end - pd.Timedelta("15min"), periods=len(table), freq="15min")
    return pd.Series(table["load_kw"].to_numpy(), index=index)


@cache
def _bsrn_15min() -> pd.DataFrame:
    table = pd.read_csv(BSRN_CSV)
    table.index = pd.DatetimeIndex(pd.to_datetime(table.pop("time_utc"), utc=True))
    return table.resample("15min").mean()


def bsrn_15min(start: str, end: str) -> pd.DataFrame:
    """Payerne's measured irradiance and air temperature, 15-minute means stamped with the
    start of the quarter-hour, from `start` to before `end` (UTC)."""
    table = _bsrn_15min()
    first, last = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    return table[(table.index >= first) & (table.index < last)].copy()


def site_with_pv(**fields) -> dict:
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)], slots=96, **fields)
    doc["site"]["location"] = {"latitude": 52.37, "longitude": 4.9, "altitude_m": 2}
    doc["site"]["pv"] = [{"id": "roof", "kwp": 50, "tilt_deg": 15, "azimuth_deg": 180}]
    doc["base_load_kw"] = None
    doc["pv_kw"] = None
    return doc


def bsrn_pv_kw(start: str, end: str, array: PVArray) -> tuple[pd.Series, pd.DataFrame]:
    """The AC power of `array` at Payerne under the measured irradiance (the PV a site there
    would meter), 15-minute, and the measurements it came from."""
    measured = bsrn_15min(start, end)
    irradiance = complete_irradiance(measured.dropna(subset=["ghi"]), PAYERNE, 15)
    power = pv_power_kw(irradiance, PAYERNE, [array], measured["temp_air"], interval_minutes=15)
    return power.reindex(measured.index), measured
