"""Request dependencies: settings, database, planner, the calling tenant and its site."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from smartcharge.api.access import TELEMETRY, allows, forbidden_message
from smartcharge.api.clock import Clock
from smartcharge.api.planner import Planner
from smartcharge.api.rate_limit import retry_after_header
from smartcharge.api.settings import Settings
from smartcharge.api.store.audit import current_scope
from smartcharge.api.store.database import Database
from smartcharge.api.store.keys import Caller, caller_for_key
from smartcharge.api.store.sites import get_site
from smartcharge.api.store.tables import SiteRow

bearer = HTTPBearer(auto_error=False, description="An API key from `smartcharge keys create`")


# Async, though they wait for nothing: FastAPI runs a sync dependency in a worker thread, and
# three thread hops a request cost more than the lookups themselves.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_planner(request: Request) -> Planner:
    return request.app.state.planner


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
PlannerDep = Annotated[Planner, Depends(get_planner)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def get_caller(
    request: Request,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The key's tenant and role, if the key may make this call now (401, 403 or 429 if not)."""
    caller = _authenticated(database, credentials)
    wait_s = request.app.state.rate_limiter.take(caller.key_prefix, caller.rate_limit_per_s)
    if wait_s > 0:
        request.app.state.metrics.rate_limited.inc()
        rate = caller.rate_limit_per_s or request.app.state.rate_limiter.rate_per_s
        raise HTTPException(
            429,
            f"key {caller.key_prefix}… is over its rate of {rate:g} requests/s: slow down",
            headers=retry_after_header(wait_s),
        )
    method, route = request.method, request.scope["route"].path
    if not allows(caller.role, method, route):
        raise HTTPException(403, forbidden_message(caller.role, method, route))
    scope = current_scope()
    if scope is not None and (method, route) not in TELEMETRY:
        site_id = request.path_params.get("site_id")
        scope.identify(caller.tenant_id, caller.name, caller.key_prefix, caller.role, site_id)
    return caller


def _authenticated(database: Database, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer KEY' (smartcharge keys create)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = caller_for_key(database, credentials.credentials)
    if caller is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_site_row(
    database: DatabaseDep,
    caller: CallerDep,
    site_id: Annotated[str, Path(description="the site's id (SPEC site.id)")],
) -> SiteRow:
    """The caller's site; another tenant's site is as absent as one that does not exist."""
    site = get_site(database, caller.tenant_id, site_id)
    if site is None:
        raise HTTPException(404, f"no site {site_id!r}")
    return site


SiteDep = Annotated[SiteRow, Depends(get_site_row)]
