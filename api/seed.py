"""The sample site `make run` serves: an example problem stored as a site of tenant `demo`,
its sessions moved to today, and eight weeks of real metered load (25 Dutch households, scaled
to the example's base load) so that its forecasts have a history to learn from."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from smartcharge.api.site_document import SiteDocument, plan_start
from smartcharge.api.store.database import Database
from smartcharge.api.store.keys import caller_for_key, create_key
from smartcharge.api.store.measurements import upsert_measurements
from smartcharge.api.store.sessions import add_session, end_session, live_sessions
from smartcharge.api.store.sites import create_site, get_site, replace_document
from smartcharge.api.store.tables import utc_now
from smartcharge.optimizer.shipped_data import DATA_DIR

LOAD_HISTORY = DATA_DIR / "load" / "households25_15min_2022.csv.gz"
HISTORY_DAYS = 56  # eight weeks: enough for every base-load method to be in the daily choice
TENANT = "demo"


@dataclass
class Seeded:
    key: str
    site_id: str
    sessions: int


def seed_example(database: Database, example: Path, now: datetime | None = None) -> Seeded:
    """Store (or refresh) the example as a site; returns a new key of tenant `demo`."""
    now = now or utc_now()
    problem = json.loads(example.read_text())
    document = SiteDocument.model_validate(
        {
            "site": problem["site"],
            "tariff": problem.get("tariff", {}),
            "horizon": {
                "step_minutes": problem["horizon"]["step_minutes"],
                "slots": problem["horizon"]["slots"],
            },
            "options": problem.get("options", {}),
        }
    ).model_dump(mode="json")
    key = create_key(database, TENANT, label="make run")
    tenant_id = _tenant_id(database, key)
    site_id = document["site"]["id"]
    site = get_site(database, tenant_id, site_id)
    if site is None:
        site = create_site(database, tenant_id, document, f"{TENANT}/seed")
    else:
        site = replace_document(database, tenant_id, site_id, document, f"{TENANT}/seed")
    for row in live_sessions(database, site.pk):
        end_session(database, site.pk, row.session_id)

    start = plan_start(now, document["horizon"]["step_minutes"])
    shift = start - datetime.fromisoformat(problem["horizon"]["start"])
    added = 0
    for session in problem.get("sessions", []):
        moved = _moved(session, shift, suffix=f".{start:%Y%m%dT%H%M}")
        if moved["departure"] > now:
            add_session(database, site.pk, moved, check=lambda _: None)
            added += 1
    upsert_measurements(database, site.pk, _load_history(problem, start))
    return Seeded(key=key, site_id=site_id, sessions=added)


def _tenant_id(database: Database, key: str) -> int:
    caller = caller_for_key(database, key)
    assert caller is not None
    return caller.tenant_id


def _moved(session: dict[str, Any], shift: timedelta, suffix: str) -> dict[str, Any]:
    moved = dict(session)
    moved["id"] = f"{session['id']}{suffix}"
    for name in ("arrival", "departure"):
        moved[name] = datetime.fromisoformat(session[name]) + shift
    moved["transaction_id"] = str(session.get("transaction_id") or "") or None
    return moved


def _load_history(problem: dict[str, Any], until: datetime) -> list[dict[str, Any]]:
    """The real household load of the data's last weeks, moved by whole weeks (weekdays stay
    weekdays) to end now, scaled to the example's base load."""
    load = pd.read_csv(LOAD_HISTORY, parse_dates=["time_utc"], index_col="time_utc")["load_kw"]
    until_ts = pd.Timestamp(until)
    weeks = math.ceil((until_ts - load.index[-1]) / pd.Timedelta(weeks=1))
    shifted = load.copy()
    shifted.index = shifted.index + pd.Timedelta(weeks=weeks)
    window = shifted[until_ts - pd.Timedelta(days=HISTORY_DAYS) : until_ts - pd.Timedelta("1ns")]
    base = problem.get("base_load_kw")
    level_kw = float(pd.Series(base).mean()) if isinstance(base, list) else float(base or 10.0)
    scaled = window * (level_kw / float(load.mean()))
    return [{"time_utc": t.to_pydatetime(), "base_load_kw": float(v)} for t, v in scaled.items()]
