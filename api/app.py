"""The FastAPI application: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routes import optimize
from api.settings import Settings
from optimizer.problem import ProblemError


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="smartcharge",
        description="Smart-charging schedules for charging sites, with OCPP payloads.",
        version="0.1.0",
    )
    app.state.settings = settings or Settings()
    app.include_router(optimize.router)

    @app.exception_handler(ProblemError)
    def problem_error(_: Request, exc: ProblemError) -> JSONResponse:
        """Bad input is a 422 naming each field and the reason, in FastAPI's own shape."""
        detail = [
            {"loc": ["body", *e.loc], "msg": e.msg, "type": "value_error"} for e in exc.errors
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
