"""The real and sample data the package ships, for examples, notebooks and tests.

Sources and licences: `data/README.md` in the repository (`smartcharge/data/README.md` when
installed).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from smartcharge.optimizer.shipped_data import DATA_DIR, EXAMPLES_DIR

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DATA_DIR", "EXAMPLES", "household_load_kw", "replay_week"]

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
