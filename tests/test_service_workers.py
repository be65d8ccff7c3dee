"""Solver workers that die or hang, in a real `smartcharge serve` with its process pool: a worker
SIGKILLed mid-solve (out of memory, an operator) is replaced and the site's re-plan retried on
the fresh one, the schedule staying at its previous version until then; a worker that stops
answering (SIGSTOP: swapping, a solver bug) is abandoned at twice the time limit and the
rule-based fallback stored with a warning. Both are counted in /metrics."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchmarks.service_process import ServerProcess
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from tests.service_harness import arrival, site_document

pytestmark = pytest.mark.xdist_group("solver-workers")  # two servers with solver processes

CHARGERS = 240


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    url = f"sqlite:///{tmp_path}/workers.db"
    key = create_key(open_database(url), "acme")
    env = {
        "SMARTCHARGE_SOLVER_POOL": "process",
        "SMARTCHARGE_SOLVER_WORKERS": "1",
        "SMARTCHARGE_TICK_S": "0",
        "SMARTCHARGE_DEBOUNCE_S": "0.2",
        "SMARTCHARGE_SOLVE_GRACE_S": "3",
    }
    running = ServerProcess(url, env, log=tmp_path / "server.log")
    client = httpx.Client(
        base_url=running.base, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    try:
        yield running, client
    finally:
        client.close()
        running.stop()


def busy_site(client: httpx.Client, time_limit_s: float) -> dict[str, Any]:
    """A depot whose every charger has an EV: a solve of a second or more, so that there is
    time to reach its worker mid-solve."""
    document = site_document("depot", chargers=CHARGERS, import_limit_kw=900.0)
    document["site"]["circuits"][0]["limit_kw"] = 700.0
    document["options"] = {"time_limit_s": time_limit_s}
    assert client.post("/v1/sites", json=document).status_code == 201
    for i in range(CHARGERS - 1):
        session = arrival(f"s-{i}", f"cp-{i}", 8.0 + i % 30, hours=2 + i % 7)
        assert client.post("/v1/sites/depot/sessions", json=session).status_code == 202
    return wait_for_plan(client, lambda plan: len(plan["sessions"]) == CHARGERS - 1)


def wait_for_plan(client: httpx.Client, wanted: Any, timeout_s: float = 180) -> dict[str, Any]:
    """The schedule once `wanted(plan)`; every version seen on the way in `seen_versions`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get("/v1/sites/depot/schedule")
        if response.status_code == 200 and wanted(response.json()):
            return response.json()
        time.sleep(0.05)
    raise AssertionError("the plan never came")


def solving_worker(server: ServerProcess, client: httpx.Client, timeout_s: float = 60) -> int:
    """The pid of the solver process once a re-plan is being solved."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/healthz").json()["solves_in_flight"]:
            (pid,) = server.worker_pids()
            return pid
        time.sleep(0.01)
    raise AssertionError("no solve started")


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def versions_until(client: httpx.Client, done: Any, timeout_s: float = 180) -> list[int]:
    """The schedule's version at each poll until `done(plan)`."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        plan = client.get("/v1/sites/depot/schedule").json()
        seen.append(plan["version"])
        if done(plan):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"not done; versions seen {sorted(set(seen))}")


def test_a_worker_killed_mid_solve_is_replaced_and_the_replan_retried(server):
    process, client = server
    before = busy_site(client, time_limit_s=20)
    assert metric(client, "smartcharge_solver_retries_total", reason="worker_lost") == 0

    late = arrival(f"s-{CHARGERS - 1}", f"cp-{CHARGERS - 1}", 12.0)
    assert client.post("/v1/sites/depot/sessions", json=late).status_code == 202
    pid = solving_worker(process, client)
    os.kill(pid, signal.SIGKILL)

    seen = versions_until(client, lambda plan: plan["version"] > before["version"])
    after = client.get("/v1/sites/depot/schedule").json()
    # What a CSMS sees: the previous plan until the retried one, then one new version with the
    # event in it; nothing in between, no error.
    assert set(seen) == {before["version"], before["version"] + 1}
    assert after["version"] == before["version"] + 1
    assert late["id"] in {s["id"] for s in after["sessions"]}
    assert after["status"] in ("optimal", "feasible")
    assert metric(client, "smartcharge_solver_retries_total", reason="worker_lost") >= 1
    assert pid not in process.worker_pids() and len(process.worker_pids()) == 1
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_hung_worker_is_abandoned_and_the_fallback_stored(server):
    process, client = server
    time_limit_s = 3.0
    before = busy_site(client, time_limit_s=time_limit_s)

    late = arrival(f"s-{CHARGERS - 1}", f"cp-{CHARGERS - 1}", 12.0)
    assert client.post("/v1/sites/depot/sessions", json=late).status_code == 202
    pid = solving_worker(process, client)
    os.kill(pid, signal.SIGSTOP)  # alive, holding its memory, never answering
    stopped_at = time.monotonic()

    seen = versions_until(client, lambda plan: plan["version"] > before["version"])
    waited_s = time.monotonic() - stopped_at
    after = client.get("/v1/sites/depot/schedule").json()
    assert set(seen) == {before["version"], before["version"] + 1}
    assert after["status"] == "fallback"
    assert any("abandoned" in w for w in after["warnings"]), after["warnings"]
    assert late["id"] in {s["id"] for s in after["sessions"]}
    assert waited_s >= time_limit_s  # not given up before its time
    assert metric(client, "smartcharge_solver_retries_total", reason="abandoned") == 1
    assert pid not in process.worker_pids()  # killed, not left stopped
    # The pool works on: the next event is planned by the solver again.
    assert client.delete(f"/v1/sites/depot/sessions/{late['id']}").status_code == 204
    planned = wait_for_plan(client, lambda plan: plan["version"] > after["version"])
    assert planned["status"] in ("optimal", "feasible")


def test_a_what_if_goes_before_the_background_replans_waiting_for_a_worker():
    """An energy manager waiting for a what-if does not queue behind a tick's re-plans."""
    import asyncio

    from smartcharge.api.solver_pool import BACKGROUND, INTERACTIVE, make_pool

    started: list[str] = []

    def work(name: str) -> str:
        started.append(name)
        time.sleep(0.2)
        return name

    async def scenario() -> list[str]:
        pool = make_pool("thread", workers=1)
        try:
            calls = [
                asyncio.create_task(pool.run(work, f"replan-{i}", priority=BACKGROUND))
                for i in range(4)
            ]
            await asyncio.sleep(0.05)  # replan-0 runs, three wait
            calls.append(asyncio.create_task(pool.run(work, "what-if", priority=INTERACTIVE)))
            calls[2].cancel()  # a waiter that gives up leaves the line
            done = await asyncio.gather(*calls, return_exceptions=True)
            assert isinstance(done[2], asyncio.CancelledError)
            return started
        finally:
            pool.close()

    assert asyncio.run(scenario()) == ["replan-0", "what-if", "replan-1", "replan-3"]


def test_a_workers_start_up_is_not_the_solves_time():
    """A fresh worker's start-up (a new process, its imports, a warm-up plan) took longer than a
    deadline on a busy machine: after a hung solve, the fallback on the fresh worker was
    abandoned too and no plan stored. A deadline counts from a started worker."""
    import asyncio
    import math
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from smartcharge.api.solver_pool import ExecutorPool

    def slow_starting() -> ProcessPoolExecutor:
        spawn = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(1, mp_context=spawn, initializer=time.sleep, initargs=(3.0,))

    async def scenario() -> float:
        pool = ExecutorPool(slow_starting, workers=1)
        try:
            return await pool.run(math.sqrt, 4.0, deadline_s=1.0)
        finally:
            pool.close()

    assert asyncio.run(scenario()) == 2.0
