"""The console: a browser UI for energy managers, served by the API process at `/`.

`mount_console(app)` adds its pages and fragments, its static files (the vendored htmx and uPlot,
with their licences) and the security headers every response carries.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from smartcharge.api.console.pages import STATIC_PATH, router
from smartcharge.api.console.security import SecurityHeaders


def mount_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=Path(__file__).parent / "static"), "console")
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, relaxed_paths=[p for p in docs if p])
