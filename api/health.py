"""Is the service well: `/healthz` (liveness, with what is wrong) and `/readyz` (for load
balancers), from a watch on the database that never blocks a request.

`/healthz` answers 200 whenever the process does, with `status` `ok` or `degraded` and the
database's state: a restart would not bring a database back, so liveness probes should not
restart the process for it. `/readyz` answers 503 while the database is away, so a load
balancer sends the traffic to replicas that can serve it. Both are async routes: they answer
even when every worker thread waits on the database.

The watch probes the database every `period_s` on a connection of its own; a request that met
the database away asks for a probe at once. When the database comes back after a probe found
it away, every site re-plans (`on_recovery`): plans due while it was away were not made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import utc_now

log = logging.getLogger("smartcharge.health")

LOCK_REPORTED_S = 10.0  # a lock timeout keeps the database `locked` in /healthz this long
RETRY_AFTER_DOWN_S = 5


class DatabaseHealth:
    def __init__(
        self,
        database: Database,
        period_s: float,
        on_recovery: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.period_s = period_s
        self.on_recovery = on_recovery
        self.up = True
        self.error: str | None = None
        self.since: datetime = utc_now()
        self.recoveries = 0
        self._locked_at: float | None = None
        self._probe_now = asyncio.Event()
        self._task: asyncio.Task | None = None
        # One thread of its own: a probe waiting on a dead server must not wait behind, or
        # hold up, the threads requests and the planner use.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="db-probe")
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    def saw_unavailable(self, reason: str) -> None:
        """A request met the database locked or away (from any thread)."""
        if reason.startswith("locked"):
            self._locked_at = time.monotonic()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._probe_now.set)

    @property
    def state(self) -> str:
        if not self.up:
            return "down"
        if self._locked_at is not None and time.monotonic() - self._locked_at < LOCK_REPORTED_S:
            return "locked"
        return "ok"

    def report(self) -> dict[str, Any]:
        return {"state": self.state, "since": self.since.isoformat(), "error": self.error}

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            probe = loop.run_in_executor(self._executor, self.database.ping)
            try:
                await asyncio.wait_for(probe, timeout=max(self.period_s, 1.0) * 5)
                error = None
            except Exception as exc:  # the probe's whole point is to catch what fails
                error = str(exc).strip().splitlines()[0][:300] or type(exc).__name__
            await self._record(error)
            self._probe_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_now.wait(), self.period_s)

    async def _record(self, error: str | None) -> None:
        if (error is None) == self.up:
            return
        self.up, self.error, self.since = error is None, error, utc_now()
        if error is not None:
            log.error("the database is unreachable: %s", error)
            return
        self.recoveries += 1
        log.warning("the database is back: every site re-plans")
        if self.on_recovery is not None:
            try:
                await self.on_recovery()
            except Exception:
                log.exception("re-planning every site after the database came back failed")


router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness, and what is not well")
async def healthz(request: Request) -> dict[str, Any]:
    state = request.app.state
    database = state.health.report()
    return {
        "status": "ok" if database["state"] == "ok" else "degraded",
        "database": database,
        "solves_in_flight": state.planner.pool.in_flight,
        "replans_pending": state.planner.pending,
    }


@router.get(
    "/readyz",
    summary="Ready for traffic: 503 while the database is away",
    responses={503: {"description": "the database is unreachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    health: DatabaseHealth = request.app.state.health
    if health.up:
        return JSONResponse({"ready": True})
    return JSONResponse(
        {"ready": False, "database": health.report()},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_DOWN_S)},
    )
