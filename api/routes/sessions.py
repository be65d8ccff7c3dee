"""Sessions as events from the CSMS: arrival, update (transaction started, departure, metered
energy), departure.

Every event re-plans the site, debounced (see `api.planner`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat

from smartcharge.api.deps import ClockDep, DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.site_document import compose_problem, plan_start, validate_problem
from smartcharge.api.store.sessions import (
    SESSION_FIELDS,
    SessionExists,
    add_session,
    end_session,
    live_sessions,
    update_session,
)
from smartcharge.api.store.tables import SessionRow, SiteRow
from smartcharge.optimizer.problem import Discharge, FieldError, ProblemError, Session

router = APIRouter(prefix="/v1/sites/{site_id}/sessions", tags=["sessions"])


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transaction_id: str | int | None = Field(
        default=None,
        description="the transaction the charger started for this session: from the next plan "
        "on its profile is a TxProfile for it (before, the plan rides on a TxDefaultProfile)",
    )
    departure: AwareDatetime | None = None
    energy_kwh: NonNegativeFloat | None = Field(
        default=None, description="the session's total request, if the driver changed it"
    )
    energy_delivered_kwh: NonNegativeFloat | None = Field(
        default=None, description="metered energy delivered since arrival"
    )
    max_current_a: PositiveFloat | None = None
    max_power_kw: PositiveFloat | None = None
    priority: int | None = Field(default=None, ge=0, le=9)
    discharge: Discharge | None = Field(
        default=None,
        description="V2G on a bidirectional charger (SPEC §4): what the EV may feed back from "
        "now on, e.g. once the driver agreed",
    )


class SessionOut(BaseModel):
    id: str
    charger_id: str
    transaction_id: str | None
    arrival: datetime
    departure: datetime
    energy_kwh: float
    energy_delivered_kwh: float
    max_current_a: float | None
    max_power_kw: float | None
    phases: int | None
    priority: int
    discharge: Discharge | None = None
    ended_at: datetime | None


class Accepted(BaseModel):
    session: SessionOut
    replan: str = Field(description="'scheduled': the site re-plans once the burst settles")


def session_out(row: SessionRow) -> SessionOut:
    values = {name: getattr(row, name) for name in SESSION_FIELDS}
    if values["transaction_id"] is not None:
        values["transaction_id"] = str(values["transaction_id"])
    return SessionOut(
        id=row.session_id,
        energy_delivered_kwh=row.energy_delivered_kwh,
        ended_at=row.ended_at,
        **values,
    )


def sessions_check(site: SiteRow, now: datetime) -> Any:
    """A check that the site, with these live sessions, still poses a valid problem at `now`;
    errors on the session being written (the last one) are reported at the request body's
    fields."""

    def check(sessions: list[dict[str, Any]]) -> None:
        start = plan_start(now, site.document.get("horizon", {}).get("step_minutes", 15))
        if datetime.fromisoformat(sessions[-1]["departure"]) <= now:
            raise ProblemError(
                [FieldError(loc=("departure",), msg="is in the past: DELETE ends a session")]
            )
        problem = compose_problem(site.document, sessions, start)
        validate_problem(problem, prefix=("sessions", len(problem["sessions"]) - 1))

    return check


@router.get("", summary="Live sessions", response_model=list[SessionOut])
def list_live(site: SiteDep, database: DatabaseDep) -> list[SessionOut]:
    return [session_out(row) for row in live_sessions(database, site.pk)]


@router.post("", status_code=202, summary="An EV arrived", response_model=Accepted)
def arrive(
    body: Session, site: SiteDep, database: DatabaseDep, planner: PlannerDep, clock: ClockDep
) -> Accepted:
    values = body.model_dump()
    if values["transaction_id"] is not None:
        values["transaction_id"] = str(values["transaction_id"])
    try:
        row = add_session(database, site.pk, values, sessions_check(site, clock.now()))
    except SessionExists:
        raise HTTPException(409, f"session {body.id!r} exists: PATCH updates it") from None
    planner.request(site.pk)
    return Accepted(session=session_out(row), replan="scheduled")


@router.patch("/{session_id}", summary="A session changed", response_model=Accepted)
def change(
    session_id: str,
    body: Annotated[SessionUpdate, Body()],
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> Accepted:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise field_error([], "nothing to change: give at least one field")
    if "transaction_id" in changes:
        changes["transaction_id"] = str(changes["transaction_id"])
    row = update_session(database, site.pk, session_id, changes, sessions_check(site, clock.now()))
    if row is None:
        raise HTTPException(404, f"no session {session_id!r}")
    planner.request(site.pk)
    return Accepted(session=session_out(row), replan="scheduled")


@router.delete("/{session_id}", status_code=204, summary="The EV left")
def depart(
    session_id: str, site: SiteDep, database: DatabaseDep, planner: PlannerDep, clock: ClockDep
) -> Response:
    if end_session(database, site.pk, session_id, at=clock.now()) is None:
        raise HTTPException(404, f"no session {session_id!r}")
    planner.request(site.pk)
    return Response(status_code=204)
