"""Sites of a tenant, and the history of their limits (who, when, old → new)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcharge.api.site_document import limit_changes
from smartcharge.api.store.database import Database
from smartcharge.api.store.ids import check_site_ids
from smartcharge.api.store.tables import LimitChange, SiteRow, utc_now


class SiteExists(Exception):
    pass


def find_site(session: Session, tenant_id: int, site_id: str) -> SiteRow | None:
    return session.scalar(
        select(SiteRow).where(SiteRow.tenant_id == tenant_id, SiteRow.site_id == site_id)
    )


def create_site(database: Database, tenant_id: int, document: dict[str, Any], by: str) -> SiteRow:
    site_id = document["site"]["id"]
    check_site_ids(document)
    try:
        with database.transaction() as session:
            if find_site(session, tenant_id, site_id) is not None:
                raise SiteExists(site_id)
            row = SiteRow(tenant_id=tenant_id, site_id=site_id, document=document)
            session.add(row)
            session.flush()
            _record_limit_changes(session, row.pk, {}, document, by, "site created")
    except IntegrityError:
        # Two creations raced past the lookup; the unique constraint decided.
        raise SiteExists(site_id) from None
    return row


def replace_document(
    database: Database,
    tenant_id: int,
    site_id: str,
    document: dict[str, Any],
    by: str,
    reason: str | None = None,
) -> SiteRow | None:
    """Store a new document; every limit that changed goes into the history in the same commit."""
    check_site_ids(document)
    with database.transaction() as session:
        row = find_site(session, tenant_id, site_id)
        if row is None:
            return None
        _record_limit_changes(session, row.pk, row.document, document, by, reason)
        row.document = document
        row.updated_at = utc_now()
        return row


def _record_limit_changes(
    session: Session,
    site_pk: int,
    old: dict[str, Any],
    new: dict[str, Any],
    by: str,
    reason: str | None,
) -> None:
    now = utc_now()
    for field, before, after in limit_changes(old, new):
        session.add(
            LimitChange(
                site_pk=site_pk,
                changed_at=now,
                changed_by=by,
                field=field,
                old_value=before,
                new_value=after,
                reason=reason,
            )
        )


def get_site(database: Database, tenant_id: int, site_id: str) -> SiteRow | None:
    with database.transaction() as session:
        return find_site(session, tenant_id, site_id)


def list_sites(database: Database, tenant_id: int) -> list[SiteRow]:
    with database.transaction() as session:
        query = select(SiteRow).where(SiteRow.tenant_id == tenant_id).order_by(SiteRow.site_id)
        return list(session.scalars(query))


def all_site_keys(database: Database) -> list[int]:
    with database.transaction() as session:
        return list(session.scalars(select(SiteRow.pk)))


def site_by_pk(database: Database, site_pk: int) -> SiteRow | None:
    with database.transaction() as session:
        return session.get(SiteRow, site_pk)


def delete_site(database: Database, tenant_id: int, site_id: str) -> bool:
    with database.transaction() as session:
        row = find_site(session, tenant_id, site_id)
        if row is None:
            return False
        session.delete(row)
        return True


def limit_history(database: Database, site_pk: int) -> list[LimitChange]:
    with database.transaction() as session:
        query = (
            select(LimitChange)
            .where(LimitChange.site_pk == site_pk)
            .order_by(LimitChange.changed_at, LimitChange.id)
        )
        return list(session.scalars(query))


def acquire_lease(database: Database, site_pk: int, owner: str, until: datetime) -> bool:
    """Take the site's re-plan lease if it is free, expired or already ours (one atomic UPDATE,
    so two API processes on one database can never both hold it)."""
    now = utc_now()
    with database.transaction() as session:
        result = session.execute(
            update(SiteRow)
            .where(
                SiteRow.pk == site_pk,
                (SiteRow.lease_until.is_(None))
                | (SiteRow.lease_until < now)
                | (SiteRow.lease_owner == owner),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return result.rowcount == 1


def release_lease(database: Database, site_pk: int, owner: str) -> None:
    with database.transaction() as session:
        session.execute(
            update(SiteRow)
            .where(SiteRow.pk == site_pk, SiteRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def lock_site(session: Session, site_pk: int) -> None:
    """Hold the site's row lock until the transaction ends, on SQLite and PostgreSQL alike:
    a no-op UPDATE takes PostgreSQL's row lock and SQLite's write lock, so a check-then-write
    on the site's sessions cannot interleave with another."""
    session.execute(
        update(SiteRow).where(SiteRow.pk == site_pk).values(lease_owner=SiteRow.lease_owner)
    )
