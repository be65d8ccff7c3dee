"""OCPP 1.6J, 2.0.1 and 2.1 `SetChargingProfile` payloads from a schedule (SPEC §2, §4).

Each choice follows a rule of OCPP.md:
- kind `Absolute` with `startSchedule` = horizon start in UTC "Z" (2.0.1 K01.FR.40 makes it
  mandatory for Absolute; 1.6 §3.14 recommends UTC), `duration` = the horizon, so that after it
  the charger falls back to the stack-0 default rather than to the last planned value;
- limits in the charger's `chargingRateUnit`: per-phase A, or total W (DC always W), floored to
  0.1 (1.6 schema `multipleOf: 0.1`, 2.0.1 "at most one digit fraction"), and 0 or at least the
  minimum (IEC 61851 PWM has no encoding below 6 A);
- `numberPhases` always set: a 1.6 charger assumes 3, which in W lets a one-phase EV draw 3x
  the planned current;
- the first `startPeriod` 0, strictly ascending, equal neighbours merged, at most `max_periods`
  (`ChargingScheduleMaxPeriods`), coarsened only downward so no second exceeds the plan;
- stable profile ids per (site, charger, purpose, stack level): a re-sent profile replaces the
  last one (OCPP.md §1.1: same id ⇒ replace) instead of piling up;
- `transactionId` only on a TxProfile (an int in 1.6, a string in 2.0.1), TxProfile only on a
  connector/EVSE > 0, and only for a session whose transaction has started: before that its
  plan rides on its connector's TxDefaultProfile (OCPP.md §3 rule 4, pitfall 3);
- OCPP 2.1 is the 2.0.1 shape. A session that may discharge (SPEC §4) has a signed plan in W;
  by default each period is `operationMode` `CentralSetpoint` with `setpoint` = the planned
  power (negative discharges) inside the envelope `limit` = max(plan, 0), `dischargeLimit` =
  min(plan, 0) (OCPP.md §5): a limit alone only caps, nothing in it makes an EV discharge, and
  a plan that counts the discharge as site supply needs it to happen. A charger with
  `discharge_control: "limits"` gets the envelope alone, `operationMode` `ExternalLimits`, for
  a site controller that picks the power inside it. Every other period keeps the 2.0.1 form
  (a `limit`, operationMode absent = ChargingOnly), so a charge-only session, the fail-safe
  default and a charger without `bidirectional` never discharge;
- `numberPhases` per period: a phase-switching session's periods follow `phases_used`, and
  periods of different phases are never merged (`limits`). A 2.1 DC period has none ("for a
  DC EVSE this field should be omitted").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC
from typing import Any, NamedTuple

import numpy as np

from smartcharge.api.ocpp.defaults import covered_slots, default_limits
from smartcharge.api.ocpp.limits import (
    LIMIT,
    SETPOINT,
    Step,
    floor_tenths,
    may_discharge,
    minimum_tenths,
    planned_phases,
    rate_unit,
    schedule_periods,
    session_limit_tenths,
    snap_below_minimum,
    wire_limit,
)
from smartcharge.api.ocpp.validation import payload_kind, validate_ocpp_message
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.problem import Charger, Problem, Session

ACTION = "SetChargingProfile"
DEFAULT_PROFILE_STACK_LEVEL = 0


def profile_id(site_id: str, charger_id: str, purpose: str, stack_level: int) -> int:
    """A positive 31-bit id, the same in every run and process for one profile role.

    The stack level is part of the role: a charger whose sessions use TxDefaultProfile gets two
    TxDefaultProfiles (its plan and the stack-0 floor), and one id would replace the other.
    """
    key = "\x1f".join((site_id, charger_id, purpose, str(stack_level))).encode()
    return zlib.crc32(key) & 0x7FFFFFFF or 1


class SlotPlan(NamedTuple):
    """One profile's plan per slot: limit [tenths of the rate unit; negative only where a
    set-point discharges], phases, and kind (`limits.LIMIT` or `limits.SETPOINT`)."""

    limit_tenths: np.ndarray
    phases: np.ndarray
    kinds: np.ndarray


def session_plan(
    problem: Problem, session: Session, charger: Charger, entry: dict[str, Any]
) -> SlotPlan:
    """A session's plan as its charger takes it (`limits`)."""
    slots = problem.horizon.slots
    phases = planned_phases(session, charger, entry, slots)
    signed = may_discharge(session, charger)
    tenths = session_limit_tenths(
        charger, entry, phases, problem.site.grid.voltage_v, signed=signed
    )
    kinds = np.full(slots, SETPOINT if signed else LIMIT, dtype=np.int64)
    return SlotPlan(tenths, phases, kinds)


def whole_charger_plan(plans: list[SlotPlan]) -> SlotPlan:
    """Per slot the plan of whichever session is planned there, else the first's.

    Sessions on one charger never overlap, so at most one is not 0 in a slot.
    """
    stacked = np.vstack([p.limit_tenths for p in plans])
    planned = np.argmax(stacked != 0, axis=0)  # 0 (the first) where none is planned
    slots = np.arange(stacked.shape[1])
    return SlotPlan(
        stacked[planned, slots],
        np.vstack([p.phases for p in plans])[planned, slots],
        np.vstack([p.kinds for p in plans])[planned, slots],
    )


# --- payloads ------------------------------------------------------------------------------


def charging_profile_payload(
    problem: Problem,
    charger: Charger,
    *,
    purpose: str,
    stack_level: int,
    plan: SlotPlan,
    transaction_id: str | int | None = None,
    with_duration: bool = True,
) -> dict[str, Any]:
    """The wire payload: 1.6J `SetChargingProfile.req`, 2.0.1 or 2.1 `SetChargingProfileRequest`."""
    horizon = problem.horizon
    step_s = horizon.step_minutes * 60
    pid = profile_id(problem.site.id, charger.id, purpose, stack_level)
    periods = schedule_periods(
        plan.limit_tenths, plan.phases, step_s, charger.max_periods, plan.kinds
    )
    schedule: dict[str, Any] = {"duration": horizon.slots * step_s} if with_duration else {}
    schedule |= {
        "startSchedule": horizon.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "chargingRateUnit": rate_unit(charger),
        "chargingSchedulePeriod": [wire_period(start, step, charger) for start, step in periods],
    }
    profile: dict[str, Any] = {
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
    }
    if charger.ocpp_version == "1.6":
        if purpose == "TxProfile" and transaction_id is not None:
            profile["transactionId"] = int(transaction_id)
        profile = {"chargingProfileId": pid, **profile, "chargingSchedule": schedule}
        return {"connectorId": charger.connector_id, "csChargingProfiles": profile}
    if purpose == "TxProfile" and transaction_id is not None:
        profile["transactionId"] = str(transaction_id)
    profile = {"id": pid, **profile, "chargingSchedule": [{"id": pid, **schedule}]}
    return {"evseId": charger.evse_id, "chargingProfile": profile}


def wire_period(start_s: int, step: Step, charger: Charger) -> dict[str, Any]:
    """One `chargingSchedulePeriod`: a `limit`, or (2.1, a session that may discharge) a signed
    set-point with its envelope; `numberPhases` except on a 2.1 DC charger."""
    period: dict[str, Any] = {"startPeriod": start_s}
    if step.kind == SETPOINT:
        value = step.limit_tenths
        if charger.discharge_control == "setpoint":
            period |= {"operationMode": "CentralSetpoint", "setpoint": wire_limit(value)}
        else:
            period["operationMode"] = "ExternalLimits"
        period |= {
            "limit": wire_limit(max(value, 0)),
            "dischargeLimit": wire_limit(min(value, 0)),
        }
    else:
        period["limit"] = wire_limit(step.limit_tenths)
    if not (charger.kind == "dc" and charger.ocpp_version == "2.1"):
        period["numberPhases"] = step.phases
    return period


def build_ocpp_messages(
    problem: Problem,
    answer: dict[str, Any],
    kept: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One `SetChargingProfile` per session, then a fail-safe default per charger if asked.

    Every message passes our semantic checks; the official schema, which sees only the shape
    that all payloads of one kind share, runs once per kind (version, purpose, unit, with or
    without duration and transactionId), keeping the answer inside the time limit. `kept`
    (session id -> its message in the plan before) holds the sessions a re-plan left as they
    were, on chargers whose plan did not change: their messages are taken over unchanged.
    """
    # A waiting session's profile carries the fail-safe defaults, which depend on the whole
    # plan: only sessions with a running transaction are taken over from the plan before.
    kept = {sid: m for sid, m in (kept or {}).items() if m["purpose"] == "TxProfile"}
    fail_safe = None
    if problem.options.include_default_profiles or any(map(awaits_transaction, problem.sessions)):
        fail_safe = fail_safe_limits(problem, answer)
    made = {
        m["session_id"]: m for m in session_messages(problem, answer, fail_safe, skip=set(kept))
    }
    messages = [kept[s.id] if s.id in kept else made[s.id] for s in problem.sessions]
    if problem.options.include_default_profiles:
        assert fail_safe is not None
        messages.extend(default_messages(problem, fail_safe))
    voltage_v = problem.site.grid.voltage_v
    chargers = {c.id: c for c in problem.site.chargers}
    checked: set[tuple[Any, ...]] = set()
    for message in messages:
        if message["session_id"] in kept:
            continue  # checked when it was made
        kind = payload_kind(message)
        validate_ocpp_message(message, chargers, voltage_v, schema=kind not in checked)
        checked.add(kind)
    return messages


def awaits_transaction(session: Session) -> bool:
    """A session whose transaction has not started: no `transaction_id` yet (OCPP.md §3 rule 4)."""
    return session.transaction_id is None


@dataclass(frozen=True)
class FailSafe:
    """Per charger the fail-safe default (`api.ocpp.defaults`) as sent: tenths and phases."""

    limit_tenths: np.ndarray  # (chargers, slots), floored, 0 or >= the charger's minimum
    phases: np.ndarray  # (chargers,)

    def plan(self, c: int) -> SlotPlan:
        """Charger `c`'s default as a plan of plain limits."""
        row = self.limit_tenths[c]
        return SlotPlan(row, np.full(row.shape, self.phases[c]), np.full(row.shape, LIMIT))


def fail_safe_limits(problem: Problem, answer: dict[str, Any]) -> FailSafe:
    voltage_v = problem.site.grid.voltage_v
    limits = default_limits(problem, answer, build_index(problem))
    phases = np.array([3 if c.kind == "dc" else c.phases for c in problem.site.chargers])
    tenths = np.array(
        [
            snap_below_minimum(floor_tenths(row), minimum_tenths(charger, int(p), voltage_v))
            for charger, row, p in zip(problem.site.chargers, limits, phases, strict=True)
        ],
        dtype=np.int64,
    ).reshape(limits.shape)
    return FailSafe(tenths, phases)


def session_messages(
    problem: Problem,
    answer: dict[str, Any],
    fail_safe: FailSafe | None,
    skip: set[str] | None = None,
) -> list[dict[str, Any]]:
    """A profile per session, a 0 A one when it is planned at 0 (else it charges uncontrolled),
    except the sessions in `skip`.

    A charger whose sessions use TxDefaultProfile gets its whole plan in each of them: they
    share one id, so whichever is installed last must still hold every session's slots.

    A session on a TxProfile charger whose transaction has not started gets no TxProfile (a
    charger rejects one without a running transaction): its charger's plan goes into a
    `TxDefaultProfile` at the charger's stack level instead (`pending_profile_limits`), which
    the charger applies from the moment the transaction starts. Once the CSMS reports the
    transaction id, the next plan holds a TxProfile and no longer this profile (a delta clears it).
    """
    chargers = {c.id: c for c in problem.site.chargers}
    entries = {entry["id"]: entry for entry in answer["sessions"]}
    plans = {
        s.id: session_plan(problem, s, chargers[s.charger_id], entries[s.id])
        for s in problem.sessions
    }
    on_charger: dict[str, list[Session]] = {}
    for session in problem.sessions:
        on_charger.setdefault(session.charger_id, []).append(session)
    messages = []
    for session in problem.sessions:
        if skip and session.id in skip:
            continue
        charger = chargers[session.charger_id]
        purpose, with_duration = charger.profile_purpose, True
        own = plans[session.id]
        if purpose == "TxDefaultProfile":
            mates = [session.id] + [o.id for o in on_charger[charger.id] if o is not session]
            own = whole_charger_plan([plans[m] for m in mates])
        elif awaits_transaction(session):
            assert fail_safe is not None
            purpose = "TxDefaultProfile"
            # At stack 0 it takes the fail-safe default's id and place, and like it has no
            # duration: its last period holds after the horizon rather than no limit at all.
            with_duration = charger.stack_level != DEFAULT_PROFILE_STACK_LEVEL
            waiting = [o for o in on_charger[charger.id] if awaits_transaction(o)]
            own = pending_profile_limits(problem, waiting, plans, fail_safe)
        payload = charging_profile_payload(
            problem,
            charger,
            purpose=purpose,
            stack_level=charger.stack_level,
            plan=own,
            transaction_id=session.transaction_id,
            with_duration=with_duration,
        )
        messages.append(_message(charger, session.id, purpose, payload))
    return messages


def pending_profile_limits(
    problem: Problem, waiting: list[Session], plans: dict[str, SlotPlan], fail_safe: FailSafe
) -> SlotPlan:
    """The TxDefaultProfile of a charger whose sessions `waiting` await their transactions.

    In the slots such a session wholly covers: its plan. Elsewhere: the charger's fail-safe
    default, which `api.ocpp.defaults` computed with the charger idle there (an EV that is not
    planned may plug in) and which the stack-0 default profile holds too; so this profile
    blocks no one and lets no one draw more than the plan and the defaults counted.
    """
    c = next(i for i, ch in enumerate(problem.site.chargers) if ch.id == waiting[0].charger_id)
    covered = np.zeros(problem.horizon.slots, dtype=bool)
    for session in waiting:
        covered |= covered_slots(problem, session)
    plan, default = whole_charger_plan([plans[s.id] for s in waiting]), fail_safe.plan(c)
    return SlotPlan(
        *(np.where(covered, mine, fail) for mine, fail in zip(plan, default, strict=True))
    )


def pending_transactions(problem: Problem, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's `pending_transactions`: sessions whose transaction has not started.

    Each names where its plan is until then (a `TxDefaultProfile` on its connector or EVSE:
    purpose, id, stack level) and its planned limit per slot in the charger's rate unit (null
    outside the slots it wholly covers), so a CSMS can tell a driver what to expect and knows
    that a transaction id must reach `PATCH …/sessions/{sid}` for the plan to become a TxProfile.
    """
    chargers = {c.id: c for c in problem.site.chargers}
    entries = {entry["id"]: entry for entry in answer["sessions"]}
    pending = []
    for session in filter(awaits_transaction, problem.sessions):
        charger = chargers[session.charger_id]
        plan = session_plan(problem, session, charger, entries[session.id])
        phases = [int(p) for p in plan.phases]
        covered = covered_slots(problem, session)
        is_16 = charger.ocpp_version == "1.6"
        pending.append(
            {
                "session_id": session.id,
                "charger_id": charger.id,
                "ocpp_version": charger.ocpp_version,
                "connector_id": charger.connector_id if is_16 else None,
                "evse_id": None if is_16 else charger.evse_id,
                "purpose": "TxDefaultProfile",
                "profile_id": profile_id(
                    problem.site.id, charger.id, "TxDefaultProfile", charger.stack_level
                ),
                "stack_level": charger.stack_level,
                "charging_rate_unit": rate_unit(charger),
                # one number for a session on fixed phases (as before SPEC §4), else per slot
                "number_phases": phases[0] if len(set(phases)) == 1 else phases,
                "planned_limit": [
                    wire_limit(int(t)) if c else None
                    for t, c in zip(plan.limit_tenths, covered, strict=True)
                ],
            }
        )
    return pending


def default_messages(problem: Problem, fail_safe: FailSafe) -> list[dict[str, Any]]:
    """A stack-0 `TxDefaultProfile` per charger, safe if every idle charger starts at once.

    See `api.ocpp.defaults` for the computation. No `duration`: when a schedule ends and no other
    profile is left, the charger charges "as if no ChargingProfile is installed" (OCPP.md §3
    rule 9), so the last period holds until the next plan replaces this profile (same id). A
    charger whose plan is a TxDefaultProfile at stack 0 (its sessions use that purpose, or one
    awaits its transaction) gets none: it would replace its plan (1.6 SetChargingProfile: the
    same stackLevel and purpose replace the existing profile).
    """
    chargers = {c.id: c for c in problem.site.chargers}
    plan_is_the_default = {
        s.charger_id
        for s in problem.sessions
        if (chargers[s.charger_id].profile_purpose == "TxDefaultProfile" or awaits_transaction(s))
        and chargers[s.charger_id].stack_level == DEFAULT_PROFILE_STACK_LEVEL
    }
    messages = []
    for c, charger in enumerate(problem.site.chargers):
        if charger.id in plan_is_the_default:
            continue
        payload = charging_profile_payload(
            problem,
            charger,
            purpose="TxDefaultProfile",
            stack_level=DEFAULT_PROFILE_STACK_LEVEL,
            plan=fail_safe.plan(c),
            with_duration=False,
        )
        messages.append(_message(charger, None, "TxDefaultProfile", payload))
    return messages


def _message(
    charger: Charger, session_id: str | None, purpose: str, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "charger_id": charger.id,
        "session_id": session_id,
        "ocpp_version": charger.ocpp_version,
        "action": ACTION,
        "purpose": purpose,
        "payload": payload,
    }
