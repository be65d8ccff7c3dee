"""The problem a stored site poses right now: its document, live sessions, metered peak and
the measured history its forecasts learn from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from api.site_document import compose_problem, plan_start
from api.store.database import Database
from api.store.measurements import peak_import_kw, read_measurements
from api.store.sessions import live_sessions, to_document
from api.store.tables import SiteRow

HISTORY_DAYS = 35


@dataclass
class StoredProblem:
    problem: dict[str, Any]
    histories: dict[str, pd.Series | None] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.problem["sessions"]) * self.problem["horizon"]["slots"]


def month_start(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def stored_problem(
    database: Database,
    site: SiteRow,
    now: datetime,
    slots: int | None = None,
    sessions: list[dict[str, Any]] | None = None,
    document: dict[str, Any] | None = None,
) -> StoredProblem:
    """`sessions` and `document` replace the stored ones (what-if)."""
    document = document if document is not None else site.document
    start = plan_start(now, document.get("horizon", {}).get("step_minutes", 15))
    if sessions is None:
        sessions = [to_document(row) for row in live_sessions(database, site.pk)]
    timezone = document["site"].get("timezone", "UTC")
    peak = peak_import_kw(database, site.pk, month_start(now, timezone))
    problem = compose_problem(document, sessions, start, slots=slots, measured_peak_kw=peak)
    measured = read_measurements(database, site.pk, since=start - timedelta(days=HISTORY_DAYS))
    histories = {
        "load_history_kw": _series(measured["base_load_kw"]),
        "pv_history_kw": _series(measured["pv_kw"]),
    }
    return StoredProblem(problem, histories)


def _series(column: pd.Series) -> pd.Series | None:
    values = column.dropna()
    return values if not values.empty else None
