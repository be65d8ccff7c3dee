"""`POST /v1/sites/{id}/what-if`: a plan under overridden limits, tariff, sessions or weather;
nothing stored changes (energy managers trying limits before they set them)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from smartcharge.api.deps import ClockDep, DatabaseDep, PlannerDep, SettingsDep, SiteDep
from smartcharge.api.routes.optimize import solved_or_413
from smartcharge.api.routes.weather import WeatherIn
from smartcharge.api.site_document import merge, session_document, validate_problem
from smartcharge.api.stored_problem import stored_problem
from smartcharge.optimizer.problem import Session, SupportedTime

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["what-if"])


class WhatIf(BaseModel):
    """Overrides laid over the stored site: objects merge key by key, circuits and chargers by
    id (`{"site": {"grid": {"import_limit_kw": 200}}}` changes only that limit)."""

    model_config = ConfigDict(extra="forbid")
    site: dict[str, Any] | None = None
    tariff: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    horizon: dict[str, Any] | None = None
    base_load_kw: float | list[float] | None = None
    pv_kw: float | list[float] | None = None
    weather: WeatherIn | None = Field(
        default=None,
        description="a weather forecast (SPEC §1 `weather`) in place of the stored one",
    )
    sessions: list[Session] | None = Field(
        default=None, description="replace the live sessions (default: the stored ones)"
    )
    add_sessions: list[Session] = Field(default_factory=list, description="extra sessions")
    at: SupportedTime | None = Field(default=None, description="plan as of (default: now)")


@router.post("/what-if", summary="A plan under overrides, storing nothing")
async def what_if(
    body: WhatIf,
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    overrides = body.model_dump(
        include={"site", "tariff", "options", "horizon", "base_load_kw", "pv_kw"},
        exclude_none=True,
    )
    document = merge(site.document, overrides)
    sessions = None if body.sessions is None else [session_document(s) for s in body.sessions]
    stored = await asyncio.to_thread(
        stored_problem, database, site, body.at or clock.now(), None, sessions, document
    )
    stored.problem["sessions"] += [session_document(s) for s in body.add_sessions]
    if body.weather is not None:
        stored.problem["weather"] = body.weather.model_dump(mode="json", exclude_none=True)
        stored.histories["weather"] = None
    validate_problem(stored.problem)
    return await solved_or_413(stored, "what_if", planner, settings)
