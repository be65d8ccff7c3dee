"""The audit log: every change a key made, who made it and what it changed.

A request that may change something opens an `audit_scope` (the API's middleware does); the
caller's identity is filled in once the key is known. The first flush of a transaction that
changes rows then adds one `AuditEntry` to that same transaction, so a change and its record
commit or vanish together: nothing is changed without a trace, nothing traced that did not
happen. What is not a change anyone audits stays out: the engine's own plans (`schedules`) and
metered values (a session's `energy_delivered_kwh`; measurement rows are written as bulk upserts
and their route opens no scope). Price points and weather forecasts are bulk upserts too, which
the flush does not see: their stores name what they wrote with `record_bulk_change`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, event, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import Base, UtcDateTime, utc_now

# Rows written by the engine, not by a caller, and columns that carry metered values.
UNAUDITED_TABLES = frozenset({"schedules", "audit_log"})
UNAUDITED_COLUMNS = frozenset(
    {"updated_at", "energy_delivered_kwh", "lease_owner", "lease_until", "received_at"}
)
# The column that names a row of each table in the log (else its primary key).
ROW_NAMES = {
    "sites": "site_id",
    "sessions": "session_id",
    "api_keys": "prefix",
    "tenants": "name",
    "limit_changes": "field",
    "grid_limit_windows": "id",
}
MAX_CHANGES = 50  # a site created with 500 chargers' limits is one entry, not 500 lines


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    actor: Mapped[str] = mapped_column(String(200))
    key_prefix: Mapped[str | None] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    site_id: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[list[str]] = mapped_column(JSON)


@dataclass
class AuditScope:
    """One request that may change something; `tenant_id` and the rest once its key is known."""

    method: str
    path: str
    tenant_id: int | None = None
    actor: str | None = None
    key_prefix: str | None = None
    role: str | None = None
    site_id: str | None = None

    def identify(
        self, tenant_id: int, actor: str, key_prefix: str, role: str, site_id: str | None
    ) -> None:
        self.tenant_id, self.actor, self.key_prefix = tenant_id, actor, key_prefix
        self.role, self.site_id = role, site_id


_current: ContextVar[AuditScope | None] = ContextVar("smartcharge_audit_scope", default=None)


@contextmanager
def audit_scope(method: str, path: str) -> Iterator[AuditScope]:
    scope = AuditScope(method, path[:500])
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current_scope() -> AuditScope | None:
    return _current.get()


@event.listens_for(Session, "before_flush")
def _record_changes(session: Session, _flush_context: Any, _instances: Any) -> None:
    scope = _current.get()
    if scope is None or scope.tenant_id is None or session.info.get("audited"):
        return
    changes = describe_changes(session)
    if changes:
        _add_entry(session, scope, changes)


def record_bulk_change(session: Session, change: str) -> None:
    """An entry for rows written by a bulk statement (no ORM objects for the flush to see), in
    the same transaction, when a caller's request made it."""
    scope = _current.get()
    if scope is not None and scope.tenant_id is not None and not session.info.get("audited"):
        _add_entry(session, scope, [change])


def _add_entry(session: Session, scope: AuditScope, changes: list[str]) -> None:
    session.info["audited"] = True  # one entry per transaction; this session is one
    session.add(
        AuditEntry(
            tenant_id=scope.tenant_id,
            at=utc_now(),
            actor=scope.actor or "",
            key_prefix=scope.key_prefix,
            role=scope.role,
            method=scope.method,
            path=scope.path,
            site_id=scope.site_id or _site_created(session),
            changes=changes[:MAX_CHANGES]
            + ([f"… and {len(changes) - MAX_CHANGES} more"] if len(changes) > MAX_CHANGES else []),
        )
    )


def _site_created(session: Session) -> str | None:
    """The id of the site a request without one in its path creates (`POST /v1/sites`)."""
    return next(
        (o.site_id for o in session.new if getattr(o, "__tablename__", "") == "sites"), None
    )


def describe_changes(session: Session) -> list[str]:
    """One line per row the flush will create, change (which columns) or delete."""
    lines = []
    for verb, objects in (
        ("created", session.new),
        ("changed", session.dirty),
        ("deleted", session.deleted),
    ):
        for obj in objects:
            line = _describe(obj, verb)
            if line is not None:
                lines.append(line)
    return sorted(lines)


def _describe(obj: Any, verb: str) -> str | None:
    table = getattr(obj, "__tablename__", None)
    if table is None or table in UNAUDITED_TABLES:
        return None
    name_column = ROW_NAMES.get(table)
    name = getattr(obj, name_column) if name_column else inspect(obj).identity
    what = f"{table} {name}" if name is not None else table
    if verb != "changed":
        return f"{what} {verb}"
    state = inspect(obj)
    columns = sorted(
        attr.key
        for attr in state.attrs
        if attr.key not in UNAUDITED_COLUMNS and attr.history.has_changes()
    )
    return f"{what} changed: {', '.join(columns)}" if columns else None


def read_audit(
    database: Database,
    tenant_id: int,
    since: datetime | None = None,
    site_id: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The tenant's entries, newest first."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if site_id is not None:
        query = query.where(AuditEntry.site_id == site_id)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    with database.transaction() as session:
        return list(session.scalars(query))
