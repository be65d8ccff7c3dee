"""Sessions as events from the CSMS: arrival (departure and energy may be unknown), update
(transaction started, the driver's or ISO 15118's departure and energy, metered energy),
departure; and one session as the service knows it, with what its meter values taught.

Every event re-plans the site, debounced (see `api.planner`); a meter value alone waits for
the next plan."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from smartcharge.api.deps import ClockDep, DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.planner import Planner
from smartcharge.api.site_document import compose_problem, plan_start, validate_problem
from smartcharge.api.store.database import Database
from smartcharge.api.store.meter_values import count_meter_values
from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sessions import (
    SESSION_FIELDS,
    SessionExists,
    add_session,
    end_session,
    get_session,
    live_sessions,
    record_metered_energy,
    update_session,
)
from smartcharge.api.store.tables import SessionRow, SiteRow
from smartcharge.optimizer.problem import (
    Discharge,
    EnergyKwh,
    FieldError,
    PositiveChargerA,
    PositiveChargerKw,
    ProblemError,
    Session,
    SupportedTime,
)

router = APIRouter(prefix="/v1/sites/{site_id}/sessions", tags=["sessions"])


class SessionUpdate(BaseModel):
    """A change the CSMS learnt. `departure` and `energy_kwh` from the driver (an app, a
    kiosk) or from ISO 15118 replace the engine's estimates (SPEC §6). OCPP 2.0.1
    `NotifyEVChargingNeedsRequest.chargingNeeds` maps as: `departureTime` → `departure`;
    `acChargingParameters.energyAmount` (or `dcChargingParameters.energyAmount`), in Wh and
    counted from when it is sent → `energy_kwh` = `energy_delivered_kwh` so far +
    energyAmount / 1000; `evMaxCurrent` → `max_current_a`; `requestedEnergyTransfer`
    `AC_single_phase` / `AC_two_phase` / `AC_three_phase` → `phases` 1 / 2 / 3."""

    model_config = ConfigDict(extra="forbid")
    transaction_id: str | int | None = Field(
        default=None,
        description="the transaction the charger started for this session: from the next plan "
        "on its profile is a TxProfile for it (before, the plan rides on a TxDefaultProfile)",
    )
    departure: SupportedTime | None = Field(
        default=None, description="when the driver leaves (ISO 15118 departureTime)"
    )
    energy_kwh: EnergyKwh | None = Field(
        default=None,
        description="the session's total request since arrival, if the driver or the EV told "
        "it (ISO 15118 energyAmount plus what was delivered before it was sent)",
    )
    phases: Literal[1, 2, 3] | None = Field(
        default=None, description="from ISO 15118 requestedEnergyTransfer"
    )
    energy_delivered_kwh: EnergyKwh | None = Field(
        default=None, description="metered energy delivered since arrival"
    )
    max_current_a: PositiveChargerA | None = None
    max_power_kw: PositiveChargerKw | None = None
    priority: int | None = Field(default=None, ge=0, le=9)
    discharge: Discharge | None = Field(
        default=None,
        description="V2G on a bidirectional charger (SPEC §4): what the EV may feed back from "
        "now on, e.g. once the driver agreed",
    )


class InferenceOut(BaseModel):
    time: datetime
    kind: str = Field(description="phases, ev_max, ev_max_cleared, ev_full or resumed")
    value: float | int | bool | None
    reason: str


class LearntOut(BaseModel):
    """What the session's meter values taught about its EV (SPEC §6)."""

    phases: int | None = Field(description="the phases it was seen drawing on")
    max_current_a: float | None = Field(description="the most it was seen taking, per phase")
    full: bool = Field(description="seen full or paused: nothing is planned for it")
    log: list[InferenceOut]


class SessionOut(BaseModel):
    id: str
    charger_id: str
    transaction_id: str | None
    arrival: datetime
    departure: datetime | None = Field(description="null: not told, estimated by each plan")
    energy_kwh: float | None = Field(description="null: not told, estimated by each plan")
    energy_delivered_kwh: float
    max_current_a: float | None
    max_power_kw: float | None
    phases: int | None
    priority: int
    discharge: Discharge | None = None
    ended_at: datetime | None
    estimated: list[str] = Field(description="the fields each plan estimates for it")
    learnt: LearntOut


class Accepted(BaseModel):
    session: SessionOut
    replan: str = Field(
        description="'scheduled': the site re-plans once the burst settles; 'with_next_plan': "
        "a meter value alone (only energy_delivered_kwh, short of the session's energy), which "
        "the site's next re-plan (its next event, or the tick) plans with"
    )


class SessionDetail(SessionOut):
    estimate: dict[str, Any] | None = Field(
        description="what the latest plan estimated for it (SPEC §6), if anything"
    )
    limited_by: list[dict[str, Any]] = Field(description="the latest plan's reasons (SPEC §2)")
    meter_values: int = Field(description="how many meter readings are stored")


def session_out(row: SessionRow) -> SessionOut:
    values = {name: getattr(row, name) for name in SESSION_FIELDS}
    if values["transaction_id"] is not None:
        values["transaction_id"] = str(values["transaction_id"])
    return SessionOut(
        id=row.session_id,
        energy_delivered_kwh=row.energy_delivered_kwh,
        ended_at=row.ended_at,
        estimated=[n for n in ("departure", "energy_kwh") if values[n] is None],
        learnt=LearntOut(
            phases=row.ev_phases,
            max_current_a=row.ev_max_current_a,
            full=bool(row.ev_full),
            log=[InferenceOut(**entry) for entry in row.ev_log or []],
        ),
        **values,
    )


def sessions_check(site: SiteRow, now: datetime) -> Any:
    """A check that the site, with these live sessions, still poses a valid problem at `now`;
    errors on the session being written (the last one) are reported at the request body's
    fields."""

    def check(sessions: list[dict[str, Any]]) -> None:
        start = plan_start(now, site.document.get("horizon", {}).get("step_minutes", 15))
        departure = sessions[-1].get("departure")
        if departure is not None and datetime.fromisoformat(departure) <= now:
            raise ProblemError(
                [FieldError(loc=("departure",), msg="is in the past: DELETE ends a session")]
            )
        problem = compose_problem(site.document, sessions, start)
        validate_problem(problem, prefix=("sessions", len(problem["sessions"]) - 1))

    return check


@router.get("", summary="Live sessions", response_model=list[SessionOut])
def list_live(site: SiteDep, database: DatabaseDep) -> list[SessionOut]:
    return [session_out(row) for row in live_sessions(database, site.pk)]


@router.get(
    "/{session_id}", summary="One session, with what was learnt", response_model=SessionDetail
)
def read_session(session_id: str, site: SiteDep, database: DatabaseDep) -> SessionDetail:
    row = get_session(database, site.pk, session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id!r}")
    latest = latest_schedule(database, site.pk)
    entry = next(
        (s for s in (latest.answer["sessions"] if latest else []) if s["id"] == session_id), {}
    )
    return SessionDetail(
        **session_out(row).model_dump(),
        estimate=entry.get("estimate"),
        limited_by=entry.get("limited_by", []),
        meter_values=count_meter_values(database, site.pk, session_id),
    )


# Learnt by the service from meter values, not told by the CSMS (see `POST …/meter`).
_LEARNT_FIELDS = ("energy_delivered_kwh", "ev_max_current_a", "ev_full", "departure_early")


@router.post("", status_code=202, summary="An EV arrived", response_model=Accepted)
def arrive(
    body: Session, site: SiteDep, database: DatabaseDep, planner: PlannerDep, clock: ClockDep
) -> Accepted:
    """`departure` and `energy_kwh` may be left out: each plan estimates them (SPEC §6)."""
    for name in _LEARNT_FIELDS:
        if name in body.model_fields_set:
            raise field_error([name], "is not stored by the service: meter values teach it")
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
