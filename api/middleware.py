"""What every request passes through on its way in: a cap on its body, a deadline for its
answer, and the audit scope of a request that may change something. With them, the answers
the service gives when a part it stands on fails: 503 with Retry-After, never 500, never a hang.

- A body over `max_body_bytes` is refused with 413 before it is read whole: at once when its
  Content-Length says so, else as soon as that many bytes have arrived.
- A request not answered within `timeout_s` is answered 503 with Retry-After; whatever it was
  waiting for finishes in the background (a write that lands after it is not lost, and the
  client, told nothing was promised, sends it again: every write is idempotent or answers 409).
- A database that is locked or away is a 503 with Retry-After (`unavailable_reason`); a solver
  that kept dying or was abandoned is a 503 too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcharge.api.solver_pool import SolveAbandoned, SolverCrashed
from smartcharge.api.store.audit import audit_scope
from smartcharge.api.store.database import unavailable_reason

log = logging.getLogger("smartcharge.api")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_AFTER_LOCKED_S = 1
RETRY_AFTER_UNAVAILABLE_S = 5
RETRY_AFTER_TIMEOUT_S = 5
RETRY_AFTER_SOLVER_S = 30


class RequestGuard:
    """Pure ASGI middleware (no buffering of bodies, streaming responses stay streams)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self._overdue: set[asyncio.Task] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_json(send, 413, {"detail": self._too_large()})
            return
        changes = scope["method"] not in READ_METHODS
        with audit_scope(scope["method"], scope["path"]) if changes else contextlib.nullcontext():
            await self._answer_in_time(scope, self._counted(receive), send)

    def _too_large(self) -> str:
        return (
            f"the request body is over {self.max_body_bytes} bytes "
            "(SMARTCHARGE_MAX_BODY_BYTES): send it in smaller batches"
        )

    def _counted(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI passes an HTTPException from reading the body on as it is.
                    raise HTTPException(413, self._too_large())
            return message

        return counted

    async def _answer_in_time(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = overdue = False

        async def send_unless_overdue(message: Message) -> None:
            nonlocal started
            if overdue:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, send_unless_overdue))
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if task in done or started:
            await task
            return
        overdue = True
        self._overdue.add(task)
        task.add_done_callback(self._finished_late)
        log.warning("%s %s: no answer in %g s", scope["method"], scope["path"], self.timeout_s)
        detail = f"no answer within {self.timeout_s:g} s (SMARTCHARGE_REQUEST_TIMEOUT_S): try again"
        await _send_json(send, 503, {"detail": detail}, {"Retry-After": str(RETRY_AFTER_TIMEOUT_S)})

    def _finished_late(self, task: asyncio.Task) -> None:
        self._overdue.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a request answered 503 for its time failed later: %r", task.exception())


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    response = JSONResponse(body, status_code=status, headers=headers)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def install_guards(app: FastAPI, max_body_bytes: int, timeout_s: float) -> None:
    """The middleware, and the 503s for a database or a solver that failed."""
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, timeout_s=timeout_s)

    @app.exception_handler(SQLAlchemyError)
    def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        reason = unavailable_reason(exc)
        if reason is None:
            raise exc  # a bug, not an outage: the 500 and its traceback say so
        state = request.app.state
        if getattr(state, "health", None) is not None:
            state.health.saw_unavailable(reason)
        if getattr(state, "metrics", None) is not None:
            state.metrics.unavailable.labels(reason.split(":")[0]).inc()
        log.warning("%s %s: database %s", request.method, request.url.path, reason)
        retry_s = RETRY_AFTER_LOCKED_S if reason.startswith("locked") else RETRY_AFTER_UNAVAILABLE_S
        return JSONResponse(
            {"detail": f"the database is {reason}: try again"},
            status_code=503,
            headers={"Retry-After": str(retry_s)},
        )

    @app.exception_handler(SolverCrashed)
    @app.exception_handler(SolveAbandoned)
    def solver_failed(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SOLVER_S)},
        )
