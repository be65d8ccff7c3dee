"""Re-plans of stored sites: debounced after events, on a periodic tick, one at a time per site.

An event (a session arriving, a limit changed, a meter value) marks its site dirty. The planner
waits until the site has been quiet for `debounce_s` (but never longer than `max_wait_s` after
the first event), so a burst of 50 arrivals gives one solve, not 50; an urgent event (a grid
operator's window starting now) skips the wait. Before solving it takes the site's lease in the
database, so API processes sharing one database never plan a site twice at once; a plan that
started after the newest event already answers it, and is not repeated. Each tick re-plans every
site and prunes what retention no longer keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from smartcharge.api.clock import Clock, SystemClock
from smartcharge.api.metrics import Metrics
from smartcharge.api.pooled_solve import solve_in_pool
from smartcharge.api.settings import Settings
from smartcharge.api.solver_pool import BACKGROUND, INTERACTIVE, SolverPool
from smartcharge.api.store.database import Database, unavailable_reason
from smartcharge.api.store.retention import prune_before
from smartcharge.api.store.schedules import latest_schedule, store_schedule
from smartcharge.api.store.sites import acquire_lease, all_site_keys, release_lease, site_by_pk
from smartcharge.api.store.tables import utc_now
from smartcharge.api.stored_problem import StoredProblem, stored_problem

log = logging.getLogger("smartcharge.planner")

MAX_RETRY_DELAY_S = 30.0


class Planner:
    def __init__(
        self,
        database: Database,
        pool: SolverPool,
        metrics: Metrics,
        settings: Settings,
        owner: str,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.pool = pool
        self.metrics = metrics
        self.settings = settings
        self.owner = owner
        self.clock = clock or SystemClock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first_event: dict[int, float] = {}
        self._last_event: dict[int, float] = {}
        self._requested_at: dict[int, datetime] = {}
        self._urgent: set[int] = set()
        self._wake: dict[int, asyncio.Event] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._tick_task: asyncio.Task | None = None
        self._failures: dict[int, int] = {}  # consecutive re-plans the database failed

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Plans made before this process started may be stale: re-plan every site once.
        for site_pk in await asyncio.to_thread(all_site_keys, self.database):
            self.request(site_pk)
        if self.settings.tick_s > 0:
            self._tick_task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._tick_task] if self._tick_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def request(self, site_pk: int, urgent: bool = False) -> None:
        """Mark a site dirty; `urgent` plans it without waiting for the burst to settle. Safe
        to call from any thread (routes run in a thread pool)."""
        if self._loop is None:
            raise RuntimeError("planner not started")
        requested_at = utc_now()
        self._loop.call_soon_threadsafe(self._mark, site_pk, requested_at, urgent)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def tick_from_thread(self, timeout_s: float = 600) -> None:
        """Run one tick from another thread and wait for it: a simulation's clock moved."""
        if self._loop is None:
            raise RuntimeError("planner not started")
        asyncio.run_coroutine_threadsafe(self.tick_once(), self._loop).result(timeout_s)

    def settle_from_thread(self, timeout_s: float = 600) -> None:
        """Wait, from another thread, until every re-plan requested so far is done (requests
        reach the loop in order, so the check runs after the last of them is marked)."""
        if self._loop is None:
            raise RuntimeError("planner not started")

        async def settled() -> None:
            while self._tasks:
                await asyncio.sleep(0.005)

        asyncio.run_coroutine_threadsafe(settled(), self._loop).result(timeout_s)

    def _mark(self, site_pk: int, requested_at: datetime, urgent: bool = False) -> None:
        now = time.monotonic()
        self._first_event.setdefault(site_pk, now)
        self._last_event[site_pk] = now
        self._requested_at[site_pk] = max(
            requested_at, self._requested_at.get(site_pk, requested_at)
        )
        if urgent:
            self._urgent.add(site_pk)
            if site_pk in self._wake:
                self._wake[site_pk].set()
        if site_pk not in self._tasks:
            self._tasks[site_pk] = asyncio.create_task(self._debounced(site_pk))

    async def _debounced(self, site_pk: int) -> None:
        wake = self._wake.setdefault(site_pk, asyncio.Event())
        try:
            while site_pk in self._first_event:
                due = min(
                    self._last_event[site_pk] + self.settings.debounce_s,
                    self._first_event[site_pk] + self.settings.max_wait_s,
                )
                delay = 0.0 if site_pk in self._urgent else due - time.monotonic()
                if delay > 0:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), delay)
                    continue
                del self._first_event[site_pk]
                self._urgent.discard(site_pk)
                try:
                    await self.replan(site_pk, self._requested_at[site_pk])
                except Exception as exc:
                    self._failed(site_pk, exc)
                else:
                    self._failures.pop(site_pk, None)
        finally:
            self._tasks.pop(site_pk, None)
            self._wake.pop(site_pk, None)

    def _failed(self, site_pk: int, exc: Exception) -> None:
        """A re-plan that failed because the database is away is tried again, backing off
        (its events are still unanswered); any other failure waits for the next event or tick."""
        reason = unavailable_reason(exc)
        if reason is None or self._loop is None:
            log.error("re-plan of site %s failed", site_pk, exc_info=exc)
            self.metrics.solves.labels("replan", "error").inc()
            return
        failures = self._failures[site_pk] = self._failures.get(site_pk, 0) + 1
        delay_s = min(2.0 ** (failures - 1), MAX_RETRY_DELAY_S)
        log.warning("re-plan of site %s: database %s; again in %g s", site_pk, reason, delay_s)
        self.metrics.solves.labels("replan", "unavailable").inc()
        self._loop.call_later(delay_s, self._mark, site_pk, self._requested_at[site_pk])

    async def replan(self, site_pk: int, requested_at: datetime) -> None:
        """Plan a site now, under its lease, unless a plan started after `requested_at`."""
        if not await self._take_lease(site_pk):
            return
        try:
            latest = await asyncio.to_thread(latest_schedule, self.database, site_pk)
            if latest is not None and latest.started_at >= requested_at:
                log.info(
                    "site %s: plan v%d (%s) already answers the events",
                    site_pk,
                    latest.version,
                    latest.planned_by,
                )
                return
            started_at = utc_now()
            site = await asyncio.to_thread(site_by_pk, self.database, site_pk)
            if site is None:
                return
            stored = await asyncio.to_thread(stored_problem, self.database, site, self.clock.now())
            answer = await self.solve(stored, "replan")
            if answer is None:
                return
            stored_schedule = await asyncio.to_thread(
                store_schedule,
                self.database,
                site_pk,
                stored.problem,
                answer,
                started_at,
                utc_now(),
                self.owner,
            )
            log.info(
                "site %s: planned v%d (%s, %d sessions)",
                site_pk,
                stored_schedule.version,
                answer["status"],
                len(stored.problem["sessions"]),
            )
        finally:
            await asyncio.to_thread(release_lease, self.database, site_pk, self.owner)

    async def solve(self, stored: StoredProblem, kind: str) -> dict | None:
        """Solve in the pool with the time limit capped; None (and a metric) when too large."""
        if stored.size > self.settings.max_session_slots:
            log.warning("site %s too large to plan: %d", stored.problem["site"]["id"], stored.size)
            self.metrics.solves.labels(kind, "too_large").inc()
            return None
        options = stored.problem.setdefault("options", {})
        options["time_limit_s"] = min(
            options.get("time_limit_s", self.settings.max_time_limit_s),
            self.settings.max_time_limit_s,
        )
        started = time.perf_counter()
        answer = await solve_in_pool(
            self.pool,
            stored.problem,
            stored.histories,
            options["time_limit_s"],
            self.settings.solve_grace_s,
            BACKGROUND if kind == "replan" else INTERACTIVE,
        )
        self.metrics.solve_seconds.labels(kind).observe(time.perf_counter() - started)
        self.metrics.solves.labels(kind, answer["status"]).inc()
        return answer

    async def _take_lease(self, site_pk: int) -> bool:
        """Wait for the site's lease; False if the site is gone."""
        while True:
            until = utc_now() + timedelta(seconds=self.settings.lease_ttl_s)
            if await asyncio.to_thread(acquire_lease, self.database, site_pk, self.owner, until):
                return True
            if await asyncio.to_thread(site_by_pk, self.database, site_pk) is None:
                return False
            await asyncio.sleep(self.settings.lease_retry_s)

    async def _tick(self) -> None:
        """Tick aligned to the wall clock (slot boundaries)."""
        while True:
            period_s = self.settings.tick_s
            await asyncio.sleep(period_s - time.time() % period_s)
            try:
                await self.tick_once()
            except Exception:
                log.exception("tick failed")

    async def tick_once(self) -> None:
        """What each tick does: re-plan every site (its horizon moved on), then prune what
        retention no longer keeps, in short batches that let writes through between them."""
        for site_pk in await asyncio.to_thread(all_site_keys, self.database):
            self.request(site_pk)
        if self.settings.retention_days:
            cutoff = self.clock.now() - timedelta(days=self.settings.retention_days)
            pruned = await asyncio.to_thread(
                prune_before, self.database, cutoff, self.settings.retention_batch_rows
            )
            if any(pruned.values()):
                log.info("pruned rows older than %s: %s", cutoff.isoformat(), pruned)
