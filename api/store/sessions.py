"""Charging sessions of a site as they happen: arrival, updates, departure.

Writes are checked against the site's other live sessions inside the transaction that makes
them, under the site's row lock, so two racing arrivals on one charger cannot both land.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartcharge.api.site_document import session_document
from smartcharge.api.store.database import Database
from smartcharge.api.store.ids import check_session_ids
from smartcharge.api.store.sites import lock_site
from smartcharge.api.store.tables import SessionRow, utc_now
from smartcharge.optimizer.ev_learning import EV_MAX_HEADROOM_A

# The most recent finished sessions the estimates learn from: a year of a busy charger park.
HISTORY_SESSIONS = 5000

SESSION_FIELDS = (
    "charger_id",
    "transaction_id",
    "arrival",
    "departure",
    "energy_kwh",
    "max_current_a",
    "max_power_kw",
    "phases",
    "priority",
    "discharge",
)

# Called with the live sessions as they would be after the write; raises to refuse it.
SessionsCheck = Callable[[list[dict[str, Any]]], None]


def to_document(row: SessionRow) -> dict[str, Any]:
    """The SPEC session a plan sees: what the EV still wants after what it has been given,
    and what its meter values taught about it (SPEC §6)."""
    data = {"id": row.session_id} | {name: getattr(row, name) for name in SESSION_FIELDS}
    data["arrival"] = row.arrival.isoformat()
    data["departure"] = row.departure.isoformat() if row.departure else None
    if data["transaction_id"] is not None:
        data["transaction_id"] = str(data["transaction_id"])
    if row.ev_phases is not None:
        data["phases"] = row.ev_phases
    if row.ev_max_current_a is not None:
        # The plan offers a little more than learnt, so that an EV that can take more shows it.
        data["ev_max_current_a"] = row.ev_max_current_a + EV_MAX_HEADROOM_A
    if row.ev_full:
        data["ev_full"] = True
    return session_document(data, delivered_kwh=row.energy_delivered_kwh)


def finished_sessions(
    database: Database, site_pk: int, since: datetime, limit: int = HISTORY_SESSIONS
) -> list[tuple[datetime, datetime, float]]:
    """(arrival, end, energy taken) of the site's most recent finished sessions since `since`:
    what missing departures and energies are estimated from (`optimizer.session_estimates`)."""
    query = (
        select(SessionRow.arrival, SessionRow.ended_at, SessionRow.energy_delivered_kwh)
        .where(
            SessionRow.site_pk == site_pk,
            SessionRow.ended_at.is_not(None),
            SessionRow.arrival >= since,
        )
        .order_by(SessionRow.ended_at.desc())
        .limit(limit)
    )
    with database.transaction() as session:
        return [(a, e, float(kwh)) for a, e, kwh in session.execute(query)]


def _live(session: Session, site_pk: int) -> list[SessionRow]:
    query = (
        select(SessionRow)
        .where(SessionRow.site_pk == site_pk, SessionRow.ended_at.is_(None))
        .order_by(SessionRow.arrival, SessionRow.session_id)
    )
    return list(session.scalars(query))


def get_session(database: Database, site_pk: int, session_id: str) -> SessionRow | None:
    with database.transaction() as session:
        return session.get(SessionRow, (site_pk, session_id))


def live_sessions(database: Database, site_pk: int) -> list[SessionRow]:
    with database.transaction() as session:
        return _live(session, site_pk)


class SessionExists(Exception):
    pass


def add_session(
    database: Database, site_pk: int, values: dict[str, Any], check: SessionsCheck
) -> SessionRow:
    check_session_ids(values)
    with database.transaction() as session:
        lock_site(session, site_pk)
        if session.get(SessionRow, (site_pk, values["id"])) is not None:
            raise SessionExists(values["id"])
        row = SessionRow(
            site_pk=site_pk,
            session_id=values["id"],
            energy_delivered_kwh=0.0,
            updated_at=utc_now(),
            **{name: values.get(name) for name in SESSION_FIELDS},
        )
        if row.priority is None:
            row.priority = 0
        check([*(to_document(r) for r in _live(session, site_pk)), to_document(row)])
        session.add(row)
        return row


def update_session(
    database: Database,
    site_pk: int,
    session_id: str,
    changes: dict[str, Any],
    check: SessionsCheck | None = None,
) -> SessionRow | None:
    with database.transaction() as session:
        lock_site(session, site_pk)
        row = session.get(SessionRow, (site_pk, session_id))
        if row is None:
            return None
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utc_now()
        if check is not None and row.ended_at is None:
            others = [to_document(r) for r in _live(session, site_pk) if r is not row]
            check([*others, to_document(row)])
        return row


def record_metered_energy(
    database: Database, site_pk: int, session_id: str, delivered_kwh: float
) -> tuple[SessionRow | None, bool]:
    """Store a session's metered energy: (the row, or None if there is no such session; whether
    this value is the one that met the session's request). A meter value cannot make a valid
    site invalid, so it skips the check of the site's sessions that other updates pass."""
    with database.transaction() as session:
        row = session.get(SessionRow, (site_pk, session_id))
        if row is None:
            return None, False
        # An estimated need (energy_kwh null) is met only as the plan sees it: the next plan.
        need_kwh = row.energy_kwh
        was_short = need_kwh is not None and row.energy_delivered_kwh < need_kwh
        row.energy_delivered_kwh = delivered_kwh
        row.updated_at = utc_now()
        return row, was_short and delivered_kwh >= need_kwh


def end_session(
    database: Database, site_pk: int, session_id: str, at: datetime | None = None
) -> SessionRow | None:
    return update_session(database, site_pk, session_id, {"ended_at": at or utc_now()})
