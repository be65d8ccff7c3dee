"""`smartcharge serve` in a process of its own, on a database of its own, for the load harness
and the fault tests: a fresh database (a SQLite file, or a new database on a PostgreSQL server),
the server on a free loopback port, its memory and its database's size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from benchmarks.postgres_cluster import free_port
from smartcharge.api.store.database import normalise_url


@contextmanager
def new_database(kind: str, directory: Path, postgres_url: str | None = None) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in `directory`, or a database created on
    the server at `postgres_url` (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/smartcharge-{uuid.uuid4().hex[:8]}.db"
        return
    if postgres_url is None:
        raise ValueError("PostgreSQL needs a server URL (--postgres-url)")
    # A connection per statement: the server may have restarted in between (an outage run).
    admin = create_engine(
        normalise_url(postgres_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = f"sc_load_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(postgres_url)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ServerProcess:
    """A running `smartcharge serve`; `env` adds SMARTCHARGE_* settings."""

    def __init__(
        self, database_url: str, env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "smartcharge.api.cli", "serve"]
        command += ["--port", str(self.port), "--db", database_url]
        environment = {**os.environ, **(env or {})}
        output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the server keeps it)
        self.process = subprocess.Popen(command, env=environment, stdout=output, stderr=output)
        self._wait_until_serving()

    def _wait_until_serving(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("the server did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """The API process's resident memory (its solver workers are `worker_rss_mb`)."""
        return psutil.Process(self.pid).memory_info().rss / 2**20

    def worker_pids(self) -> list[int]:
        """The solver pool's processes (spawned children; not the resource tracker)."""
        children = psutil.Process(self.pid).children(recursive=True)
        return [c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline())]

    def worker_rss_mb(self) -> float:
        return sum(psutil.Process(pid).memory_info().rss for pid in self.worker_pids()) / 2**20

    def cpu_s(self) -> float:
        """CPU seconds the API process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def stop(self, timeout_s: float = 60) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def database_size_mb(url: str) -> float:
    """What the database holds on disk: the SQLite file with its WAL, or pg_database_size."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            return size.scalar_one() / 2**20
    finally:
        engine.dispose()
