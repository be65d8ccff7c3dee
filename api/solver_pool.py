"""Where solves run, off the event loop: a local process pool (default), threads (tests and
small installs), or a Dask cluster (`dask://HOST:8786`) shared by every API process."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any


class SolverPool:
    """Runs `fn(*args, **kwargs)` somewhere else and awaits the result."""

    def __init__(self) -> None:
        self.in_flight = 0

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        try:
            return await self._run(partial(fn, *args, **kwargs))
        finally:
            self.in_flight -= 1

    async def _run(self, call: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ExecutorPool(SolverPool):
    def __init__(self, make_executor: Callable[[], Executor]) -> None:
        super().__init__()
        self._make_executor = make_executor
        self._executor = make_executor()

    async def _run(self, call: Callable[[], Any]) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except BrokenProcessPool:
            # A worker died (out of memory, killed): start a fresh pool for the next solves.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._make_executor()
            raise RuntimeError("the solver process died; the next solve gets a new one") from None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class DaskPool(SolverPool):
    def __init__(self, address: str) -> None:
        from dask.distributed import Client

        super().__init__()
        self.client = Client(address, set_as_default=False)
        preload_on_workers(self.client)

    async def _run(self, call: Callable[[], Any]) -> Any:
        future = self.client.submit(call, pure=False)
        return await asyncio.to_thread(future.result)

    def close(self) -> None:
        self.client.close()


def make_pool(spec: str, workers: int) -> SolverPool:
    """`process`, `thread` or `dask://HOST:PORT` (also `tcp://HOST:PORT`)."""
    if spec == "process":
        # spawn, not fork: the server has threads (uvicorn, SQLAlchemy pools) a fork would copy.
        context = multiprocessing.get_context("spawn")
        return ExecutorPool(
            lambda: ProcessPoolExecutor(
                workers, mp_context=context, initializer=preload_solver_stack
            )
        )
    if spec == "thread":
        return ExecutorPool(lambda: ThreadPoolExecutor(workers, thread_name_prefix="solve"))
    if spec.startswith("dask://"):
        return DaskPool("tcp://" + spec.removeprefix("dask://"))
    if spec.startswith("tcp://"):
        return DaskPool(spec)
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
