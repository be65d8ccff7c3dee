"""Scale-out: two API processes on one PostgreSQL database send their solves to one local Dask
scheduler; events reach either process, and both serve the same site consistently: one version
history, plans that never overlap in time (the database lease), every session in the last plan.
"""

from __future__ import annotations

import signal
import time
from itertools import pairwise

import httpx
import pytest

from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from smartcharge.api.store.schedules import schedule_times
from smartcharge.api.store.sites import list_sites
from tests.service_harness import POSTGRES_URL, arrival, fresh_database, site_document
from tests.test_service_durability import free_port, start_server

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs SMARTCHARGE_TEST_POSTGRES_URL (.ci/run starts a server)"
)


def test_two_api_processes_one_database_one_dask_scheduler(tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    with (
        fresh_database("postgresql", str(tmp_path)) as url,
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
    ):
        database = open_database(url)
        key = create_key(database, "acme")
        headers = {"Authorization": f"Bearer {key}"}
        monkeypatch.setenv("SMARTCHARGE_SOLVER_POOL", cluster.scheduler_address)
        monkeypatch.setenv("SMARTCHARGE_DEBOUNCE_S", "0.05")
        monkeypatch.setenv("SMARTCHARGE_MAX_WAIT_S", "0.3")
        ports = [free_port(), free_port()]
        servers = [
            start_server(url, port, pool=None, log=f"{tmp_path}/server-{port}.log")
            for port in ports
        ]
        try:
            bases = [f"http://127.0.0.1:{port}/v1/sites" for port in ports]
            with httpx.Client(headers=headers, timeout=30) as client:
                document = site_document("hub", chargers=20, import_limit_kw=80.0)
                assert client.post(bases[0], json=document).status_code == 201
                # The first half of the arrivals reaches one process, the second half the
                # other (a load balancer); updates cross over between them.
                for i in range(20):
                    base = bases[i // 10]
                    session = arrival(f"s-{i}", f"cp-{i}", 6.0 + i % 5)
                    assert client.post(f"{base}/hub/sessions", json=session).status_code == 202
                    if i % 4 == 3:
                        change = {"energy_delivered_kwh": 1.0}
                        other = bases[(i + 1) % 2]
                        response = client.patch(f"{other}/hub/sessions/s-{i - 1}", json=change)
                        assert response.status_code == 200
                    time.sleep(0.1)
                    if i == 9:
                        settle(client, bases, sessions=10)
                schedules = settle(client, bases, sessions=20)
            assert schedules[0]["version"] == schedules[1]["version"]
            assert schedules[0] == schedules[1]
            assert {s["id"] for s in schedules[0]["sessions"]} == {f"s-{i}" for i in range(20)}

            (site,) = list_sites(database, 1)
            plans = schedule_times(database, site.pk)
            assert [p[0] for p in plans] == list(range(1, len(plans) + 1))
            for (_, _, finished, _), (_, started, _, _) in pairwise(plans):
                assert started >= finished, "two re-plans of one site ran at once"
            assert len(plans) >= 2
            assert len({p[3] for p in plans}) == 2, "both processes should have planned"
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(30)


def settle(
    client: httpx.Client, bases: list[str], sessions: int, timeout_s: float = 180
) -> list[dict]:
    """Both processes' view of the schedule once it holds the first `sessions` sessions and
    has not changed for 3 s (first solves on fresh Dask workers import the solver stack)."""
    wanted = {f"s-{i}" for i in range(sessions)}
    deadline = time.monotonic() + timeout_s
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        views = [client.get(f"{base}/hub/schedule") for base in bases]
        complete = all(
            v.status_code == 200 and {s["id"] for s in v.json()["sessions"]} == wanted
            for v in views
        )
        versions = tuple(v.json().get("version") for v in views)
        if versions != last or not complete:
            last, stable_since = versions, time.monotonic()
        elif time.monotonic() - stable_since > 3:
            return [v.json() for v in views]
        time.sleep(0.2)
    raise AssertionError(f"the schedule never settled with every session: versions {last}")
