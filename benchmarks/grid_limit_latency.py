"""How soon a grid operator's window reaches the chargers: from `POST …/grid-limits` (a window
starting now) until `GET …/profiles?since=<version before>` returns the new profiles, on a real
`smartcharge serve` (process solver pool, SQLite) with live sessions.

Two stored sites: the `make run` example (`workplace-20`, its base load forecast from eight weeks
of metered history, PV from its arrays) and a generated depot of `--chargers` chargers with a
given base load. Each round posts a window capping the import below what the plan draws (so the
plan must change), measures, then cancels it and lets the site settle again.

    python -m benchmarks.grid_limit_latency [--rounds 30] [--chargers 50] [--pool process]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.api_latency import serve
from benchmarks.generator import generate_problem
from smartcharge.api.seed import seed_example
from smartcharge.api.site_document import SiteDocument
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "examples" / "workplace-20.json"
TARGET_S = 2.0


def depot_document(n_chargers: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A generated depot as a stored site, and its sessions moved to now."""
    problem = generate_problem(n_chargers, seed=5, kind="depot")
    document = SiteDocument.model_validate(
        {
            "site": {**problem["site"], "id": "depot"},
            "tariff": problem["tariff"],
            "horizon": {"step_minutes": 15, "slots": 96},
            "options": {"time_limit_s": 5},
            "base_load_kw": problem["base_load_kw"],
            "pv_kw": 0.0,
        }
    ).model_dump(mode="json")
    now = datetime.now(UTC)
    shift = now - datetime.fromisoformat(problem["horizon"]["start"])
    sessions = []
    for session in problem["sessions"]:
        moved = {**session}
        for name in ("arrival", "departure"):
            moved[name] = (datetime.fromisoformat(session[name]) + shift).isoformat()
        if datetime.fromisoformat(moved["departure"]) > now + timedelta(hours=1):
            sessions.append(moved)
    return document, sessions


def wait_for_plan(client: httpx.Client, site: str, after: int, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/v1/sites/{site}/schedule")
        if response.status_code == 200 and response.json()["version"] > after:
            return response.json()
        time.sleep(0.05)
    raise TimeoutError(f"site {site} never planned past version {after}")


def settle(client: httpx.Client, site: str, quiet_s: float = 2.5) -> dict:
    """The plan once no new version has come for `quiet_s` (debounced re-plans are done)."""
    plan = wait_for_plan(client, site, 0)
    while True:
        time.sleep(quiet_s)
        latest = client.get(f"/v1/sites/{site}/schedule").json()
        if latest["version"] == plan["version"]:
            return latest
        plan = latest


def round_trip(client: httpx.Client, site: str, import_limit_kw: float) -> tuple[float, int]:
    """Seconds from the POST until the new profiles are served, and how many changed."""
    before = settle(client, site)["version"]
    start = datetime.now(UTC)
    window = {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "import_limit_kw": import_limit_kw,
        "source": "dso",
        "reason": "benchmark: curtailment signal",
    }
    posted = time.perf_counter()
    response = client.post(f"/v1/sites/{site}/grid-limits", json=window)
    response.raise_for_status()
    while True:
        delta = client.get(f"/v1/sites/{site}/profiles", params={"since": before}).json()
        if delta["version"] > before:
            elapsed = time.perf_counter() - posted
            break
        time.sleep(0.01)
    client.delete(f"/v1/sites/{site}/grid-limits/{response.json()['id']}").raise_for_status()
    return elapsed, len(delta["profiles"])


def measure(site: str, client: httpx.Client, rounds: int) -> tuple[np.ndarray, list[int]]:
    plan = settle(client, site)
    import_kw = np.array(plan["site"]["import_kw"])
    # Cap the first hour below what the plan draws then: the plan must change.
    cap = round(0.6 * float(import_kw[:4].max()), 1)
    seconds, changed = [], []
    for _ in range(rounds):
        elapsed, profiles = round_trip(client, site, cap)
        seconds.append(elapsed)
        changed.append(profiles)
        print(f"  {site}: {elapsed:.2f} s, {profiles} profiles changed", file=sys.stderr)
    return np.array(seconds), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--pool", default="process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/windows.db"
        database = open_database(url)
        seeded = seed_example(database, EXAMPLE)
        key = create_key(database, "bench")
        database.dispose()
        rows = []
        with serve(url, args.pool) as base:
            demo = {"Authorization": f"Bearer {seeded.key}"}
            with httpx.Client(base_url=base, timeout=60, headers=demo) as client:
                seconds, changed = measure(seeded.site_id, client, args.rounds)
                name = f"{seeded.site_id} (forecast base load, PV)"
                rows.append((name, seeded.sessions, seconds, changed))
            bench = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, timeout=60, headers=bench) as client:
                document, sessions = depot_document(args.chargers)
                client.post("/v1/sites", json=document).raise_for_status()
                for session in sessions:
                    client.post("/v1/sites/depot/sessions", json=session).raise_for_status()
                seconds, changed = measure("depot", client, args.rounds)
                rows.append((f"depot, {args.chargers} chargers", len(sessions), seconds, changed))
    print(
        f"POST …/grid-limits (a window from now) until profiles?since= serves the new plan; "
        f"{args.pool} solver pool, {args.rounds} rounds, {os.cpu_count()} cores"
    )
    print("| site | sessions | p50 s | p99 s | max s | within 2 s | profiles changed (median) |")
    print("|---|---|---|---|---|---|---|")
    for name, n_sessions, seconds, changed in rows:
        p50, p99 = np.percentile(seconds, 50), np.percentile(seconds, 99)
        within = 100 * np.mean(seconds <= TARGET_S)
        print(
            f"| {name} | {n_sessions} | {p50:.2f} | {p99:.2f} | {seconds.max():.2f} | "
            f"{within:.0f} % | {int(np.median(changed))} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
