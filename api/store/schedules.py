"""Every plan a site was given, by version: the problem it answered and the answer."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import Schedule


def etag_of(answer: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(answer, sort_keys=True).encode()).hexdigest()[:32]


def store_schedule(
    database: Database,
    site_pk: int,
    problem: dict[str, Any],
    answer: dict[str, Any],
    started_at: datetime,
    finished_at: datetime,
    planned_by: str,
) -> Schedule:
    """The next version; callers hold the site's lease, so versions never collide."""
    with database.transaction() as session:
        latest = session.scalar(
            select(func.max(Schedule.version)).where(Schedule.site_pk == site_pk)
        )
        row = Schedule(
            site_pk=site_pk,
            version=(latest or 0) + 1,
            started_at=started_at,
            finished_at=finished_at,
            planned_by=planned_by,
            status=answer["status"],
            etag=etag_of(answer),
            problem=problem,
            answer=answer,
        )
        session.add(row)
        return row


def latest_schedule(database: Database, site_pk: int) -> Schedule | None:
    with database.transaction() as session:
        return session.scalar(
            select(Schedule)
            .where(Schedule.site_pk == site_pk)
            .order_by(Schedule.version.desc())
            .limit(1)
        )


def schedule_version(database: Database, site_pk: int, version: int) -> Schedule | None:
    with database.transaction() as session:
        return session.get(Schedule, (site_pk, version))


def schedule_times(database: Database, site_pk: int) -> list[tuple[int, datetime, datetime, str]]:
    """(version, started, finished, planned_by) of every plan, oldest first."""
    with database.transaction() as session:
        query = (
            select(Schedule.version, Schedule.started_at, Schedule.finished_at, Schedule.planned_by)
            .where(Schedule.site_pk == site_pk)
            .order_by(Schedule.version)
        )
        return [tuple(row) for row in session.execute(query)]
