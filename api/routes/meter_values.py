"""`POST /v1/sites/{id}/sessions/{sid}/meter`: what OCPP `MeterValues` carry for a session's
connector (SPEC §6), batched, idempotent by timestamp.

A CSMS forwards each `sampledValue` it gets, by measurand: `Current.Import` per phase
(`current_a`: the charger's L1, L2, L3), `Power.Active.Import` (`power_kw`),
`Energy.Active.Import.Register` (`energy_register_kwh`), `SoC` (`soc_pct`) and, where the
charger reports it, `Current.Offered` / `Power.Offered` (`offered_a` / `offered_kw`). Without
an offer, the limit of the plan's profile in force at the reading's time stands in for it.

What the readings teach (`optimizer.ev_learning`: phases, the EV's maximum current, a full or
paused battery) re-plans the site: at once when a battery is seen full (its capacity goes to the
others within one reading and one solve, the grid operator's urgent path), debounced otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartcharge.api.deps import DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.ocpp.delta import profile_of
from smartcharge.api.routes.sessions import LearntOut, session_out
from smartcharge.api.store.database import Database
from smartcharge.api.store.meter_values import CURRENT_COLUMNS, add_meter_values
from smartcharge.api.store.schedules import schedule_in_force
from smartcharge.api.store.sessions import get_session
from smartcharge.api.store.tables import SessionRow, SiteRow
from smartcharge.optimizer.ev_learning import EvSpec, EvState
from smartcharge.optimizer.problem import DEFAULT_VOLTAGE_V, SupportedTime

router = APIRouter(prefix="/v1/sites/{site_id}/sessions/{session_id}", tags=["meter values"])

# Far above any charger: a larger number is a unit mistake (W for kW, Wh for kWh).
MAX_CURRENT_A = 1000.0
MAX_POWER_KW = 2000.0
MAX_REGISTER_KWH = 1e9
Amperes = Annotated[float, Field(ge=0, le=MAX_CURRENT_A, allow_inf_nan=False)]
Kilowatts = Annotated[float, Field(ge=0, le=MAX_POWER_KW, allow_inf_nan=False)]


class MeterReadingIn(BaseModel):
    """One sample of the connector's meter; any of the measurands, at least one."""

    model_config = ConfigDict(extra="forbid")
    time: SupportedTime = Field(description="when it was measured, with its offset")
    current_a: list[Amperes | None] | None = Field(
        default=None,
        min_length=1,
        max_length=3,
        description="Current.Import per phase: the charger's L1, L2, L3 (null: not measured)",
    )
    power_kw: Kilowatts | None = Field(default=None, description="Power.Active.Import")
    energy_register_kwh: float | None = Field(
        default=None,
        ge=0,
        le=MAX_REGISTER_KWH,
        allow_inf_nan=False,
        description="Energy.Active.Import.Register: the meter's total, not since arrival",
    )
    soc_pct: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    offered_a: Amperes | None = Field(default=None, description="Current.Offered, per phase")
    offered_kw: Kilowatts | None = Field(default=None, description="Power.Offered")

    @model_validator(mode="after")
    def _measures_something(self) -> MeterReadingIn:
        if not self.model_fields_set - {"time", "offered_a", "offered_kw"}:
            raise ValueError(
                "give at least one of current_a, power_kw, energy_register_kwh, soc_pct"
            )
        return self


class MeterBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    readings: list[MeterReadingIn] = Field(min_length=1, max_length=10_000)


class MeterAccepted(BaseModel):
    stored: int = Field(description="readings new to the store")
    repeated: int = Field(description="readings whose time was already stored (kept as stored)")
    energy_delivered_kwh: float
    learnt: LearntOut
    replan: str = Field(
        description="'now': a battery was seen full, the site re-plans at once; 'scheduled': "
        "what is believed about the EV changed, re-planned once the burst settles; 'none'"
    )


@router.post(
    "/meter",
    summary="Meter values of the session's connector",
    response_model=MeterAccepted,
    responses={404: {"description": "no such session at this site"}},
)
def post_meter_values(
    session_id: str,
    body: MeterBatchIn,
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
) -> MeterAccepted:
    row = get_session(database, site.pk, session_id)
    if row is None:
        # As for PATCH and DELETE; a session of another site is as absent as none at all.
        raise HTTPException(404, f"no session {session_id!r} at site {site.site_id!r}")
    _check_times(body.readings, row)
    spec = ev_spec(site, row)
    offers = _Offers(database, site.pk, session_id, spec)
    rows = [_row(reading, offers) for reading in body.readings]
    result = add_meter_values(database, site.pk, session_id, rows, spec)
    if result is None:  # ended and deleted between the two reads
        raise HTTPException(404, f"no session {session_id!r} at site {site.site_id!r}")
    replan = "none"
    if result.session.ended_at is None:
        if result.after.full and not result.before.full:
            planner.request(site.pk, urgent=True)
            replan = "now"
        elif _believed(result.after) != _believed(result.before):
            planner.request(site.pk)
            replan = "scheduled"
    out = session_out(result.session)
    return MeterAccepted(
        stored=result.stored,
        repeated=result.repeated,
        energy_delivered_kwh=result.session.energy_delivered_kwh,
        learnt=out.learnt,
        replan=replan,
    )


def _believed(state: EvState) -> tuple:
    return (state.phases, state.max_current_a, state.full)


def _check_times(readings: list[MeterReadingIn], row: SessionRow) -> None:
    """422 for a reading before the EV arrived, or two readings of one time in a batch."""
    first: dict[datetime, int] = {}
    for i, reading in enumerate(readings):
        if reading.time < row.arrival:
            raise field_error(
                ["readings", i, "time"],
                f"{reading.time.isoformat()} is before the session's arrival "
                f"{row.arrival.isoformat()}",
            )
        if reading.time in first:
            raise field_error(
                ["readings", i, "time"], f"repeats readings[{first[reading.time]}]'s time"
            )
        first[reading.time] = i


def ev_spec(site: SiteRow, row: SessionRow) -> EvSpec:
    """What learning needs of the session's charger (the site's stored document)."""
    document_site = site.document["site"]
    charger = next((c for c in document_site["chargers"] if c["id"] == row.charger_id), {})
    return EvSpec(
        charger_phases=int(charger.get("phases", 3)),
        min_current_a=float(charger.get("min_current_a", 6.0)),
        voltage_v=float(document_site["grid"].get("voltage_v", DEFAULT_VOLTAGE_V)),
        is_dc=charger.get("kind", "ac") == "dc",
        min_power_kw=float(charger.get("min_power_kw", 0.0)),
        given_phases=row.phases,
    )


def _row(reading: MeterReadingIn, offers: _Offers) -> dict[str, Any]:
    currents = list(reading.current_a or []) + [None] * (3 - len(reading.current_a or []))
    offered_a, offered_kw = reading.offered_a, reading.offered_kw
    if offered_a is None and offered_kw is None:
        offered_a, offered_kw = offers.at(reading.time)
    return {
        "time_utc": reading.time,
        **dict(zip(CURRENT_COLUMNS, currents, strict=True)),
        "power_kw": reading.power_kw,
        "energy_register_kwh": reading.energy_register_kwh,
        "soc_pct": reading.soc_pct,
        "offered_a": offered_a,
        "offered_kw": offered_kw,
    }


class _Offers:
    """The limit the charger had for the session at a time: its profile in the plan that was in
    force then (the latest stored before it), as A per phase (AC) or kW (DC)."""

    def __init__(self, database: Database, site_pk: int, session_id: str, spec: EvSpec) -> None:
        self.database, self.site_pk, self.session_id, self.spec = (
            database,
            site_pk,
            session_id,
            spec,
        )
        self._plans: dict[int, Any] = {}

    def at(self, time: datetime) -> tuple[float | None, float | None]:
        schedule = schedule_in_force(self.database, self.site_pk, time, self._plans)
        if schedule is None:
            return None, None
        messages = [
            m
            for m in schedule.answer.get("ocpp", [])
            if m.get("session_id") == self.session_id and m.get("action") == "SetChargingProfile"
        ]
        for message in messages:
            effect = profile_of(message).limit_at(time)
            if effect is None:
                continue
            # OCPP 2.1 CentralSetpoint (V2G, SPEC §4): the EV is told the set-point, not just
            # a limit; a discharging period offers it no charge.
            value = effect.limit if effect.setpoint is None else max(effect.setpoint, 0.0)
            if value is None:
                continue
            phases = effect.phases
            if self.spec.is_dc:
                return None, value / 1000.0
            if _unit(message) == "W":
                value = value / (self.spec.voltage_v * (phases or self.spec.charger_phases))
            return value, None
        return None, None


def _unit(message: dict[str, Any]) -> str:
    payload = message["payload"]
    profile = payload.get("csChargingProfiles") or payload.get("chargingProfile")
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    return schedule["chargingRateUnit"]
