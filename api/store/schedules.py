"""Every plan a site was given, by version: the problem it answered and the answer."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from smartcharge.api.ocpp.delta import (
    Key,
    Sent,
    record_sent,
    sent_from_json,
    sent_to_json,
    unrecorded,
)
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
    """The next version; callers hold the site's lease, so versions never collide.

    With it, per OCPP profile, the version the charger's copy was sent in (`record_sent`),
    carried on from the version before.
    """
    with database.transaction() as session:
        latest = session.scalar(
            select(func.max(Schedule.version)).where(Schedule.site_pk == site_pk)
        )
        version = (latest or 0) + 1
        previous = None if latest is None else session.get(Schedule, (site_pk, latest))
        if previous is None or previous.profiles_sent is None:  # stored before the record
            sent = record_sent(None, None, answer["ocpp"], version)
        else:
            previous_sent = sent_from_json(previous.profiles_sent)
            sent = record_sent(previous.answer["ocpp"], previous_sent, answer["ocpp"], version)
        row = Schedule(
            site_pk=site_pk,
            version=version,
            started_at=started_at,
            finished_at=finished_at,
            planned_by=planned_by,
            status=answer["status"],
            etag=etag_of(answer),
            problem=problem,
            answer=answer,
            profiles_sent=sent_to_json(sent),
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


def schedule_in_force(
    database: Database, site_pk: int, moment: datetime, cache: dict[int, Schedule], back: int = 8
) -> Schedule | None:
    """The newest plan whose horizon had started at `moment` (the one its chargers were
    running then), looking back at most `back` versions; `cache` keeps those already read."""
    version = None
    for _ in range(back):
        with database.transaction() as session:
            query = select(Schedule.version).where(Schedule.site_pk == site_pk)
            if version is not None:
                query = query.where(Schedule.version < version)
            version = session.scalar(query.order_by(Schedule.version.desc()).limit(1))
            if version is None:
                return None
            if version not in cache:
                cache[version] = session.get_one(Schedule, (site_pk, version))
        start = datetime.fromisoformat(cache[version].problem["horizon"]["start"])
        if start <= moment:
            return cache[version]
    return None


def schedule_times(database: Database, site_pk: int) -> list[tuple[int, datetime, datetime, str]]:
    """(version, started, finished, planned_by) of every plan, oldest first."""
    with database.transaction() as session:
        query = (
            select(Schedule.version, Schedule.started_at, Schedule.finished_at, Schedule.planned_by)
            .where(Schedule.site_pk == site_pk)
            .order_by(Schedule.version)
        )
        return [tuple(row) for row in session.execute(query)]


def recorded_sent(row: Schedule) -> dict[Key, Sent]:
    """A plan's record of sent profiles (`api.ocpp.delta.record_sent`)."""
    if row.profiles_sent is None:  # stored before records were kept
        return unrecorded(row.answer["ocpp"], row.version)
    return sent_from_json(row.profiles_sent)


def profiles_sent(database: Database, site_pk: int, version: int) -> dict[Key, Sent] | None:
    """The record of `version` (None if there is no such version), read without its answer."""
    with database.transaction() as session:
        row = session.execute(
            select(Schedule.profiles_sent).where(
                Schedule.site_pk == site_pk, Schedule.version == version
            )
        ).first()
        if row is None:
            return None
        if row.profiles_sent is not None:
            return sent_from_json(row.profiles_sent)
        return recorded_sent(session.get_one(Schedule, (site_pk, version)))
