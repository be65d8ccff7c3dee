"""Retention: per-site rows stamped with a time (measurements, battery states, weather forecasts,
price points, sessions' meter values) older than a cutoff are deleted, site by site, in batches
of a bounded number of rows, each in its own short transaction. A write (a meter value, a new
forecast) waits at most one batch, never for the whole pruning; and every batch walks the
(site, time) primary key, so it costs the rows it deletes, not a scan of the table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from smartcharge.api.store.database import Database
from smartcharge.api.store.sites import all_site_keys
from smartcharge.api.store.tables import (
    BatterySoc,
    Measurement,
    MeterValue,
    PricePoint,
    WeatherForecast,
)

# A battery state older than the cutoff goes too: a plan then starts from the document's.
RETAINED = (Measurement, BatterySoc, WeatherForecast, PricePoint, MeterValue)


def prune_before(database: Database, cutoff: datetime, batch_rows: int = 5000) -> dict[str, int]:
    """Delete every RETAINED row stamped before `cutoff`; the number deleted per table."""
    deleted = {table.__tablename__: 0 for table in RETAINED}
    for site_pk in all_site_keys(database):
        for table in RETAINED:
            while True:
                count = _delete_oldest(database, table, site_pk, cutoff, batch_rows)
                deleted[table.__tablename__] += count
                if count < batch_rows:
                    break
    return deleted


def _delete_oldest(
    database: Database, table: type, site_pk: int, cutoff: datetime, batch_rows: int
) -> int:
    """Delete the site's `batch_rows` oldest rows before `cutoff` (fewer when fewer are left)."""
    with database.transaction() as session:
        old = (table.site_pk == site_pk) & (table.time_utc < cutoff)
        last = session.scalar(
            select(table.time_utc)
            .where(old)
            .order_by(table.time_utc)
            .offset(batch_rows - 1)
            .limit(1)
        )
        batch = old if last is None else old & (table.time_utc <= last)
        result = session.execute(
            delete(table).where(batch).execution_options(synchronize_session=False)
        )
        return result.rowcount
