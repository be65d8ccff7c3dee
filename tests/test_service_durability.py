"""Nothing acknowledged is lost: the server is SIGKILLed in the middle of a stream of writes,
restarted on the same database, and every write it answered 2xx for is there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from tests.service_harness import arrival, site_document


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    database_url: str, port: int, pool: str | None = "thread", log: str | None = None
) -> subprocess.Popen:
    """`smartcharge serve` in its own process; settings from the environment win."""
    env = {"SMARTCHARGE_TICK_S": "0", "SMARTCHARGE_DEBOUNCE_S": "0.2", **os.environ}
    if pool is not None:
        env["SMARTCHARGE_SOLVER_POOL"] = pool
    command = [
        sys.executable,
        "-m",
        "smartcharge.api.cli",
        "serve",
        "--port",
        str(port),
        "--db",
        database_url,
    ]
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the server keeps it)
    server = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the server did not start")


def test_every_acknowledged_write_survives_a_sigkill(database_url):
    key = create_key(open_database(database_url), "acme")
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/sites"
    server = start_server(database_url, port)
    acknowledged_measurements: list[str] = []
    acknowledged_sessions: list[str] = []
    stop = threading.Event()

    def write_stream() -> None:
        start = datetime(2026, 11, 1, tzinfo=UTC)
        with httpx.Client(headers=headers, timeout=5) as client:
            for i in range(100_000):
                if stop.is_set():
                    return
                stamp = (start + timedelta(minutes=15 * i)).isoformat()
                try:
                    if i % 10 == 0:
                        session = arrival(f"s-{i}", f"cp-{(i // 10) % 40}", 5.0, hours=0.5)
                        # One session per charger at a time: end the charger's previous one.
                        previous = f"s-{i - 400}"
                        if i >= 400:
                            client.delete(f"{base}/depot/sessions/{previous}")
                        response = client.post(f"{base}/depot/sessions", json=session)
                        if response.status_code == 202:
                            acknowledged_sessions.append(session["id"])
                        continue
                    body = {"measurements": [{"time_utc": stamp, "base_load_kw": float(i)}]}
                    response = client.post(f"{base}/depot/measurements", json=body)
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not answered was not promised
                if response.status_code == 200:
                    acknowledged_measurements.append(stamp)

    try:
        with httpx.Client(headers=headers) as client:
            assert client.post(base, json=site_document("depot", chargers=40)).status_code == 201
        writer = threading.Thread(target=write_stream)
        writer.start()
        while len(acknowledged_measurements) < 150 and writer.is_alive():
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        stop.set()
        writer.join(10)
    finally:
        if server.poll() is None:
            server.kill()

    assert len(acknowledged_measurements) >= 150 and acknowledged_sessions
    server = start_server(database_url, port)
    try:
        with httpx.Client(headers=headers) as client:
            stored = client.get(f"{base}/depot/measurements").json()
            stored_stamps = {datetime.fromisoformat(m["time_utc"]) for m in stored}
            missing = [
                s
                for s in acknowledged_measurements
                if datetime.fromisoformat(s) not in stored_stamps
            ]
            assert not missing, f"{len(missing)} acknowledged measurements lost: {missing[:3]}"
            live = {s["id"] for s in client.get(f"{base}/depot/sessions").json()}
            lost = [s for s in acknowledged_sessions[-40:] if s not in live]
            assert not lost, f"acknowledged sessions lost: {lost}"
            assert client.get(f"{base}/depot").status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
