"""Latency of `POST /v1/optimize` on loopback: a real `smartcharge serve` (with a key, on a
fresh SQLite database), a warm-up request, then N requests; once per solver pool, side by side.

python -m benchmarks.api_latency [--chargers 50] [--requests 100] [--pools process,thread]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np

from benchmarks.generator import generate_problem
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(url: str, pool: str) -> Iterator[str]:
    """`smartcharge serve` on `url` (a database) and a free port, solving in `pool`, without
    ticks; the base URL once it answers."""
    port = free_port()
    env = {**os.environ, "SMARTCHARGE_SOLVER_POOL": pool, "SMARTCHARGE_TICK_S": "0"}
    command = ["serve", "--port", str(port), "--db", url]
    server = subprocess.Popen(
        [sys.executable, "-m", "smartcharge.api.cli", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def measure(pool: str, problem: dict, requests: int) -> np.ndarray:
    """Milliseconds per request against a server solving in `pool`."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/latency.db"
        headers = {"Authorization": f"Bearer {create_key(open_database(url), 'bench')}"}
        seconds = []
        with (
            serve(url, pool) as base,
            httpx.Client(base_url=base, timeout=60, headers=headers) as client,
        ):
            client.post("/v1/optimize", json=problem).raise_for_status()  # warm-up
            for _ in range(requests):
                started = time.perf_counter()
                response = client.post("/v1/optimize", json=problem)
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
    return 1000 * np.array(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--pools", default="process,thread")
    args = parser.parse_args(argv)
    problem = generate_problem(args.chargers, seed=1)
    print(f"POST /v1/optimize, {args.chargers} chargers x 96 slots, {args.requests} requests")
    print("| solver pool | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    for pool in args.pools.split(","):
        ms = measure(pool, problem, args.requests)
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(f"| {pool} | {p50:.0f} | {p99:.0f} | {ms.max():.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
