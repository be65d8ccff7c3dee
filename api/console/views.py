"""What the console's pages show, computed from the stored plan as the JSON routes return it:
a site's status line, the sessions with their current and *why* in words, the OCPP profiles
with their periods. Pure functions over plain dicts (the templates only lay them out)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.api.ocpp.delta import Effect, profile_of

# `limited_by` names (SPEC §2, optimizer.limited_by) as an energy manager says them.
_REASONS = {
    "grid:import": "grid import limit reached",
    "demand_charge": "would set a new monthly peak (demand charge)",
    "price": "waits for cheaper energy",
    "pv": "waits for PV surplus",
    "energy_met": "gets its energy in other slots",
    "ev_max": "the EV takes no more current (seen in its meter values)",
    "ev_full": "the EV's battery is full or paused (seen in its meter values)",
    "solver_gap": "within the solver's accepted gap of the most energy",
    "solver_time_limit": "the best plan the solver found in time",
    "fallback": "rule-based plan (the solver found none in time)",
}
UNMET_TOLERANCE_KWH = 0.05  # below a meter's resolution: not a problem worth flagging


def reason_in_words(constraint: str) -> str:
    """`circuit:panel-a:L1` → "circuit panel-a L1 full"; unknown names are shown as they are."""
    if constraint in _REASONS:
        return _REASONS[constraint]
    kind, _, rest = constraint.partition(":")
    if kind == "circuit":
        circuit_id, _, phase = rest.rpartition(":")
        if phase in ("L1", "L2", "L3") and circuit_id:
            return f"circuit {circuit_id} {phase} full"
        return f"circuit {rest} at its kW limit"
    if kind == "grid" and rest in ("L1", "L2", "L3"):
        return f"grid phase {rest} full"
    return constraint


def slot_runs(slots: list[int]) -> list[tuple[int, int]]:
    """Consecutive slot indices as (first, last) runs: [3, 4, 5, 9] → [(3, 5), (9, 9)]."""
    runs: list[tuple[int, int]] = []
    for slot in sorted(slots):
        if runs and slot == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], slot)
        else:
            runs.append((slot, slot))
    return runs


@dataclass(frozen=True)
class Clock:
    """A plan's slots on the site's wall clock."""

    start: datetime
    step: timedelta
    zone: ZoneInfo

    @classmethod
    def of(cls, horizon: dict[str, Any], timezone: str) -> Clock:
        start = datetime.fromisoformat(horizon["start"])
        return cls(start, timedelta(minutes=horizon["step_minutes"]), ZoneInfo(timezone))

    def slot_start(self, slot: int) -> datetime:
        return self.start + slot * self.step

    def label(self, moment: datetime) -> str:
        """ "14:00" on the plan's first day, "Wed 02:00" on another."""
        local = moment.astimezone(self.zone)
        if local.date() == self.start.astimezone(self.zone).date():
            return f"{local:%H:%M}"
        return f"{local:%a %H:%M}"

    def span(self, first: int, last: int) -> str:
        return f"{self.label(self.slot_start(first))}–{self.label(self.slot_start(last + 1))}"


def why_in_words(limited_by: list[dict[str, Any]], clock: Clock) -> list[str]:
    """One line per reason: "circuit panel-a L1 full 14:00–15:30, 17:00–17:15"."""
    return [
        f"{reason_in_words(entry['constraint'])} "
        + ", ".join(clock.span(a, b) for a, b in slot_runs(entry["slots"]))
        for entry in limited_by
        if entry.get("slots")
    ]


@dataclass
class SessionRow:
    id: str
    charger_id: str
    arrival: str
    departure: str
    requested_kwh: float
    planned_kwh: float
    unmet_kwh: float
    priority: int
    why: list[str]
    current_a: list[float | None]
    power_kw: list[float]


def session_rows(
    problem: dict[str, Any], answer: dict[str, Any], timezone: str
) -> list[SessionRow]:
    """The plan's sessions as the table shows them, in the order of the plan's problem."""
    clock = Clock.of(problem["horizon"], timezone)
    planned = {s["id"]: s for s in answer.get("sessions", [])}
    rows = []
    for session in problem.get("sessions", []):
        result = planned.get(session["id"], {})
        # An unknown departure or energy is shown as the plan estimated it, marked "~".
        estimate = result.get("estimate", {})
        departure = session.get("departure") or estimate.get("departure")
        requested_kwh = session.get("energy_kwh", estimate.get("energy_kwh", 0.0))
        rows.append(
            SessionRow(
                id=session["id"],
                charger_id=session["charger_id"],
                arrival=clock.label(datetime.fromisoformat(session["arrival"])),
                departure=(
                    ("~" if "departure" not in session else "")
                    + clock.label(datetime.fromisoformat(departure))
                    if departure
                    else "?"
                ),
                requested_kwh=float(requested_kwh),
                planned_kwh=float(result.get("energy_kwh", 0.0)),
                unmet_kwh=float(result.get("unmet_kwh", 0.0)),
                priority=int(session.get("priority", 0)),
                why=why_in_words(result.get("limited_by", []), clock),
                current_a=result.get("current_a", []),
                power_kw=result.get("power_kw", []),
            )
        )
    return rows


@dataclass
class SiteStatus:
    """One line of the site list; `severity` orders it (3: no plan … 0: all well)."""

    site_id: str
    timezone: str = "UTC"
    version: int | None = None
    planned_at: datetime | None = None
    status: str = "no plan yet"
    sessions: int = 0
    energy_requested_kwh: float = 0.0
    energy_delivered_kwh: float = 0.0
    unmet_kwh: float = 0.0
    peak_import_kw: float = 0.0
    import_limit_kw: float | None = None
    warnings: list[str] = field(default_factory=list)
    severity: int = 3

    @property
    def delivered_pct(self) -> float:
        wanted = self.energy_requested_kwh
        return 100.0 if wanted <= 0 else min(100.0, 100.0 * self.energy_delivered_kwh / wanted)

    @property
    def peak_pct(self) -> float:
        if not self.import_limit_kw:
            return 0.0
        return min(100.0, 100.0 * self.peak_import_kw / self.import_limit_kw)


def tightest_import_limit_kw(document: dict[str, Any], answer: dict[str, Any]) -> float | None:
    """The lowest import limit the plan met: per slot where the answer reports it."""
    per_slot = answer.get("site", {}).get("import_limit_kw")
    limit = per_slot or document["site"]["grid"].get("import_limit_kw")
    if isinstance(limit, list):
        return min(limit) if limit else None
    return limit


def site_status(
    site_id: str,
    document: dict[str, Any],
    version: int | None,
    planned_at: datetime | None,
    answer: dict[str, Any] | None,
) -> SiteStatus:
    timezone = document["site"].get("timezone", "UTC")
    if answer is None:
        return SiteStatus(site_id=site_id, timezone=timezone)
    kpis = answer.get("kpis", {})
    status = SiteStatus(
        site_id=site_id,
        timezone=timezone,
        version=version,
        planned_at=planned_at,
        status=answer.get("status", "unknown"),
        sessions=len(answer.get("sessions", [])),
        energy_requested_kwh=kpis.get("energy_requested_kwh", 0.0),
        energy_delivered_kwh=kpis.get("energy_delivered_kwh", 0.0),
        unmet_kwh=kpis.get("unmet_kwh", 0.0),
        peak_import_kw=kpis.get("peak_import_kw", 0.0),
        import_limit_kw=tightest_import_limit_kw(document, answer),
        warnings=list(answer.get("warnings", [])),
    )
    over_limit = status.import_limit_kw is not None and (
        status.peak_import_kw > status.import_limit_kw + 1e-6
    )
    if status.status not in ("optimal", "feasible"):
        status.severity = 2
    elif status.warnings or status.unmet_kwh > UNMET_TOLERANCE_KWH or over_limit:
        status.severity = 1
    else:
        status.severity = 0
    return status


def problems_first(statuses: list[SiteStatus]) -> list[SiteStatus]:
    """Worst first; within a severity the newest plan first, then by id."""
    ordered = sorted(statuses, key=lambda s: s.site_id)
    ordered.sort(key=lambda s: s.planned_at.timestamp() if s.planned_at else 0.0, reverse=True)
    ordered.sort(key=lambda s: s.severity, reverse=True)
    return ordered


@dataclass
class Period:
    start: str
    end: str
    limit: float  # signed: an OCPP 2.1 set-point, or a discharge limit where it discharges
    phases: int | None
    note: str = ""  # "set-point" or "discharge limit" (OCPP 2.1 V2G), else a plain limit


@dataclass
class ProfileView:
    charger_id: str
    session_id: str | None
    purpose: str
    ocpp_version: str
    unit: str
    profile_id: int
    changed: bool
    periods: list[Period]


def profile_view(message: dict[str, Any], clock: Clock, changed: bool) -> ProfileView:
    """One `SetChargingProfile` message as a table of periods on the site's clock."""
    profile = profile_of(message)
    payload = message["payload"]
    charging_profile = payload.get("csChargingProfiles") or payload["chargingProfile"]
    schedule = charging_profile["chargingSchedule"]
    unit = (schedule[0] if isinstance(schedule, list) else schedule)["chargingRateUnit"]
    ends = [*profile.starts[1:], profile.end]
    periods = [
        Period(
            start=clock.label(start),
            end=clock.label(end) if end is not None else "open",
            phases=effect.phases,
            **shown_limit(effect),
        )
        for start, end, effect in zip(profile.starts, ends, profile.limits, strict=True)
    ]
    return ProfileView(
        charger_id=message["charger_id"],
        session_id=message.get("session_id"),
        purpose=charging_profile["chargingProfilePurpose"],
        ocpp_version=message.get("ocpp_version", ""),
        unit=unit,
        profile_id=profile.key[2],
        changed=changed,
        periods=periods,
    )


def shown_limit(effect: Effect) -> dict[str, Any]:
    """The one number a period is read by: a V2G period's set-point (negative: discharge), or
    its discharge limit where it may only discharge; else its limit."""
    if effect.setpoint is not None:
        return {"limit": effect.setpoint, "note": "set-point"}
    if effect.discharge_limit and not effect.limit:
        return {"limit": effect.discharge_limit, "note": "discharge limit"}
    return {"limit": effect.limit or 0.0}


def profiles_by_charger(
    messages: list[dict[str, Any]], changed: list[dict[str, Any]], clock: Clock
) -> dict[str, list[ProfileView]]:
    """Every message of the plan, grouped by charger (in the plan's order); `changed` are the
    messages the last re-plan's delta sends."""
    changed_keys = {profile_of(m).key for m in changed}
    grouped: dict[str, list[ProfileView]] = {}
    for message in messages:
        view = profile_view(message, clock, profile_of(message).key in changed_keys)
        grouped.setdefault(view.charger_id, []).append(view)
    return {charger: grouped[charger] for charger in sorted(grouped, key=natural_key)}


def natural_key(text: str) -> list[int | str]:
    """ "cp-2" before "cp-10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
