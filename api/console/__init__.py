"""The console: a browser UI for energy managers, served by the API process at `/`.

`mount_console(app)` adds its pages and fragments, its static files (the vendored htmx and uPlot,
with their licences) and the security headers every response carries. It needs Jinja2 (the
`console` extra); without it the API runs and `/` says which extra to install.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from smartcharge.api.console.security import SecurityHeaders

MISSING_EXTRA = "The console needs the 'console' extra: pip install 'smartcharge[console]'"


def console_available() -> bool:
    try:
        import jinja2  # noqa: F401
    except ImportError:
        return False
    return True


def mount_console(app: FastAPI) -> None:
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, relaxed_paths=[p for p in docs if p])
    if not console_available():
        logging.getLogger("smartcharge.console").warning(MISSING_EXTRA)

        @app.get("/", include_in_schema=False)
        def missing_console() -> PlainTextResponse:
            return PlainTextResponse(MISSING_EXTRA, status_code=503)

        return
    from fastapi.staticfiles import StaticFiles

    from smartcharge.api.console.pages import STATIC_PATH, router

    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=Path(__file__).parent / "static"), "console")
