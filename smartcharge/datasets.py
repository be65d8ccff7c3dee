"""The real and sample data the package ships, for examples, notebooks and tests.

Sources and licences: `data/README.md` in the repository (`smartcharge/data/README.md` when
installed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartcharge.optimizer.shipped_data import DATA_DIR, EXAMPLES_DIR

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATA_DIR",
    "EXAMPLES",
    "PV_STATIONS",
    "PVStation",
    "household_load_kw",
    "irradiance",
    "replay_week",
]

EXAMPLES = EXAMPLES_DIR
"""Example problems (``workplace-20.json``, ``depot-120.json``, ``garage-8.json``, …)."""


def household_load_kw() -> pd.Series:
    """A year (2022) of real metered load [kW] in 15-minute intervals, the sum of 25 Dutch
    households, indexed by interval start in UTC."""
    import pandas as pd

    table = pd.read_csv(DATA_DIR / "load" / "households25_15min_2022.csv.gz")
    times = pd.DatetimeIndex(pd.to_datetime(table["time_utc"], utc=True), name="time")
    return pd.Series(table["load_kw"].to_numpy(dtype=float), index=times, name="load_kw")


def replay_week(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An example week to replay: the site document and its sessions.

    Parameters
    ----------
    name : {"workplace-week", "depot-week"}
    """
    from smartcharge.optimizer.session_table import read_sessions

    folder = DATA_DIR / "replay" / name
    if not folder.is_dir():
        known = sorted(p.name for p in (DATA_DIR / "replay").iterdir() if p.is_dir())
        raise ValueError(f"name: {name!r} is not one of {', '.join(known)}")
    site = json.loads((folder / "site.json").read_text())
    return site, read_sessions(folder / "sessions.csv")


@dataclass(frozen=True)
class PVStation:
    """A measured irradiance series the package ships, and where it was measured."""

    name: str
    file: str
    location: dict[str, float]  # as a problem's `site.location`
    timezone: str
    step_minutes: int  # the file's own resolution
    what: str


PV_STATIONS = {
    station.name: station
    for station in (
        PVStation(
            "payerne",
            "bsrn_payerne_2016-06_1min.csv.gz",
            {"latitude": 46.815, "longitude": 6.944, "altitude_m": 491},
            "Europe/Zurich",
            1,
            "Swiss plateau, June 2016, measured (BSRN), changeable",
        ),
        PVStation(
            "greensboro",
            "tmy3_greensboro_60min.csv.gz",
            {"latitude": 36.1, "longitude": -79.95, "altitude_m": 273},
            "America/New_York",
            60,
            "humid subtropical (NC), TMY3 typical year",
        ),
        PVStation(
            "colorado",
            "nsrdb_psm3_colorado_2017_30min.csv.gz",
            {"latitude": 40.53, "longitude": -108.54, "altitude_m": 2168},
            "America/Denver",
            30,
            "semi-arid plateau, 2168 m, 2017 (NSRDB PSM3, satellite)",
        ),
        PVStation(
            "sand_point",
            "tmy3_sand_point_60min.csv.gz",
            {"latitude": 55.317, "longitude": -160.517, "altitude_m": 7},
            "America/Anchorage",
            60,
            "subarctic maritime (AK), TMY3 typical year",
        ),
    )
}
"""Measured irradiance at four climates (sources: `data/README.md`)."""


def irradiance(name: str, step_minutes: int | None = None) -> pd.DataFrame:
    """A station's measured `ghi` (and `dni`, `dhi`, `temp_air`, `wind_speed` where measured)
    in W/m², °C, m/s, as means over `step_minutes` (default: the file's own resolution)
    indexed by interval start in UTC. ``.attrs`` holds the station's location and time zone.

    Parameters
    ----------
    name : {"payerne", "greensboro", "colorado", "sand_point"}
    """
    import pandas as pd

    if name not in PV_STATIONS:
        raise ValueError(f"name: {name!r} is not one of {', '.join(PV_STATIONS)}")
    station = PV_STATIONS[name]
    table = pd.read_csv(DATA_DIR / "pv" / station.file)
    table.index = pd.DatetimeIndex(pd.to_datetime(table.pop("time_utc"), utc=True), name="time")
    table = table.apply(pd.to_numeric, errors="coerce")
    table = table.resample(f"{step_minutes or station.step_minutes}min").mean()
    table.attrs.update(location=dict(station.location), timezone=station.timezone)
    return table
