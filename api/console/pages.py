"""The console's routes: page shells (no data, no key needed) and the fragments htmx loads into
them with the key.

A page is served to anyone: it holds only the site id from its own URL. Every number comes from
a fragment (rendered here from the same functions the JSON routes call) or from the JSON API
itself (charts, and every change: limits go through `PATCH /v1/sites/{id}/limits`, so a key's
role is checked in one place). Fragments carry the key in `Authorization: Bearer` like any API
call: a wrong key is the API's own 401, which brings the sign-in back.

CSRF is moot here: nothing is authorised by a cookie or by the browser's ambient credentials.
The key lives in the tab's sessionStorage and travels only in a header that a cross-site form or
image cannot set, and a cross-site script cannot read it (same-origin policy, no CORS headers).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from smartcharge.api.console import views
from smartcharge.api.deps import CallerDep, DatabaseDep, SiteDep
from smartcharge.api.routes.schedule import profiles
from smartcharge.api.routes.sites import history
from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sites import list_sites

STATIC_PATH = "/console/static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["pathseg"] = lambda value: quote(str(value), safe="")


def _number(value: float | None, digits: int = 1) -> str:
    """Rounded to what a meter can tell (0.1 kW, 0.1 A), thousands set apart by a thin space."""
    return "—" if value is None else f"{value:,.{digits}f}".replace(",", "\u202f")


def _limit_value(value: Any) -> str:
    """A stored limit as the history shows it: a number, a per-slot series, or none."""
    if value is None:
        return "none"
    if isinstance(value, list):
        return f"per slot, {_number(min(value))}–{_number(max(value))}" if value else "per slot"
    return _number(float(value))


def _local(moment: datetime, timezone: str, pattern: str = "%d %b %H:%M:%S %Z") -> str:
    """A stored UTC time on a site's wall clock."""
    return moment.astimezone(ZoneInfo(timezone)).strftime(pattern).lstrip("0")


templates.env.filters["num"] = _number
templates.env.filters["local"] = _local
templates.env.filters["limit_value"] = _limit_value

router = APIRouter(include_in_schema=False)
SITE_TABS = [("plan", "Plan", ""), ("forecast", "Forecast", "/forecast")]
SITE_TABS += [("limits", "Limits", "/limits"), ("what-if", "What-if", "/what-if")]
SITE_TABS += [("ocpp", "OCPP", "/ocpp")]


def _render(request: Request, template: str, **context: Any) -> HTMLResponse:
    context.setdefault("static", request.scope.get("root_path", "") + STATIC_PATH)
    response = templates.TemplateResponse(request, template, context)
    # Tenant data and pages alike: never from a shared or back-forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
def sites_page(request: Request) -> HTMLResponse:
    return _render(request, "sites.html", page="sites")


def _site_page(template: str, page: str) -> Callable[..., HTMLResponse]:
    def site_page(request: Request, site_id: str) -> HTMLResponse:
        return _render(request, template, page=page, site_id=site_id, tabs=SITE_TABS)

    return site_page


for _page, _, _suffix in SITE_TABS:
    router.add_api_route(
        f"/sites/{{site_id}}{_suffix}",
        _site_page(f"{_page.replace('-', '_')}.html", _page),
        response_class=HTMLResponse,
        methods=["GET"],
    )


# Fragments: the key is checked by the same dependencies as /v1 (CallerDep, SiteDep).


@router.get("/console/sites", response_class=HTMLResponse)
def sites_fragment(request: Request, database: DatabaseDep, caller: CallerDep) -> HTMLResponse:
    statuses = []
    for row in list_sites(database, caller.tenant_id):
        plan = latest_schedule(database, row.pk)
        statuses.append(
            views.site_status(
                row.site_id,
                row.document,
                plan.version if plan else None,
                plan.started_at if plan else None,
                plan.answer if plan else None,
            )
        )
    return _render(request, "_sites.html", sites=views.problems_first(statuses))


@router.get("/console/sites/{site_id}/summary", response_class=HTMLResponse)
def summary_fragment(request: Request, site: SiteDep, database: DatabaseDep) -> HTMLResponse:
    plan = latest_schedule(database, site.pk)
    status = views.site_status(
        site.site_id,
        site.document,
        plan.version if plan else None,
        plan.started_at if plan else None,
        plan.answer if plan else None,
    )
    kpis = plan.answer["kpis"] if plan else {}
    currency = site.document.get("tariff", {}).get("currency", "")
    return _render(request, "_summary.html", status=status, kpis=kpis, currency=currency)


@router.get("/console/sites/{site_id}/sessions", response_class=HTMLResponse)
def sessions_fragment(request: Request, site: SiteDep, database: DatabaseDep) -> HTMLResponse:
    plan = latest_schedule(database, site.pk)
    rows = []
    if plan is not None:
        timezone = site.document["site"].get("timezone", "UTC")
        rows = views.session_rows(plan.problem, plan.answer, timezone)
    return _render(
        request,
        "_sessions.html",
        plan=plan,
        rows=rows,
        horizon=plan.problem["horizon"] if plan else None,
    )


@router.get("/console/sites/{site_id}/limits-form", response_class=HTMLResponse)
def limits_form_fragment(request: Request, site: SiteDep) -> HTMLResponse:
    grid = site.document["site"]["grid"]
    circuits = site.document["site"].get("circuits", [])
    return _render(request, "_limits_form.html", site_id=site.site_id, grid=grid, circuits=circuits)


@router.get("/console/sites/{site_id}/limits-history", response_class=HTMLResponse)
def history_fragment(request: Request, site: SiteDep, database: DatabaseDep) -> HTMLResponse:
    changes = list(reversed(history(site, database)))  # newest first
    timezone = site.document["site"].get("timezone", "UTC")
    return _render(request, "_history.html", changes=changes, timezone=timezone)


@router.get("/console/sites/{site_id}/ocpp", response_class=HTMLResponse)
def ocpp_fragment(request: Request, site: SiteDep, database: DatabaseDep) -> HTMLResponse:
    plan = latest_schedule(database, site.pk)
    if plan is None:
        return _render(request, "_ocpp.html", plan=None)
    since = plan.version - 1 if plan.version > 1 else None
    delta = profiles(site, database, since=since)
    clock = views.Clock.of(plan.problem["horizon"], site.document["site"].get("timezone", "UTC"))
    chargers = views.profiles_by_charger(plan.answer.get("ocpp", []), delta.profiles, clock)
    return _render(request, "_ocpp.html", plan=plan, delta=delta, chargers=chargers)
