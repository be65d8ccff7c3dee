"""How soon a full battery's capacity is offered to the others: from the `POST …/meter` whose
readings show a charging EV drawing ~0 for the second time until `GET …/profiles?since=<version
before>` serves the new plan, on a real `smartcharge serve` (SQLite) with a generated depot of
`--chargers` chargers and its sessions. The service's part only: on a site the whole delay is
this plus one meter interval (the charger's `MeterValueSampleInterval`), the time until the
second reading at ~0 is taken.

Each round picks a session the plan charges, posts two readings at ~0 on an offer of its planned
current (`Current.Offered`; the site re-plans at once: the urgent path, not the debounce),
measures, then posts two readings drawing again (resumed, a debounced re-plan) and lets the
site settle.

    python -m benchmarks.full_battery_latency [--rounds 30] [--chargers 50] [--pool process]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np

from benchmarks.api_latency import serve
from benchmarks.grid_limit_latency import depot_document, settle
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key

SITE = "depot"


def readings(current_a: float, offered_a: float, at: datetime) -> dict:
    return {
        "readings": [
            {
                "time": (at + timedelta(seconds=i)).isoformat(),
                "current_a": [current_a] * 3,
                "offered_a": offered_a,
            }
            for i in range(2)
        ]
    }


def round_trip(client: httpx.Client, session_id: str, offered_a: float) -> tuple[float, int]:
    """Seconds from the POST of the full readings until the new profiles are served."""
    before = settle(client, SITE)["version"]
    at = datetime.now(UTC)
    posted = time.perf_counter()
    answer = client.post(f"/v1/sites/{SITE}/sessions/{session_id}/meter",
                         json=readings(0.0, offered_a, at))  # fmt: skip
    answer.raise_for_status()
    assert answer.json()["replan"] == "now", answer.text
    while True:
        delta = client.get(f"/v1/sites/{SITE}/profiles", params={"since": before}).json()
        if delta["version"] > before:
            elapsed = time.perf_counter() - posted
            break
        time.sleep(0.01)
    resumed = readings(offered_a, offered_a, at + timedelta(seconds=5))
    client.post(f"/v1/sites/{SITE}/sessions/{session_id}/meter", json=resumed).raise_for_status()
    return elapsed, len(delta["profiles"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--pool", default="process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/full.db"
        key = create_key(open_database(url), "bench")
        with (
            serve(url, args.pool) as base,
            httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"})
            as client,
        ):  # fmt: skip
            document, sessions = depot_document(args.chargers)
            # Every EV plugged in already (the depot's evening): each can be seen full.
            plugged = datetime.now(UTC) - timedelta(minutes=10)
            sessions = [
                {**s, "arrival": min(datetime.fromisoformat(s["arrival"]), plugged).isoformat()}
                for s in sessions
            ]
            client.post("/v1/sites", json=document).raise_for_status()
            for session in sessions:
                client.post(f"/v1/sites/{SITE}/sessions", json=session).raise_for_status()
            seconds, changed = [], []
            for i in range(args.rounds):
                plan = settle(client, SITE)
                planned = [s for s in plan["sessions"] if s["current_a"] and max(s["current_a"])]
                session = planned[i % len(planned)]
                elapsed, profiles = round_trip(client, session["id"], max(session["current_a"]))
                seconds.append(elapsed)
                changed.append(profiles)
                print(f"  {session['id']}: {elapsed:.2f} s, {profiles} profiles", file=sys.stderr)
    seconds_ = np.array(seconds)
    print(
        f"POST …/meter (a charging EV at ~0 A for the second reading) until profiles?since= "
        f"serves the new plan; {args.pool} solver pool, {args.rounds} rounds, "
        f"{os.cpu_count()} cores"
    )
    print("| site | sessions | p50 s | p99 s | max s | profiles changed (median) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| depot, {args.chargers} chargers | {len(sessions)} | "
        f"{np.percentile(seconds_, 50):.2f} | {np.percentile(seconds_, 99):.2f} | "
        f"{seconds_.max():.2f} | {int(np.median(changed))} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
