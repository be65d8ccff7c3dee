"""One writer at a time in this process, before SQLite is asked.

SQLite has one write lock per database. When threads of one process contend for it, the losers
wait in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) instead of waking
when the lock is free: under a few hundred writes a second, writes queue behind sleepers and
latency climbs to seconds. So a process's writers queue on a Python lock instead, taken just
before a transaction's first write (where SQLite would take its own) and released when it
commits or rolls back. Readers never wait (WAL); other processes (the CLI, a second API
process) still meet SQLite's busy handler. Waiting longer than the lock timeout raises SQLite's
own "database is locked", which the API answers with 503.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

HELD = "smartcharge_holds_write_lock"
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE")


def serialize_writers(engine: Engine, timeout_s: float) -> None:
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(HELD) or not statement.lstrip()[:15].upper().startswith(WRITES):
            return
        wait_s = conn.info.get("write_lock_wait_s", timeout_s)
        if not lock.acquire(timeout=wait_s):
            raise OperationalError(statement, None, sqlite3.OperationalError("database is locked"))
        conn.info[HELD] = True

    def _release(info: dict) -> None:
        if info.pop(HELD, False):
            lock.release()

    @event.listens_for(engine, "commit")
    def _after_commit(conn: Any) -> None:
        _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _after_rollback(conn: Any) -> None:
        _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        _release(record.info)  # a connection given back without commit or rollback
