"""Meter values of a session's connector (SPEC §6), and what they teach about its EV.

A batch is stored idempotently by timestamp (a time already stored is kept as it was: a charger
re-sending its buffer after a reconnect adds nothing), then the session's whole series is folded
again by `optimizer.ev_learning.learn`, so what is believed about the EV is a function of the
stored readings alone, whatever order the batches came in. Both happen in one transaction
under the site's lock: two batches of one session cannot interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartcharge.api.store.database import Database
from smartcharge.api.store.sites import lock_site
from smartcharge.api.store.tables import MeterValue, SessionRow, utc_now
from smartcharge.optimizer.ev_learning import EvSpec, EvState, MeterReading, learn

CURRENT_COLUMNS = ("current_l1_a", "current_l2_a", "current_l3_a")


@dataclass(frozen=True)
class MeterBatchResult:
    session: SessionRow
    stored: int
    repeated: int
    before: EvState
    after: EvState


def add_meter_values(
    database: Database,
    site_pk: int,
    session_id: str,
    rows: list[dict[str, Any]],
    spec: EvSpec,
) -> MeterBatchResult | None:
    """Store the new readings of a batch and re-learn the EV; None when there is no such
    session. Each row: `time_utc` and any of the `MeterValue` columns."""
    with database.transaction() as session:
        lock_site(session, site_pk)
        row = session.get(SessionRow, (site_pk, session_id))
        if row is None:
            return None
        before = _state_of(session, site_pk, session_id, spec)
        times = [r["time_utc"] for r in rows]
        existing = set(
            session.scalars(
                select(MeterValue.time_utc).where(
                    MeterValue.site_pk == site_pk,
                    MeterValue.session_id == session_id,
                    MeterValue.time_utc.in_(times),
                )
            )
        )
        now = utc_now()
        new = [r for r in rows if r["time_utc"] not in existing]
        session.add_all(
            MeterValue(site_pk=site_pk, session_id=session_id, received_at=now, **r) for r in new
        )
        session.flush()
        after = _state_of(session, site_pk, session_id, spec)
        row.ev_phases = after.phases
        row.ev_max_current_a = after.max_current_a
        row.ev_full = after.full
        row.ev_log = [i.to_dict() for i in after.log]
        if after.delivered_kwh is not None and after.delivered_kwh > row.energy_delivered_kwh:
            row.energy_delivered_kwh = after.delivered_kwh
        row.updated_at = now
        return MeterBatchResult(row, len(new), len(rows) - len(new), before, after)


def _state_of(session: Session, site_pk: int, session_id: str, spec: EvSpec) -> EvState:
    query = (
        select(MeterValue)
        .where(MeterValue.site_pk == site_pk, MeterValue.session_id == session_id)
        .order_by(MeterValue.time_utc)
    )
    return learn(spec, (reading_of(v) for v in session.scalars(query)))


def reading_of(value: MeterValue) -> MeterReading:
    currents = tuple(getattr(value, c) for c in CURRENT_COLUMNS)
    return MeterReading(
        time=value.time_utc,
        current_a=currents if any(c is not None for c in currents) else None,
        power_kw=value.power_kw,
        energy_register_kwh=value.energy_register_kwh,
        soc_pct=value.soc_pct,
        offered_a=value.offered_a,
        offered_kw=value.offered_kw,
    )


def count_meter_values(database: Database, site_pk: int, session_id: str) -> int:
    with database.transaction() as session:
        return session.scalar(
            select(func.count()).where(
                MeterValue.site_pk == site_pk, MeterValue.session_id == session_id
            )
        )
