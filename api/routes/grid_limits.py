"""Grid-operator windows (SPEC §5): a DSO's curtailment signal, a flexibility call, a planned
maintenance window, a §14a EnWG dimming. Within [start, end) every plan uses the tighter of the
window's and the site's limits; a window in force now re-plans the site at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from smartcharge.api.deps import CallerDep, ClockDep, DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.planner import Planner
from smartcharge.api.store.grid_limits import (
    add_window,
    cancel_window,
    get_window,
    window_history,
    windows_in_force,
)
from smartcharge.api.store.tables import GridLimitWindow, SiteRow
from smartcharge.optimizer.problem import SupportedTime

router = APIRouter(prefix="/v1/sites/{site_id}/grid-limits", tags=["grid-operator limits"])

Status = Literal["scheduled", "active", "ended", "cancelled"]
LIMITS = ("import_limit_kw", "export_limit_kw", "phase_limit_a")


class GridLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: SupportedTime
    end: SupportedTime = Field(description="exclusive")
    import_limit_kw: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    export_limit_kw: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    phase_limit_a: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    source: str = Field(
        default="dso",
        min_length=1,
        max_length=100,
        description="who set it: dso, tso, aggregator, operator, …",
    )
    reason: str | None = Field(default=None, max_length=500)


class GridLimitOut(BaseModel):
    id: int
    start: datetime
    end: datetime
    import_limit_kw: float | None
    export_limit_kw: float | None
    phase_limit_a: float | None
    source: str
    reason: str | None
    status: Status = Field(description="as of now: scheduled, active, ended or cancelled")
    created_at: datetime
    created_by: str
    cancelled_at: datetime | None
    cancelled_by: str | None


def window_out(row: GridLimitWindow, now: datetime) -> GridLimitOut:
    if row.cancelled_at is not None:
        status: Status = "cancelled"
    elif row.end_utc <= now:
        status = "ended"
    elif row.start_utc <= now:
        status = "active"
    else:
        status = "scheduled"
    return GridLimitOut(
        id=row.id,
        start=row.start_utc.astimezone(UTC),
        end=row.end_utc.astimezone(UTC),
        import_limit_kw=row.import_limit_kw,
        export_limit_kw=row.export_limit_kw,
        phase_limit_a=row.phase_limit_a,
        source=row.source,
        reason=row.reason,
        status=status,
        created_at=row.created_at,
        created_by=row.created_by,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
    )


def replan_for(planner: Planner, site: SiteRow, row: GridLimitWindow, now: datetime) -> None:
    """A window in force within the next slot re-plans at once (the chargers must follow it
    now, not after a debounce); a later one re-plans debounced; an ended one changes no plan."""
    if row.end_utc <= now:
        return
    step = timedelta(minutes=site.document.get("horizon", {}).get("step_minutes", 15))
    planner.request(site.pk, urgent=row.start_utc <= now + step)


@router.post(
    "", status_code=201, summary="A grid operator's cap for a time", response_model=GridLimitOut
)
def post_window(
    body: GridLimitIn,
    site: SiteDep,
    database: DatabaseDep,
    caller: CallerDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> GridLimitOut:
    if body.end <= body.start:
        raise field_error(["end"], "must be after start")
    if all(getattr(body, limit) is None for limit in LIMITS):
        raise field_error([], f"give at least one of {', '.join(LIMITS)}")
    values = body.model_dump(exclude={"start", "end"})
    row = add_window(
        database, site.pk, {**values, "start_utc": body.start, "end_utc": body.end}, caller.name
    )
    now = clock.now()
    replan_for(planner, site, row, now)
    return window_out(row, now)


@router.get(
    "",
    summary="Windows in force now or later (what plans use)",
    response_model=list[GridLimitOut],
)
def list_windows(site: SiteDep, database: DatabaseDep, clock: ClockDep) -> list[GridLimitOut]:
    now = clock.now()
    return [window_out(row, now) for row in windows_in_force(database, site.pk, now)]


@router.get(
    "/history",
    summary="Every window, cancelled and ended ones too, in the order posted",
    response_model=list[GridLimitOut],
)
def history(site: SiteDep, database: DatabaseDep, clock: ClockDep) -> list[GridLimitOut]:
    now = clock.now()
    return [window_out(row, now) for row in window_history(database, site.pk)]


@router.get("/{window_id}", summary="One window", response_model=GridLimitOut)
def read_window(
    window_id: int, site: SiteDep, database: DatabaseDep, clock: ClockDep
) -> GridLimitOut:
    row = get_window(database, site.pk, window_id)
    if row is None:
        raise HTTPException(404, f"no grid-limit window {window_id}")
    return window_out(row, clock.now())


@router.delete("/{window_id}", status_code=204, summary="Cancel a window (kept as history)")
def delete_window(
    window_id: int,
    site: SiteDep,
    database: DatabaseDep,
    caller: CallerDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> Response:
    """Plans stop using it; cancelling a cancelled window again changes nothing."""
    cancelled = cancel_window(database, site.pk, window_id, caller.name)
    if cancelled is None:
        raise HTTPException(404, f"no grid-limit window {window_id}")
    row, now_cancelled = cancelled
    if now_cancelled:
        replan_for(planner, site, row, clock.now())
    return Response(status_code=204)
