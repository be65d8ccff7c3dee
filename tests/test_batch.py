"""Batch planning on a real Dask LocalCluster: every site answered once, bad ones reported,
and a worker killed in the middle does not lose or duplicate a site."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from benchmarks.generator import generate_problem
from smartcharge.api.batch import local_client, plan_many, summary

EXAMPLES = sorted((Path(__file__).parent.parent / "data" / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def client():
    client = local_client(n_workers=2)
    yield client
    cluster = client.cluster
    client.close()
    cluster.close()


def dozen_sites() -> list[tuple[str, dict]]:
    sites = [(p.stem, json.loads(p.read_text())) for p in EXAMPLES]
    sites += [(f"generated-{seed}", generate_problem(15, slots=48, seed=seed)) for seed in range(6)]
    bad = generate_problem(5, slots=24, seed=99)
    bad["sessions"][0]["charger_id"] = "no-such-charger"
    sites.append(("bad-input", bad))
    return sites


def test_a_dozen_sites_on_two_workers(client, tmp_path):
    results = plan_many(dozen_sites(), client, tmp_path, progress=False)
    by_name = {r.name: r for r in results}
    assert len(results) == len(by_name) == 12
    assert by_name["bad-input"].status == "invalid"
    assert "sessions[0].charger_id" in by_name["bad-input"].reason
    assert all(r.status == "optimal" for n, r in by_name.items() if n != "bad-input")
    assert {p.name for p in tmp_path.iterdir()} == {f"{n}.answer.json" for n in by_name} - {
        "bad-input.answer.json"
    }
    text = summary(results)
    assert "12 sites" in text and "bad-input: invalid" in text


def test_a_killed_worker_loses_nothing_and_answers_nothing_twice(client, tmp_path):
    sites = [(f"site-{seed}", generate_problem(40, slots=96, seed=seed)) for seed in range(10)]
    seen: list[str] = []
    victim_pid = next(iter(client.run(os.getpid).values()))

    def kill_a_worker_after_the_first_answer(result) -> None:
        seen.append(result.name)
        if len(seen) == 1:
            os.kill(victim_pid, signal.SIGKILL)  # as abrupt as a lost machine

    results = plan_many(
        sites, client, tmp_path, progress=False, on_result=kill_a_worker_after_the_first_answer
    )
    assert sorted(seen) == sorted(name for name, _ in sites)
    assert len(seen) == len(set(seen))
    assert all(r.status == "optimal" for r in results)
    assert len(list(tmp_path.iterdir())) == len(sites)


def _solver_stack_loaded() -> bool:
    import sys

    return "smartcharge.api.service" in sys.modules and "highspy" in sys.modules


def test_workers_start_with_the_solver_stack_loaded(client):
    loaded = client.run(_solver_stack_loaded)
    assert len(loaded) == 2 and all(loaded.values())
