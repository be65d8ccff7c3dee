"""Metered values per site (base load, PV, grid import/export), idempotent by timestamp."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from smartcharge.api.store.database import Database
from smartcharge.api.store.series import read_frame
from smartcharge.api.store.tables import Measurement, utc_now

VALUE_COLUMNS = ("base_load_kw", "pv_kw", "import_kw", "export_kw")


def upsert_measurements(database: Database, site_pk: int, rows: list[dict[str, Any]]) -> int:
    """Insert or overwrite by (site, time): posting the same batch twice changes nothing, and a
    corrected value for a timestamp replaces the old one. Fields left out keep what is stored."""
    if not rows:
        return 0
    dialect = database.engine.dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    now = utc_now()
    with database.transaction() as session:
        for row in rows:
            given = {k: row[k] for k in VALUE_COLUMNS if row.get(k) is not None}
            statement = insert(Measurement).values(
                site_pk=site_pk, time_utc=row["time_utc"], received_at=now, **given
            )
            statement = statement.on_conflict_do_update(
                index_elements=["site_pk", "time_utc"], set_={**given, "received_at": now}
            )
            session.execute(statement)
    return len(rows)


def read_measurements(
    database: Database, site_pk: int, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """The site's measurements as a frame indexed by UTC time (one column per value)."""
    return read_frame(database, Measurement, VALUE_COLUMNS, site_pk, since, until)


def peak_import_kw(
    database: Database, site_pk: int, since: datetime, until: datetime | None = None
) -> float | None:
    """The highest metered import in [since, until) (the billing period's peak so far)."""
    query = select(func.max(Measurement.import_kw)).where(
        Measurement.site_pk == site_pk, Measurement.time_utc >= since
    )
    if until is not None:
        query = query.where(Measurement.time_utc < until)
    with database.transaction() as session:
        return session.scalar(query)
