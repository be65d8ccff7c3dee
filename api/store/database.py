"""The database handle: an engine for a URL (SQLite embedded by default, PostgreSQL by URL),
its migrations (alembic), and short transactions.

SQLite runs in WAL mode with `synchronous=FULL`, so a write acknowledged to a client survives a
killed process; PostgreSQL is durable on commit by default.

Waiting is bounded everywhere: SQLite's lock, a PostgreSQL connection attempt and a free
connection in the pool all give up after `lock_timeout_s`, so a locked or absent database is an
error the API answers with 503 (`unavailable_reason`), not a request that hangs. Migrations run
under a database lock (PostgreSQL's advisory lock, SQLite's write lock): processes starting on
one new database at once wait for the first, then find the schema current.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from smartcharge.api.store import DEFAULT_URL
from smartcharge.api.store.sqlite_writers import serialize_writers

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_LOCK_TIMEOUT_S = 5.0
# How long a process waits for another one's migrations (a first start on a large database).
MIGRATION_WAIT_S = 600
# pg_advisory_xact_lock key of the migrations: any constant bigint, the same in every process.
MIGRATION_LOCK_KEY = 0x736D61727463  # "smartc"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 (the driver we ship), not psycopg2."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(
    url: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S, pooled: bool = True
) -> Engine:
    """`pooled=False`: a new connection each time (a health probe must not queue for the
    connections a busy server holds)."""
    url = normalise_url(url)
    pooling: dict[str, Any] = {"poolclass": NullPool}
    if make_url(url).get_backend_name() != "sqlite":
        if pooled:
            pooling = {"pool_size": 10, "max_overflow": 20, "pool_timeout": lock_timeout_s}
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, round(lock_timeout_s))},
            **pooling,
        )
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if pooled:  # a connection for each request thread (40) and the planner's: none reopened
        pooling = {"pool_size": 20, "max_overflow": 40, "pool_timeout": lock_timeout_s}
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": lock_timeout_s}, **pooling
    )
    serialize_writers(engine, lock_timeout_s)
    busy_timeout_ms = round(lock_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot serve right now (a 503, worth retrying), or None when `exc` is
    not about reaching the database (a bug, a constraint: not for a retry to fix)."""
    if isinstance(exc, PoolTimeout):
        return "busy: no free database connection in time"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "unavailable: the connection to the database was lost"
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    message = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
    if "sqlite" in type(exc.orig).__module__:
        # SQLite's OperationalError also means a missing table or bad SQL: only a lock or the
        # file itself are the database being unavailable.
        if "locked" in message or "busy" in message:
            return "locked: another process holds the database's write lock"
        if "disk i/o" in message.lower() or "unable to open" in message:
            return f"unavailable: {message}"
        return None
    return f"unavailable: {message}"


class Database:
    def __init__(self, url: str = DEFAULT_URL, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S):
        self.url = normalise_url(url)
        self.lock_timeout_s = lock_timeout_s
        self.engine = make_engine(self.url, lock_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._probe_engine: Engine | None = None

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there already), holding
        the database's migration lock: a second process waits, then finds nothing to do."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            _take_migration_lock(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self.engine.dispose()  # the migration's connection waited longer than requests may

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> None:
        """One round trip on a connection of its own; raises when the database does not answer."""
        if self._probe_engine is None:
            self._probe_engine = make_engine(self.url, self.lock_timeout_s, pooled=False)
        with self._probe_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._probe_engine is not None:
            self._probe_engine.dispose()


def _take_migration_lock(connection: Connection) -> None:
    """Held until the migration's transaction ends. SQLite: BEGIN IMMEDIATE takes the write
    lock before alembic reads its version table (the sqlite3 module would begin only at the
    first INSERT, and runs DDL outside any transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        return
    connection.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATION_WAIT_S * 1000}")
    connection.info["write_lock_wait_s"] = MIGRATION_WAIT_S
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def open_database(
    url: str = DEFAULT_URL, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Database:
    database = Database(url, lock_timeout_s)
    database.migrate()
    return database
