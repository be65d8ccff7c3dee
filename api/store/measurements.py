"""Metered values per site (base load, PV, grid import/export) and each stationary battery's
state of charge, idempotent by timestamp."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from smartcharge.api.store.database import Database
from smartcharge.api.store.series import read_frame
from smartcharge.api.store.tables import BatterySoc, Measurement, utc_now

VALUE_COLUMNS = ("base_load_kw", "pv_kw", "import_kw", "export_kw")


def upsert_measurements(database: Database, site_pk: int, rows: list[dict[str, Any]]) -> int:
    """Insert or overwrite by (site, time): posting the same batch twice changes nothing, and a
    corrected value for a timestamp replaces the old one. Fields left out keep what is stored."""
    given = [
        {"site_pk": site_pk, "time_utc": row["time_utc"]}
        | {k: row[k] for k in VALUE_COLUMNS if row.get(k) is not None}
        for row in rows
    ]
    # A row with only battery states has no site meter values.
    upsert(database, Measurement, [g for g in given if len(g) > 2], ["site_pk", "time_utc"])
    return len(rows)


def upsert(database: Database, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> int:
    """Insert each row, or on a row with the same `keys` overwrite the values it gives."""
    if not rows:
        return 0
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[
        database.engine.dialect.name
    ]
    now = utc_now()
    with database.transaction() as session:
        for row in rows:
            values = {k: v for k, v in row.items() if k not in keys} | {"received_at": now}
            statement = insert(table).values(**row, received_at=now)
            session.execute(statement.on_conflict_do_update(index_elements=keys, set_=values))
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


def upsert_battery_soc(
    database: Database, site_pk: int, rows: list[tuple[str, datetime, float]]
) -> int:
    """Store (battery id, time, state of charge [kWh]) rows; the same time again overwrites."""
    values = [
        {"site_pk": site_pk, "battery_id": battery_id, "time_utc": time_utc, "soc_kwh": soc_kwh}
        for battery_id, time_utc, soc_kwh in rows
    ]
    return upsert(database, BatterySoc, values, ["site_pk", "time_utc", "battery_id"])


def latest_battery_soc(
    database: Database, site_pk: int, until: datetime
) -> dict[str, tuple[datetime, float]]:
    """Per battery id its latest measured (time, state of charge [kWh]) at or before `until`."""
    latest = (
        select(BatterySoc.battery_id, func.max(BatterySoc.time_utc).label("time_utc"))
        .where(BatterySoc.site_pk == site_pk, BatterySoc.time_utc <= until)
        .group_by(BatterySoc.battery_id)
        .subquery()
    )
    query = select(BatterySoc.battery_id, BatterySoc.time_utc, BatterySoc.soc_kwh).join(
        latest,
        (BatterySoc.battery_id == latest.c.battery_id) & (BatterySoc.time_utc == latest.c.time_utc),
    )
    with database.transaction() as session:
        rows = session.execute(query.where(BatterySoc.site_pk == site_pk)).all()
    return {battery_id: (time_utc, soc_kwh) for battery_id, time_utc, soc_kwh in rows}


def read_battery_soc(
    database: Database, site_pk: int, since: datetime | None = None, until: datetime | None = None
) -> dict[datetime, dict[str, float]]:
    """The site's measured battery states in [since, until): per time, per battery id."""
    query = select(BatterySoc.time_utc, BatterySoc.battery_id, BatterySoc.soc_kwh).where(
        BatterySoc.site_pk == site_pk
    )
    if since is not None:
        query = query.where(BatterySoc.time_utc >= since)
    if until is not None:
        query = query.where(BatterySoc.time_utc < until)
    by_time: dict[datetime, dict[str, float]] = {}
    with database.transaction() as session:
        for time_utc, battery_id, soc_kwh in session.execute(query.order_by(BatterySoc.time_utc)):
            by_time.setdefault(time_utc, {})[battery_id] = soc_kwh
    return by_time
