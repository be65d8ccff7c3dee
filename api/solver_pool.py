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
        return ExecutorPool(lambda: ProcessPoolExecutor(workers, mp_context=context))
    if spec == "thread":
        return ExecutorPool(lambda: ThreadPoolExecutor(workers, thread_name_prefix="solve"))
    if spec.startswith("dask://"):
        return DaskPool("tcp://" + spec.removeprefix("dask://"))
    if spec.startswith("tcp://"):
        return DaskPool(spec)
    raise ValueError(f"solver pool: expected process, thread or dask://HOST:PORT, got {spec!r}")
