"""Weather forecasts per site (the problem document's `weather`, one row per time).

A newer forecast for a time replaces the whole row, so values of an older provider never mix
with a newer one's; posting the same forecast twice stores it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.dialects import postgresql, sqlite

from smartcharge.api.store.audit import record_bulk_change
from smartcharge.api.store.database import Database
from smartcharge.api.store.series import read_frame
from smartcharge.api.store.tables import WeatherForecast, utc_now

WEATHER_COLUMNS = (
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "temp_air_c",
    "wind_speed_m_s",
    "cloud_cover_pct",
)
ROWS_PER_STATEMENT = 1000  # 9 parameters a row: well under SQLite's and PostgreSQL's limits


def upsert_weather(database: Database, site_pk: int, rows: list[dict[str, Any]]) -> int:
    """Insert or replace by (site, time): each row has `time_utc` (aware) and any of
    WEATHER_COLUMNS; a column left out is stored as null. Returns the number of rows given."""
    if not rows:
        return 0
    dialect = database.engine.dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    now = utc_now()
    # One row per time, the last given winning (one statement may not touch a row twice).
    by_time = {
        row["time_utc"]: {
            "site_pk": site_pk,
            "time_utc": row["time_utc"],
            "received_at": now,
            **{c: row.get(c) for c in WEATHER_COLUMNS},
        }
        for row in rows
    }
    values = list(by_time.values())
    with database.transaction() as session:
        for first in range(0, len(values), ROWS_PER_STATEMENT):
            statement = insert(WeatherForecast).values(values[first : first + ROWS_PER_STATEMENT])
            statement = statement.on_conflict_do_update(
                index_elements=["site_pk", "time_utc"],
                set_={c: statement.excluded[c] for c in (*WEATHER_COLUMNS, "received_at")},
            )
            session.execute(statement)
        times = [v["time_utc"] for v in values]
        span = f"from {min(times).isoformat()} to {max(times).isoformat()}"
        record_bulk_change(session, f"weather_forecasts {len(values)} stored {span}")
    return len(rows)


def read_weather_frame(
    database: Database, site_pk: int, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """The stored forecast in [since, until) as a frame indexed by UTC time, one column per
    WEATHER_COLUMNS (NaN where a row has no value): `forecasting.weather.read_weather` reads it
    as it is."""
    return read_frame(database, WeatherForecast, WEATHER_COLUMNS, site_pk, since, until)
