"""`POST /v1/optimize`: a SPEC problem in, a SPEC answer out; nothing is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from api.service import plan
from api.settings import Settings
from optimizer.problem import parse_problem

router = APIRouter(prefix="/v1", tags=["optimize"])


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@router.post(
    "/optimize",
    summary="Plan one site",
    responses={413: {"description": "problem too large"}, 422: {"description": "bad input"}},
)
def optimize(
    settings: SettingsDep,
    problem: Annotated[dict[str, Any], Body(description="A problem document (SPEC §1)")],
) -> dict[str, Any]:
    """Validate, forecast what is missing, optimize and emit OCPP payloads.

    A plain `def`: FastAPI runs it in its thread pool, so a long solve never blocks the event
    loop and `/healthz` keeps answering.
    """
    parsed = parse_problem(problem)
    size = len(parsed.sessions) * parsed.horizon.slots
    if size > settings.max_session_slots:
        raise HTTPException(
            413,
            f"{len(parsed.sessions)} sessions x {parsed.horizon.slots} slots = {size} is over "
            f"the limit of {settings.max_session_slots} (SMARTCHARGE_MAX_SESSION_SLOTS)",
        )
    if parsed.options.time_limit_s > settings.max_time_limit_s:
        options = parsed.options.model_copy(update={"time_limit_s": settings.max_time_limit_s})
        parsed = parsed.model_copy(update={"options": options})
    return plan(parsed)[1]
