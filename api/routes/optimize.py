"""`POST /v1/optimize`: a SPEC problem in, a SPEC answer out; nothing is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException

from smartcharge.api.deps import CallerDep, PlannerDep, SettingsDep
from smartcharge.api.planner import Planner
from smartcharge.api.settings import Settings
from smartcharge.api.stored_problem import StoredProblem
from smartcharge.optimizer.problem import parse_problem

router = APIRouter(prefix="/v1", tags=["optimize"])


async def solved_or_413(
    stored: StoredProblem, kind: str, planner: Planner, settings: Settings
) -> dict[str, Any]:
    """Solve in the worker pool (the event loop stays free for /healthz and reads), or 413 when
    the problem is over the size limit."""
    if stored.size > settings.max_session_slots:
        sessions, slots = len(stored.problem["sessions"]), stored.problem["horizon"]["slots"]
        raise HTTPException(
            413,
            f"{sessions} sessions x {slots} slots = {stored.size} is over the limit of "
            f"{settings.max_session_slots} (SMARTCHARGE_MAX_SESSION_SLOTS)",
        )
    answer = await planner.solve(stored, kind)
    assert answer is not None  # the size was checked above
    return answer


@router.post(
    "/optimize",
    summary="Plan one site",
    responses={413: {"description": "problem too large"}, 422: {"description": "bad input"}},
)
async def optimize(
    settings: SettingsDep,
    planner: PlannerDep,
    caller: CallerDep,
    problem: Annotated[dict[str, Any], Body(description="A problem document (SPEC §1)")],
) -> dict[str, Any]:
    """Validate, forecast what is missing, optimize and emit OCPP payloads."""
    parse_problem(problem)
    return await solved_or_413(StoredProblem(problem), "optimize", planner, settings)
