"""Several processes starting on one new database at once all come up: the migrations run
under a database lock (PostgreSQL's advisory lock, SQLite's write lock); the others wait for
it, then find the schema current. Before, one of them failed with "table tenants already
exists"."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from benchmarks.service_process import ServerProcess
from smartcharge.api.store.database import MIGRATIONS, Database, normalise_url
from smartcharge.api.store.keys import caller_for_key, list_keys
from tests.service_harness import POSTGRES_URL, fresh_database

PROCESSES = 4


def head_revision() -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def stored_revision(url: str) -> list[str]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return [
                r[0] for r in connection.execute(text("SELECT version_num FROM alembic_version"))
            ]
    finally:
        engine.dispose()


def test_parallel_keys_create_on_a_new_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path}/new.db"
    command = [sys.executable, "-m", "smartcharge.api.cli", "keys", "create", "--db", url]
    runs = [
        subprocess.Popen(
            [*command, "--tenant", "acme", "--role", "ingest"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * PROCESSES, [err for _, err in outputs]
    keys = [out.strip() for out, _ in outputs]
    database = Database(url)
    assert len(list_keys(database, "acme")) == PROCESSES  # one tenant, every key
    assert all(caller_for_key(database, key).role == "ingest" for key in keys)
    assert stored_revision(url) == [head_revision()]


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SMARTCHARGE_TEST_POSTGRES_URL")
def test_api_replicas_start_at_once_on_a_new_postgresql_database(tmp_path):
    env = {"SMARTCHARGE_SOLVER_POOL": "thread", "SMARTCHARGE_TICK_S": "0"}
    with fresh_database("postgresql", str(tmp_path)) as url:
        with ThreadPoolExecutor(3) as starting:
            servers = list(
                starting.map(
                    lambda i: ServerProcess(url, env, log=tmp_path / f"server-{i}.log"), range(3)
                )
            )
        try:
            for server in servers:
                assert httpx.get(f"{server.base}/readyz").json() == {"ready": True}
            assert stored_revision(url) == [head_revision()]
        finally:
            for server in servers:
                server.stop()


def test_the_migrations_make_the_tables_the_code_declares(database_url):
    """Migration 0005 (roles, rate limits, the audit log) matches the models, on both
    databases: nothing for autogenerate to add."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import smartcharge.api.store.audit  # noqa: F401 (its table joins the metadata)
    from smartcharge.api.store.database import open_database
    from smartcharge.api.store.tables import Base

    database = open_database(database_url)
    try:
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        database.dispose()
