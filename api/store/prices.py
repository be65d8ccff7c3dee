"""A site's price feed (SPEC §5): points by time, each holding until the next one and at the
latest until its own end. Upserted by time, the span a request covers replacing what was
stored in it, so a corrected auction result or a feed sent twice replaces what is stored
instead of adding to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from smartcharge.api.store.audit import record_bulk_change
from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import PricePoint, utc_now

ROWS_PER_STATEMENT = 1000  # 6 parameters a row: well under SQLite's and PostgreSQL's limits


@dataclass(frozen=True)
class HeldPrice:
    """A stored point with the time it stops holding: the next point's time or its own end,
    whichever comes first (None: it holds until a later point arrives)."""

    time: datetime
    import_per_kwh: float
    export_per_kwh: float | None
    end: datetime | None


def upsert_prices(
    database: Database,
    site_pk: int,
    rows: list[dict[str, Any]],
    replaces: tuple[datetime, datetime] | None = None,
) -> int:
    """Insert or replace by (site, time): each row has `time_utc`, `import_per_kwh`, and
    optionally `export_per_kwh` and `end_utc`. A row without an end keeps the end of the point
    it replaces (a corrected price does not change how long the feed lasts). `replaces`, the
    span [from, to) the rows cover, drops the stored points inside it first, in the same
    transaction: a day sent again hourly leaves none of its quarter-hours behind."""
    if not rows:
        return 0
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[
        database.engine.dialect.name
    ]
    now = utc_now()
    values = [
        {
            "site_pk": site_pk,
            "time_utc": row["time_utc"],
            "import_per_kwh": row["import_per_kwh"],
            "export_per_kwh": row.get("export_per_kwh"),
            "end_utc": row.get("end_utc"),
            "received_at": now,
        }
        for row in rows
    ]
    with database.transaction() as session:
        if replaces is not None:
            session.execute(
                delete(PricePoint).where(
                    PricePoint.site_pk == site_pk,
                    PricePoint.time_utc >= replaces[0],
                    PricePoint.time_utc < replaces[1],
                )
            )
        for first in range(0, len(values), ROWS_PER_STATEMENT):
            statement = insert(PricePoint).values(values[first : first + ROWS_PER_STATEMENT])
            excluded = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=["site_pk", "time_utc"],
                set_={
                    "import_per_kwh": excluded.import_per_kwh,
                    "export_per_kwh": excluded.export_per_kwh,
                    "end_utc": func.coalesce(excluded.end_utc, PricePoint.end_utc),
                    "received_at": excluded.received_at,
                },
            )
            session.execute(statement)
        span = f"from {values[0]['time_utc'].isoformat()} to {values[-1]['time_utc'].isoformat()}"
        record_bulk_change(session, f"price_points {len(values)} stored {span}")
    return len(rows)


def held_prices(
    database: Database, site_pk: int, since: datetime | None = None, until: datetime | None = None
) -> list[HeldPrice]:
    """The points that hold at some time in [since, until), oldest first: those stamped inside
    it and the last one stamped before `since` (it may still hold at `since`)."""
    with database.transaction() as session:
        query = select(PricePoint).where(PricePoint.site_pk == site_pk)
        if since is not None:
            before = session.scalar(
                select(func.max(PricePoint.time_utc)).where(
                    PricePoint.site_pk == site_pk, PricePoint.time_utc <= since
                )
            )
            query = query.where(PricePoint.time_utc >= (before or since))
        if until is not None:
            query = query.where(PricePoint.time_utc < until)
        rows = list(session.scalars(query.order_by(PricePoint.time_utc)))
        if not rows:
            return []
        following = (
            session.scalar(
                select(func.min(PricePoint.time_utc)).where(
                    PricePoint.site_pk == site_pk, PricePoint.time_utc >= until
                )
            )
            if until is not None
            else None
        )
    nexts = [row.time_utc for row in rows[1:]] + [following]  # rows is not empty
    held = [
        HeldPrice(
            row.time_utc,
            row.import_per_kwh,
            row.export_per_kwh,
            _earliest(row.end_utc, after),
        )
        for row, after in zip(rows, nexts, strict=True)
    ]
    return [p for p in held if since is None or p.end is None or p.end > since]


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)
