"""Sessions as events from the CSMS: arrival, update (transaction started, departure, metered
energy), departure.

Every event re-plans the site, debounced (see `api.planner`); a meter value alone waits for
the next plan."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartcharge.api.deps import ClockDep, DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.planner import Planner
from smartcharge.api.site_document import compose_problem, plan_start, validate_problem
from smartcharge.api.store.database import Database
from smartcharge.api.store.sessions import (
    SESSION_FIELDS,
    SessionExists,
    add_session,
    end_session,
    live_sessions,
    record_metered_energy,
    update_session,
)
from smartcharge.api.store.tables import SessionRow, SiteRow
from smartcharge.optimizer.problem import (
    EnergyKwh,
    FieldError,
    PositiveChargerA,
    PositiveChargerKw,
    ProblemError,
    Session,
)

router = APIRouter(prefix="/v1/sites/{site_id}/sessions", tags=["sessions"])


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transaction_id: str | int | None = Field(
        default=None,
        description="the transaction the charger started for this session: from the next plan "
        "on its profile is a TxProfile for it (before, the plan rides on a TxDefaultProfile)",
    )
    departure: AwareDatetime | None = None
    energy_kwh: EnergyKwh | None = Field(
        default=None, description="the session's total request, if the driver changed it"
    )
    energy_delivered_kwh: EnergyKwh | None = Field(
        default=None, description="metered energy delivered since arrival"
    )
    max_current_a: PositiveChargerA | None = None
    max_power_kw: PositiveChargerKw | None = None
    priority: int | None = Field(default=None, ge=0, le=9)


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
    ended_at: datetime | None


class Accepted(BaseModel):
    session: SessionOut
    replan: str = Field(
        description="'scheduled': the site re-plans once the burst settles; 'with_next_plan': "
        "a meter value alone (only energy_delivered_kwh, short of the session's energy), which "
        "the site's next re-plan (its next event, or the tick) plans with"
    )


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
    if changes.keys() == {"energy_delivered_kwh"}:
        return metered(site, session_id, changes["energy_delivered_kwh"], database, planner)
    row = update_session(database, site.pk, session_id, changes, sessions_check(site, clock.now()))
    if row is None:
        raise HTTPException(404, f"no session {session_id!r}")
    planner.request(site.pk)
    return Accepted(session=session_out(row), replan="scheduled")


def metered(
    site: SiteRow, session_id: str, delivered_kwh: float, database: Database, planner: Planner
) -> Accepted:
    """A meter value alone. A CSMS sends each session's metered energy every minute or so:
    re-planning on each would keep every busy site re-planning without pause (a 60-charger
    site: every `max_wait_s`) for changes the plan already expects. The value is stored for
    the site's next plan; only the value that meets the session's request re-plans at once
    (the EV is done, its capacity goes to others)."""
    row, met = record_metered_energy(database, site.pk, session_id, delivered_kwh)
    if row is None:
        raise HTTPException(404, f"no session {session_id!r}")
    if not met:
        return Accepted(session=session_out(row), replan="with_next_plan")
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
