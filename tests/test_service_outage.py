"""The database goes away, and what a CSMS sees meanwhile.

- PostgreSQL stopped for 20 s (`pg_ctl stop -m fast`, then start) while the load harness runs
  against `smartcharge serve`, on a throw-away cluster of the test's own: requests during the
  outage get 503 with Retry-After, never a 500 and never an answer later than the request
  timeout; /healthz says the database is down and /readyz is 503; afterwards every write the
  service acknowledged is stored and every site has re-planned.
- A PostgreSQL table locked by another session (a long migration, an admin's transaction):
  requests that wait on it are answered 503 at the request timeout, not left hanging.
- SQLite with another process holding its write lock: a write gets 503 with Retry-After after
  the lock timeout (not 500 after 30 s); reads go on; the write goes through once the lock is
  released.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import create_engine, text

from benchmarks.load import outage_during_run, run_load
from benchmarks.load_traffic import LoadConfig
from benchmarks.postgres_cluster import PostgresCluster, postgres_bin
from benchmarks.service_process import ServerProcess
from smartcharge.api.store.database import normalise_url
from tests.service_harness import POSTGRES_URL, fresh_database, running_api, site_document

REQUEST_TIMEOUT_S = 5.0
OUTAGE_S = 20.0


@pytest.mark.skipif(
    postgres_bin() is None, reason="needs PostgreSQL's server (.ci/run installs it)"
)
def test_postgresql_stopped_for_20_s_under_load():
    config = LoadConfig(
        sites=6,
        chargers=(20, 30),
        duration_s=48.0,
        speed=30.0,
        meter_period_s=10.0,
        profiles_poll_s=5.0,
        schedule_poll_s=10.0,
        what_ifs_per_minute=0,
        request_timeout_s=30.0,
    )
    env = {
        "SMARTCHARGE_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "SMARTCHARGE_DEBOUNCE_S": "0.3",
        "SMARTCHARGE_HEALTH_PROBE_S": "0.5",
        "SMARTCHARGE_TICK_S": "0",
        "SMARTCHARGE_SOLVER_WORKERS": "1",
    }
    probes: list[tuple[float, int, dict, int]] = []  # (time, /healthz status, body, /readyz)

    with (
        PostgresCluster.started() as cluster,
        outage_during_run(cluster, at_s=12.0, outage_s=OUTAGE_S) as (outage, times),
    ):

        async def tick(elapsed_s: float, server: ServerProcess) -> None:
            await outage(elapsed_s, server)
            probes.append(await asyncio.to_thread(probe, server.base))

        result = run_load(config, "postgresql", cluster.url, server_env=env, on_tick=tick)
    stopped, started = times["stopped"], times["started"]
    records = result.records

    # Never a 500, never an answer later than the request timeout (a little slack for the
    # client on a busy machine), whatever was asked.
    statuses = Counter(r.status for r in records)
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    assert max(r.latency_s for r in records if r.status) < REQUEST_TIMEOUT_S + 3
    during = [r for r in records if stopped + 1 <= r.sent_at <= started - 1]
    unavailable = [r for r in during if r.status == 503]
    assert unavailable, f"no request met the outage: {Counter(r.status for r in during)}"
    assert all(r.retry_after and int(r.retry_after) >= 1 for r in unavailable)
    assert all(r.status in (200, 304, 503) for r in during if r.method == "GET")

    # /healthz said so, /readyz took the process out of rotation, and both came back.
    in_outage = [p for p in probes if stopped + 2 <= p[0] <= started]
    assert in_outage and all(p[1] == 200 for p in in_outage)
    assert all(p[2]["database"]["state"] == "down" for p in in_outage)
    assert all(p[3] == 503 for p in in_outage)
    after = [p for p in probes if p[0] >= started + 3]
    assert after and after[-1][2]["database"]["state"] == "ok" and after[-1][3] == 200

    # Nothing acknowledged is lost; writes refused meanwhile went through when sent again.
    assert result.lost == []
    assert any(r.sent_at > started and r.method != "GET" and r.status < 300 for r in records)
    # Every site re-planned after the database came back.
    sites = {p[0] for p in result.plans}
    replanned = {p[0] for p in result.plans if p[2] >= started}
    assert len(sites) == config.sites and replanned == sites


def probe(base: str) -> tuple[float, int, dict, int]:
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S + 2) as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
    return time.time(), health.status_code, health.json(), ready.status_code


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SMARTCHARGE_TEST_POSTGRES_URL")
def test_a_request_waiting_on_a_locked_table_is_503_at_the_timeout(tmp_path):
    with (
        fresh_database("postgresql", str(tmp_path)) as url,
        running_api(url, request_timeout_s=2.0) as api,
    ):
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        locker = create_engine(normalise_url(url))
        with locker.connect() as connection:
            connection.execute(text("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            answer = api.get("/v1/sites/depot")
            waited_s = time.monotonic() - started
            assert api.client.get("/healthz").status_code == 200  # the loop is free
            connection.rollback()
        locker.dispose()
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert "SMARTCHARGE_REQUEST_TIMEOUT_S" in answer.json()["detail"]
        assert 2.0 <= waited_s < 4.0
        assert api.get("/v1/sites/depot").status_code == 200
        api.settle()


def test_sqlite_locked_by_another_process_is_503_then_the_write_goes_through(tmp_path):
    url = f"sqlite:///{tmp_path}/locked.db"
    ready, release = tmp_path / "locked", tmp_path / "release"
    holder_code = textwrap.dedent(
        f"""
        import pathlib, sqlite3, time
        connection = sqlite3.connect({str(tmp_path / "locked.db")!r}, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        pathlib.Path({str(ready)!r}).touch()
        while not pathlib.Path({str(release)!r}).exists():
            time.sleep(0.05)
        connection.execute("ROLLBACK")
        """
    )
    with running_api(url, db_lock_timeout_s=1.0) as api:
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        api.settle()
        holder = subprocess.Popen([sys.executable, "-c", holder_code])
        try:
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            body = {"measurements": [{"time_utc": "2026-11-01T00:00:00+00:00", "import_kw": 7.0}]}
            started = time.monotonic()
            refused = api.post("/v1/sites/depot/measurements", json=body)
            waited_s = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1" and "locked" in refused.json()["detail"]
            assert waited_s < 5
            assert api.get("/v1/sites/depot").status_code == 200  # WAL: reads go on
            assert api.client.get("/healthz").json()["database"]["state"] == "locked"
            assert api.client.get("/readyz").status_code == 200  # one process: stay in rotation
        finally:
            release.touch()
            holder.wait(10)
        assert api.post("/v1/sites/depot/measurements", json=body).status_code == 200
        stored = api.get("/v1/sites/depot/measurements").json()
        assert [m["import_kw"] for m in stored] == [7.0]
