"""The service under test: a real database (SQLite file, and PostgreSQL when
SMARTCHARGE_TEST_POSTGRES_URL names a server: `.ci/run` starts one), the real solver, and
helpers to build sites and wait for plans."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from smartcharge.api.app import create_app
from smartcharge.api.clock import Clock
from smartcharge.api.settings import Settings
from smartcharge.api.store.database import normalise_url, open_database
from smartcharge.api.store.keys import create_key

POSTGRES_URL = os.environ.get("SMARTCHARGE_TEST_POSTGRES_URL")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@contextmanager
def fresh_database(kind: str, directory: str) -> Iterator[str]:
    """A new, empty database of `kind`; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/smartcharge-{uuid.uuid4().hex[:8]}.db"
        return
    assert POSTGRES_URL is not None
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(normalise_url(POSTGRES_URL)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    with fresh_database(request.param, str(tmp_path)) as url:
        yield url


@dataclass
class Api:
    client: TestClient
    key: str
    url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None) -> Any:
        return self.client.put(path, json=json, headers=self.headers)

    def patch(self, path: str, json: Any = None) -> Any:
        return self.client.patch(path, json=json, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)

    def wait_for_version(self, site_id: str, version: int, timeout_s: float = 60) -> dict:
        """The schedule once it reaches `version` (solves run in the background)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.get(f"/v1/sites/{site_id}/schedule")
            if response.status_code == 200 and response.json()["version"] >= version:
                return response.json()
            time.sleep(0.1)
        raise AssertionError(f"site {site_id} never reached version {version}")

    def settle(self, quiet_s: float = 1.0, timeout_s: float = 60) -> None:
        """Wait until no re-plan is pending or running."""
        deadline = time.monotonic() + timeout_s
        planner = self.client.app.state.planner
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if planner.pending or planner.pool.in_flight:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(0.05)
        raise AssertionError("the planner never settled")


SERVICE_DEFAULTS = {
    "solver_pool": "thread",
    "solver_workers": 2,
    "debounce_s": 0.3,
    "max_wait_s": 5.0,
    "tick_s": 0.0,
}


@contextmanager
def running_api(
    database_url: str, tenant: str = "acme", clock: Clock | None = None, **settings: Any
) -> Iterator[Api]:
    """The service on `database_url`; `clock` (a `SimulatedClock`) drives it through time."""
    key = create_key(open_database(database_url), tenant)
    app = create_app(
        Settings(database_url=database_url, **{**SERVICE_DEFAULTS, **settings}), clock=clock
    )
    with TestClient(app) as client:
        yield Api(client, key, database_url)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


@pytest.fixture
def make_api(database_url: str) -> Callable[..., Any]:
    return lambda **settings: running_api(database_url, **settings)


def slot_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def site_document(site_id: str = "depot", chargers: int = 4, **grid: Any) -> dict[str, Any]:
    """A stored site: `chargers` 3-phase 16 A chargers on one circuit, a flat tariff."""
    return {
        "site": {
            "id": site_id,
            "timezone": "Europe/Amsterdam",
            "grid": {"import_limit_kw": 60.0, "phase_limit_a": 120.0, **grid},
            "circuits": [{"id": "panel-a", "limit_kw": 40.0}],
            "chargers": [
                {"id": f"cp-{i}", "circuit": "panel-a", "max_current_a": 16, "phases": 3}
                for i in range(chargers)
            ],
        },
        "tariff": {"import_price_per_kwh": 0.25, "demand_charge_per_kw": 5.0},
        "horizon": {"step_minutes": 15, "slots": 32},
        "options": {"time_limit_s": 5},
        "base_load_kw": 5.0,
        "pv_kw": 0.0,
    }


def arrival(
    session_id: str, charger_id: str, energy_kwh: float = 10.0, hours: float = 4.0, **fields: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": session_id,
        "charger_id": charger_id,
        "transaction_id": str(1000 + abs(hash(session_id)) % 9000),
        "arrival": (now - timedelta(minutes=5)).isoformat(),
        "departure": (now + timedelta(hours=hours)).isoformat(),
        "energy_kwh": energy_kwh,
        **fields,
    }


def store_site_unchecked(database_url: str, tenant: str, document: dict[str, Any]) -> None:
    """A site as a database from before ids were restricted (`api.store.ids`) may hold one:
    written straight into the table, past the checks of `POST /v1/sites`."""
    from sqlalchemy import select

    from smartcharge.api.store.database import Database
    from smartcharge.api.store.tables import SiteRow, Tenant

    database = Database(database_url)
    try:
        with database.transaction() as session:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == tenant))
            session.add(
                SiteRow(tenant_id=tenant_id, site_id=document["site"]["id"], document=document)
            )
    finally:
        database.dispose()
