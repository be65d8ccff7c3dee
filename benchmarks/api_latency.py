"""Latency of `POST /v1/optimize` on loopback: a real `smartcharge serve`, N requests.

python -m benchmarks.api_latency [--chargers 50] [--requests 100]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import httpx
import numpy as np

from benchmarks.generator import generate_problem


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
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
        problem = generate_problem(args.chargers, seed=1)
        seconds = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.post("/v1/optimize", json=problem)
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
        ms = 1000 * np.array(seconds)
        print(
            f"POST /v1/optimize, {args.chargers} chargers x 96 slots, {args.requests} requests "
            f"on loopback: p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms, "
            f"max {ms.max():.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
