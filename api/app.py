"""The FastAPI application: `create_app(settings)`.

On start-up it opens (and migrates) the database, starts the solver pool, the planner and the
watch on the database; on shutdown it stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from smartcharge.api import health
from smartcharge.api.clock import Clock, SystemClock
from smartcharge.api.console import mount_console
from smartcharge.api.health import DatabaseHealth
from smartcharge.api.metrics import Metrics
from smartcharge.api.middleware import install_guards
from smartcharge.api.planner import Planner
from smartcharge.api.rate_limit import RateLimiter
from smartcharge.api.routes import (
    grid_limits,
    keys,
    measurements,
    meter_values,
    optimize,
    prices,
    schedule,
    sessions,
    sites,
    weather,
    what_if,
)
from smartcharge.api.settings import Settings
from smartcharge.api.solver_pool import make_pool
from smartcharge.api.store.database import open_database
from smartcharge.api.store.sites import all_site_keys
from smartcharge.optimizer.problem import ProblemError


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """`clock` is for tests and benchmarks that drive the service through simulated time
    (`api.clock.SimulatedClock`); a served app always runs on the system clock."""
    settings = settings or Settings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings.database_url, settings.db_lock_timeout_s)
        pool = make_pool(settings.solver_pool, settings.solver_workers, settings.solve_retries)
        metrics = Metrics()
        planner = Planner(database, pool, metrics, settings, owner=settings.instance, clock=clock)
        metrics.queue_length.set_function(lambda: pool.in_flight)
        metrics.replans_pending.set_function(lambda: planner.pending)
        app.state.database, app.state.metrics, app.state.planner = database, metrics, planner
        await planner.start()
        pool.on_retry = lambda reason: metrics.solver_retries.labels(reason).inc()
        app.state.health = DatabaseHealth(
            database, settings.health_probe_s, on_recovery=lambda: replan_every_site(planner)
        )
        await app.state.health.start()
        try:
            yield
        finally:
            await app.state.health.stop()
            await planner.stop()
            pool.close()
            database.dispose()

    app = FastAPI(
        title="smartcharge",
        description="Smart-charging schedules for charging sites, with OCPP payloads. "
        "Every /v1 call needs `Authorization: Bearer KEY` (`smartcharge keys create`).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings, app.state.clock = settings, clock
    for module in (
        optimize,
        sites,
        sessions,
        meter_values,
        measurements,
        weather,
        prices,
        grid_limits,
        schedule,
        what_if,
    ):
        app.include_router(module.router)
    app.include_router(keys.router)
    app.include_router(health.router)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    install_guards(app, settings.max_body_bytes, settings.request_timeout_s)
    mount_console(app)  # the browser console at `/`, and security headers on every response

    @app.exception_handler(ProblemError)
    def problem_error(_: Request, exc: ProblemError) -> JSONResponse:
        """Bad input is a 422 naming each field and the reason, in FastAPI's own shape."""
        detail = [
            {"loc": ["body", *e.loc], "msg": e.msg, "type": "value_error"} for e in exc.errors
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(RequestValidationError)
    def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with a NaN or infinity the client sent echoed as text: JSON has no
        such numbers, and the error about one must not become a 500."""
        return JSONResponse(
            status_code=422, content={"detail": _finite(jsonable_encoder(exc.errors()))}
        )

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus text format: solve durations, outcomes, queue length."""
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


async def replan_every_site(planner: Planner) -> None:
    """After the database was away: plans due meanwhile were not made."""
    for site_pk in await asyncio.to_thread(all_site_keys, planner.database):
        planner.request(site_pk)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
