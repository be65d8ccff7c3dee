"""A throw-away PostgreSQL cluster of our own (initdb + pg_ctl from the Debian package, as
`.ci/run` installs it) on a free loopback port: a database that a fault test or the load harness
may stop and start at will, never a server anyone else uses.

    with PostgresCluster.started(directory) as cluster:
        url = cluster.url          # postgresql://postgres@127.0.0.1:PORT/postgres
        cluster.stop()             # clients are disconnected, new connections refused
        cluster.start()
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed server's bin/ directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self, data_dir: Path, port: int, bin_dir: Path) -> None:
        self.data_dir, self.port, self.bin_dir = data_dir, port, bin_dir
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    @classmethod
    @contextmanager
    def started(cls, directory: str | Path | None = None) -> Iterator[PostgresCluster]:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server installed (apt-get install postgresql)")
        parent = Path(directory or tempfile.gettempdir())
        data_dir = Path(tempfile.mkdtemp(prefix="smartcharge-pg-", dir=parent))
        cluster = cls(data_dir, free_port(), bin_dir)
        try:
            if os.getuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
                shutil.chown(data_dir, "postgres")
            cluster._run("initdb", "-D", str(data_dir), "-A", "trust", "-U", "postgres")
            cluster.start()
            yield cluster
        finally:
            cluster.stop(mode="immediate", check=False)
            shutil.rmtree(data_dir, ignore_errors=True)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=on"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast", check: bool = True) -> None:
        """`fast`: sessions are disconnected and the server shuts down cleanly (what an upgrade
        or a restart does); `immediate`: as if it crashed."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=check)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.getuid() == 0:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", subprocess.list2cmdline(command)]
        subprocess.run(command, check=check, capture_output=True, timeout=120)
