"""Grid-operator windows of a site (SPEC §5): caps on the connection for a time, from a DSO's
curtailment signal, a flexibility call or planned maintenance. Cancelling keeps the window as
history (who cancelled it, when)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import GridLimitWindow, utc_now


def add_window(
    database: Database, site_pk: int, values: dict[str, Any], by: str
) -> GridLimitWindow:
    with database.transaction() as session:
        row = GridLimitWindow(site_pk=site_pk, created_at=utc_now(), created_by=by, **values)
        session.add(row)
        session.flush()
        return row


def get_window(database: Database, site_pk: int, window_id: int) -> GridLimitWindow | None:
    with database.transaction() as session:
        row = session.get(GridLimitWindow, window_id)
        return row if row is not None and row.site_pk == site_pk else None


def cancel_window(
    database: Database, site_pk: int, window_id: int, by: str
) -> tuple[GridLimitWindow, bool] | None:
    """Stamp the window cancelled, once: the window and whether this call cancelled it (a
    second cancel changes nothing); None if the site has no such window."""
    with database.transaction() as session:
        row = session.get(GridLimitWindow, window_id)
        if row is None or row.site_pk != site_pk:
            return None
        if row.cancelled_at is not None:
            return row, False
        row.cancelled_at, row.cancelled_by = utc_now(), by
        return row, True


def windows_in_force(
    database: Database, site_pk: int, since: datetime, until: datetime | None = None
) -> list[GridLimitWindow]:
    """Windows not cancelled that overlap [since, until), by start."""
    query = select(GridLimitWindow).where(
        GridLimitWindow.site_pk == site_pk,
        GridLimitWindow.cancelled_at.is_(None),
        GridLimitWindow.end_utc > since,
    )
    if until is not None:
        query = query.where(GridLimitWindow.start_utc < until)
    with database.transaction() as session:
        return list(session.scalars(query.order_by(GridLimitWindow.start_utc, GridLimitWindow.id)))


def window_history(database: Database, site_pk: int) -> list[GridLimitWindow]:
    """Every window the site was given, cancelled or not, in the order they were posted."""
    with database.transaction() as session:
        query = (
            select(GridLimitWindow)
            .where(GridLimitWindow.site_pk == site_pk)
            .order_by(GridLimitWindow.created_at, GridLimitWindow.id)
        )
        return list(session.scalars(query))
