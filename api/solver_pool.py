"""Where solves run, off the event loop: a local process pool (default), threads (tests and
small installs), or a Dask cluster (`dask://HOST:8786`) shared by every API process.

Solver processes die (out of memory, killed by an operator) and solves hang. A solve whose
worker died is retried on a fresh one (`retries` times: the site keeps its previous plan
meanwhile, and `on_retry("worker_lost")` counts it); one still running at its deadline is
abandoned (`SolveAbandoned`): its workers are killed and replaced, and the caller decides what
to answer instead. A problem that kills its worker every time ends in `SolverCrashed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import multiprocessing
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

log = logging.getLogger("smartcharge.solver_pool")


class SolverCrashed(RuntimeError):
    """The solver's process died on every attempt at this problem."""


class SolveAbandoned(RuntimeError):
    """A solve still running at its deadline: given up, its worker killed."""


# Calls a person waits for (what-if, optimize) go before background re-plans.
INTERACTIVE, BACKGROUND = 0, 1


class SolverPool:
    """Runs `fn(*args, **kwargs)` somewhere else and awaits the result."""

    def __init__(self, retries: int = 2) -> None:
        self.in_flight = 0
        self.retries = retries
        self.on_retry: Callable[[str], None] = lambda reason: None

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        deadline_s: float | None = None,
        priority: int = BACKGROUND,
        **kwargs: Any,
    ) -> Any:
        """`fn(*args, **kwargs)`; SolveAbandoned if it is not done `deadline_s` after it
        started, SolverCrashed if its process died more than `retries` times. Waiting calls
        start by `priority` (INTERACTIVE first), then in the order they came."""
        self.in_flight += 1
        try:
            return await self._run(partial(fn, *args, **kwargs), deadline_s, priority)
        finally:
            self.in_flight -= 1

    async def _run(self, call: Callable[[], Any], deadline_s: float | None, priority: int) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _warm_up() -> None:
    """Submitted once per worker of a fresh executor, so its processes start (and preload the
    solver stack, `preload_solver_stack`) at once rather than at the first solve."""


# How long a call waits for a fresh executor's workers to start before its deadline counts
# anyway (a start-up that slow is a machine in trouble; the call then runs as it can).
WARM_UP_WAIT_S = 300.0


class PriorityGate:
    """At most `slots` holders at once; waiters enter by (priority, arrival)."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
            try:
                await turn  # the slot is handed over by the holder that leaves
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._leave()  # handed over as it was cancelled: pass it on
                else:
                    self._waiting = [w for w in self._waiting if w[2] is not turn]
                    heapq.heapify(self._waiting)
                raise
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        while self._waiting:
            *_, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class ExecutorPool(SolverPool):
    """At most `workers` calls are handed to the executor at once (the others wait here, by
    priority), so a call starts when it is handed over to a started worker, and its deadline
    counts from there."""

    def __init__(
        self, make_executor: Callable[[], Executor], workers: int, retries: int = 2
    ) -> None:
        super().__init__(retries)
        self._make_executor = make_executor
        self._workers = workers
        self._slots = PriorityGate(workers)
        self._warming: list[Future] = []
        self._executor = self._start()

    def _start(self) -> Executor:
        executor = self._make_executor()
        self._warming = []
        if isinstance(executor, ProcessPoolExecutor):
            self._warming = [executor.submit(_warm_up) for _ in range(self._workers)]
        return executor

    async def _started(self) -> None:
        """Until the executor's workers have started: a worker's start-up (a new process, its
        imports, a warm-up plan: 20-30 s on a busy 2-core machine) is not the solve's time,
        and a deadline counting it abandoned the fallback after a hung solve as well."""
        warming = [f for f in self._warming if not f.done()]
        if warming:
            await asyncio.to_thread(wait_for_futures, warming, WARM_UP_WAIT_S)

    async def _run(self, call: Callable[[], Any], deadline_s: float | None, priority: int) -> Any:
        loop = asyncio.get_running_loop()
        async with self._slots.slot(priority):
            for attempt in range(self.retries + 1):
                await self._started()
                executor = self._executor
                try:
                    future = loop.run_in_executor(executor, call)
                    done, _ = await asyncio.wait({future}, timeout=deadline_s)
                    if future in done:
                        return future.result()
                except BrokenProcessPool:
                    # A worker died (out of memory, killed): this executor is done for, every
                    # call on it fails alike; the first to notice starts a fresh one.
                    self._renew(executor)
                    if attempt < self.retries:
                        log.warning("a solver process died: the solve is retried on a fresh one")
                        self.on_retry("worker_lost")
                    continue
                future.cancel()
                self._renew(executor, kill=True)
                self.on_retry("abandoned")
                raise SolveAbandoned(f"the solve was still running after {deadline_s:g} s")
        raise SolverCrashed(
            f"the solver process died {self.retries + 1} times on this problem "
            "(out of memory?): no plan was made"
        )

    def _renew(self, executor: Executor, kill: bool = False) -> None:
        if executor is not self._executor:
            return
        if kill:
            _kill_workers(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _kill_workers(executor: Executor) -> None:
    """A process's solve cannot be cancelled, only its process killed (threads run on)."""
    kill = getattr(executor, "kill_workers", None)  # Python 3.14
    if kill is not None:
        kill()
        return
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()


class DaskPool(SolverPool):
    """Dask itself retries a task whose worker died (`distributed.scheduler.allowed-failures`)."""

    def __init__(self, address: str, retries: int = 2) -> None:
        from dask.distributed import Client

        super().__init__(retries)
        self.client = Client(address, set_as_default=False)
        preload_on_workers(self.client)

    async def _run(self, call: Callable[[], Any], deadline_s: float | None, priority: int) -> Any:
        from distributed import KilledWorker

        # Dask runs higher priorities first.
        future = self.client.submit(call, pure=False, priority=-priority)
        try:
            return await asyncio.to_thread(future.result, deadline_s)
        except KilledWorker as exc:
            raise SolverCrashed(f"the solve killed its Dask workers: {exc}") from None
        except TimeoutError:
            if future.done():
                raise
            future.cancel()
            self.on_retry("abandoned")
            raise SolveAbandoned(f"the solve was still running after {deadline_s:g} s") from None

    def close(self) -> None:
        self.client.close()


def make_pool(spec: str, workers: int, retries: int = 2) -> SolverPool:
    """`process`, `thread` or `dask://HOST:PORT` (also `tcp://HOST:PORT`)."""
    if spec == "process":
        # spawn, not fork: the server has threads (uvicorn, SQLAlchemy pools) a fork would copy.
        context = multiprocessing.get_context("spawn")
        return ExecutorPool(
            lambda: ProcessPoolExecutor(
                workers, mp_context=context, initializer=preload_solver_stack
            ),
            workers,
            retries,
        )
    if spec == "thread":
        return ExecutorPool(
            lambda: ThreadPoolExecutor(workers, thread_name_prefix="solve"), workers, retries
        )
    if spec.startswith("dask://"):
        return DaskPool("tcp://" + spec.removeprefix("dask://"), retries)
    if spec.startswith("tcp://"):
        return DaskPool(spec, retries)
    raise ValueError(f"solver pool: expected process, thread or dask://HOST:PORT, got {spec!r}")


# A site small enough to plan in milliseconds, with every part of the path in it: validation,
# the model, HiGHS, rounding, explanations and the OCPP payloads (and their schemas).
_WARM_UP_PROBLEM: dict[str, Any] = {
    "site": {
        "id": "warm-up",
        "grid": {"import_limit_kw": 11.0, "phase_limit_a": 20.0},
        "circuits": [{"id": "panel", "limit_kw": 11.0}],
        "chargers": [
            {"id": "ac", "circuit": "panel", "max_current_a": 16.0},
            {"id": "ac-2", "circuit": "panel", "max_current_a": 16.0, "ocpp_version": "2.0.1"},
        ],
    },
    "horizon": {"start": "2026-01-01T00:00:00+00:00", "step_minutes": 15, "slots": 4},
    "tariff": {"import_price_per_kwh": [0.3, 0.2, 0.1, 0.2]},
    "sessions": [
        {
            "id": f"s-{c}",
            "charger_id": c,
            "arrival": "2026-01-01T00:00:00+00:00",
            "departure": "2026-01-01T01:00:00+00:00",
            "energy_kwh": 8.0,
            "transaction_id": 1,
        }
        for c in ("ac", "ac-2")
    ],
}


def preload_solver_stack() -> None:
    """Import the solver stack and plan a tiny site once, in a fresh solver process or Dask
    worker, so that its first real site pays no imports and no first-use costs (0.3-0.5 s)."""
    from smartcharge.api.service import plan

    plan(_WARM_UP_PROBLEM)


def preload_on_workers(client: Any) -> None:
    """Every worker of `client`'s cluster, present and future, preloads the solver stack."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SolverStackPreload(WorkerPlugin):
        name = "smartcharge-solver-stack"

        def setup(self, worker: Any) -> None:
            preload_solver_stack()

    client.register_plugin(SolverStackPreload())
