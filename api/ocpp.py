"""OCPP 1.6J and 2.0.1 `SetChargingProfile` payloads from an answer, validated.

Rules (SPEC §2 and `docs/OCPP.md`): an Absolute profile starting at the horizon start in UTC
("startSchedule" is mandatory for Absolute in 2.0.1, K01.FR.40); limits in the charger's unit,
A per phase or W in total (DC always W), floored to 0.1 and never between 0 and the minimum
(IEC 61851 has no PWM encoding below 6 A); `numberPhases` always set (a 1.6 charger assumes 3);
equal consecutive limits merged and at most `max_periods` periods, merged only downward so no
second is ever above the plan; stable profile ids per (site, charger, purpose, stack level), so
a re-sent profile replaces the last one instead of piling up (1.6 §3.13.2).
"""

from __future__ import annotations

import itertools
import json
import zlib
from datetime import UTC
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from optimizer.index import ProblemIndex, build_index
from optimizer.problem import Charger, Problem
from optimizer.units import phase_current_of_balanced_kw

DEFAULT_PROFILE_STACK_LEVEL = 0
TENTH = Decimal("0.1")


def profile_id(site_id: str, charger_id: str, purpose: str, stack_level: int) -> int:
    """A positive 31-bit id that is the same in every run and process for the same role."""
    key = f"{site_id}/{charger_id}/{purpose}/{stack_level}".encode()
    return zlib.crc32(key) & 0x7FFFFFFF or 1


def floor_tenth(value: float) -> float:
    """Round down to 0.1 (never above the plan), as the 1.6 schema's multipleOf 0.1 wants."""
    return float(Decimal(repr(float(value))).quantize(TENTH, rounding=ROUND_FLOOR))


def schedule_periods(limits: np.ndarray, step_s: int, max_periods: int) -> list[tuple[int, float]]:
    """(startPeriod s, limit) pairs: equal neighbours merged, then merged downward to fit.

    Each extra merge joins the two neighbouring periods whose merge gives up the least energy
    (the higher one drops to the lower one's limit), so the schedule never exceeds the plan
    and a merge of 0 with anything is 0, never a value under the minimum.
    """
    starts = [0]
    values = [float(limits[0])]
    lengths = [1]
    for value in limits[1:]:
        if float(value) == values[-1]:
            lengths[-1] += 1
        else:
            starts.append(starts[-1] + lengths[-1])
            values.append(float(value))
            lengths.append(1)
    while len(values) > max_periods:
        losses = [
            abs(values[i] - values[i + 1])
            * (lengths[i] if values[i] > values[i + 1] else lengths[i + 1])
            for i in range(len(values) - 1)
        ]
        i = int(np.argmin(losses))
        values[i] = min(values[i], values[i + 1])
        lengths[i] += lengths[i + 1]
        del values[i + 1], lengths[i + 1], starts[i + 1]
        if i > 0 and values[i - 1] == values[i]:
            lengths[i - 1] += lengths[i]
            del values[i], lengths[i], starts[i]
    return [(start * step_s, value) for start, value in zip(starts, values, strict=True)]


def build_ocpp_messages(problem: Problem, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One `SetChargingProfile` per session, and a fail-safe default per charger if asked."""
    index = build_index(problem)
    chargers = {c.id: c for c in problem.site.chargers}
    messages = []
    for s, session in enumerate(problem.sessions):
        charger = chargers[session.charger_id]
        entry = answer["sessions"][s]
        phases = int(index.phases_used[s])
        if charger.kind == "dc" or charger.charging_rate_unit == "W":
            limits = np.array([floor_tenth(p * 1000) for p in entry["power_kw"]])
        else:
            limits = np.array([floor_tenth(a) for a in entry["current_a"]])
        messages.append(
            _message(
                problem,
                charger,
                session_id=session.id,
                purpose=charger.profile_purpose,
                stack_level=charger.stack_level,
                limits=limits,
                phases=phases,
                transaction_id=session.transaction_id
                if charger.profile_purpose == "TxProfile"
                else None,
            )
        )
    if problem.options.include_default_profiles:
        messages.extend(default_profiles(problem, index, answer))
    # Every payload gets our semantic checks; the schema, which only sees the structure every
    # payload of one kind shares, is run once per kind (version, purpose, unit, transaction).
    schema_checked: set[tuple] = set()
    for message in messages:
        kind = _payload_kind(message)
        validate_ocpp_message(message, problem.site.chargers, schema=kind not in schema_checked)
        schema_checked.add(kind)
    return messages


def _payload_kind(message: dict[str, Any]) -> tuple:
    payload = message["payload"]
    profile = payload.get("csChargingProfiles") or payload.get("chargingProfile")
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    return (
        message["ocpp_version"],
        message["purpose"],
        schedule["chargingRateUnit"],
        "transactionId" in profile,
    )


def default_profiles(
    problem: Problem, index: ProblemIndex, answer: dict[str, Any]
) -> list[dict[str, Any]]:
    """A `TxDefaultProfile` per charger that stays safe if every idle charger starts at once.

    In every slot, any charger may end up drawing its default on top of the plan: an idle one
    by starting a session, a busy one by losing its session profile (it then draws the
    default instead of its plan, which is no more than drawing it on top). Each charger's
    default is f(t) x its own maximum, counted on every one of its phases, where f(t) is the
    largest share that keeps the grid import, every grid phase, and every circuit's kW and
    phases within their limits on top of the plan (the headroom the plan leaves / the summed
    maxima of the chargers under each limit). Below the minimum the default is 0 (a pause).
    """
    site, slots = problem.site, problem.horizon.slots
    voltage = site.grid.voltage_v
    chargers = site.chargers
    max_kw = np.array([_charger_max_kw(c, voltage) for c in chargers])
    max_a = np.array([_charger_max_a(c, voltage) for c in chargers])
    phase_map = np.array([[g in c.grid_phases for g in ("L1", "L2", "L3")] for c in chargers])
    flows = answer["site"]
    share = np.ones(slots)

    def limit_share(headroom: np.ndarray, demand: np.ndarray) -> None:
        nonlocal share
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.minimum(share, np.where(demand > 0, headroom / demand, 1.0))

    import_headroom = index.import_limit_kw - np.asarray(flows["import_kw"])
    limit_share(import_headroom, max_kw.sum())
    planned_phase_a = _planned_phase_a(index, answer)
    if np.isfinite(index.grid_phase_limit_a):
        base_a = phase_current_of_balanced_kw(
            np.asarray(flows["base_load_kw"]) - np.asarray(flows["pv_kw"]), voltage
        )
        for p in range(3):
            headroom = index.phase_upper_a - planned_phase_a[p] - base_a
            demand = (max_a * phase_map[:, p]).sum()
            limit_share(headroom, demand)
    below_circuit = _chargers_below_circuits(problem)
    circuits = index.circuits
    power = np.array([s["power_kw"] for s in answer["sessions"]]).reshape(-1, slots)
    for ci in range(len(circuits.ids)):
        below = below_circuit[ci]
        sessions_below = circuits.contains_session[ci]
        planned_kw = power[sessions_below].sum(axis=0)
        if np.isfinite(circuits.limit_kw[ci]):
            demand = (max_kw * below).sum()
            limit_share(circuits.limit_kw[ci] - planned_kw, demand)
        if np.isfinite(circuits.phase_limit_a[ci]):
            planned = _planned_phase_a(index, answer, sessions_below)
            for p in range(3):
                demand = (max_a * phase_map[:, p] * below).sum()
                limit_share(circuits.phase_limit_a[ci] - planned[p], demand)
    share = np.clip(share, 0.0, 1.0)

    messages = []
    for i, charger in enumerate(chargers):
        if charger.kind == "dc" or charger.charging_rate_unit == "W":
            values = share * max_kw[i] * 1000
            floor = (
                charger.min_power_kw * 1000
                if charger.kind == "dc"
                else charger.min_current_a * voltage * charger.phases
            )
        else:
            values = share * max_a[i]
            floor = charger.min_current_a
        limits = np.array([floor_tenth(v) for v in values])
        limits = np.where(limits < floor - 1e-9, 0.0, limits)
        messages.append(
            _message(
                problem,
                charger,
                session_id=None,
                purpose="TxDefaultProfile",
                stack_level=DEFAULT_PROFILE_STACK_LEVEL,
                limits=limits,
                phases=3 if charger.kind == "dc" else charger.phases,
                transaction_id=None,
            )
        )
    return messages


def _chargers_below_circuits(problem: Problem) -> np.ndarray:
    """(circuits, chargers) bool: the charger hangs below the circuit, at any depth."""
    circuits = problem.site.circuits
    position = {c.id: i for i, c in enumerate(circuits)}
    parent = {c.id: c.parent for c in circuits}
    below = np.zeros((len(circuits), len(problem.site.chargers)), dtype=bool)
    for j, charger in enumerate(problem.site.chargers):
        node = charger.circuit
        while node is not None:
            below[position[node], j] = True
            node = parent[node]
    return below


def _planned_phase_a(
    index: ProblemIndex, answer: dict[str, Any], sessions: np.ndarray | None = None
) -> np.ndarray:
    """(3, T) planned charging current per grid phase, from the answer's power."""
    power = np.array([s["power_kw"] for s in answer["sessions"]]).reshape(-1, index.slots)
    setpoint = power / np.where(index.kw_per_unit > 0, index.kw_per_unit, 1.0)[:, None]
    if sessions is not None:
        setpoint = setpoint * sessions[:, None]
    return index.phase_a_per_unit.T @ setpoint


def _charger_max_kw(charger: Charger, voltage_v: float) -> float:
    limits = [charger.max_power_kw] if charger.max_power_kw is not None else []
    if charger.kind == "ac" and charger.max_current_a is not None:
        limits.append(charger.max_current_a * voltage_v * charger.phases / 1000)
    return min(limits)


def _charger_max_a(charger: Charger, voltage_v: float) -> float:
    """Per-phase current at the charger's maximum (DC: its balanced three-phase current)."""
    if charger.kind == "dc":
        return float(phase_current_of_balanced_kw(_charger_max_kw(charger, voltage_v), voltage_v))
    return _charger_max_kw(charger, voltage_v) * 1000 / (voltage_v * charger.phases)


def _message(
    problem: Problem,
    charger: Charger,
    *,
    session_id: str | None,
    purpose: str,
    stack_level: int,
    limits: np.ndarray,
    phases: int,
    transaction_id: str | int | None,
) -> dict[str, Any]:
    horizon = problem.horizon
    step_s = horizon.step_minutes * 60
    unit = "W" if charger.kind == "dc" else charger.charging_rate_unit
    periods = [
        {"startPeriod": start, "limit": _wire_number(limit), "numberPhases": phases}
        for start, limit in schedule_periods(limits, step_s, charger.max_periods)
    ]
    start = horizon.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pid = profile_id(problem.site.id, charger.id, purpose, stack_level)
    schedule = {
        "duration": horizon.slots * step_s,
        "startSchedule": start,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    if charger.ocpp_version == "1.6":
        profile: dict[str, Any] = {
            "chargingProfileId": pid,
            "stackLevel": stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": schedule,
        }
        if transaction_id is not None:
            profile["transactionId"] = int(transaction_id)
        payload = {"connectorId": charger.connector_id, "csChargingProfiles": profile}
    else:
        profile = {
            "id": pid,
            "stackLevel": stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": pid, **schedule}],
        }
        if transaction_id is not None:
            profile["transactionId"] = str(transaction_id)
        payload = {"evseId": charger.evse_id, "chargingProfile": profile}
    return {
        "charger_id": charger.id,
        "session_id": session_id,
        "ocpp_version": charger.ocpp_version,
        "action": "SetChargingProfile",
        "purpose": purpose,
        "payload": payload,
    }


def _wire_number(value: float) -> float | int:
    """Integers where exact (safest for picky firmware), else one decimal."""
    return int(value) if float(value).is_integer() else round(float(value), 1)


class OcppPayloadError(ValueError):
    """A payload that breaks the official schema or a rule the schema does not express."""


def validate_ocpp_message(
    message: dict[str, Any], chargers: list[Charger] | None = None, schema: bool = True
) -> None:
    """Check a payload with the `ocpp` package's official JSON schemas and our own rules.

    The schemas do not check period order, the first period being 0, the unit's precision,
    the minimum current, negative limits or where each purpose may go; those are checked here.
    """
    from ocpp.messages import MessageType, get_validator

    version = message["ocpp_version"]
    payload = message["payload"]
    if schema:
        # As the ocpp package does itself for 1.6 SetChargingProfile: numbers as Decimal, so
        # multipleOf 0.1 is judged exactly (a float 21.4 is not a multiple of 0.1).
        parse_float = Decimal if version == "1.6" else float
        validator = get_validator(
            MessageType.Call, message["action"], version, parse_float=parse_float
        )
        errors = sorted(
            validator.iter_errors(json.loads(json.dumps(payload), parse_float=parse_float)),
            key=str,
        )
        if errors:
            raise OcppPayloadError(f"{message['charger_id']}: schema: {errors[0].message}")
    if version == "1.6":
        profile, target = payload["csChargingProfiles"], payload["connectorId"]
        schedule = profile["chargingSchedule"]
    else:
        profile, target = payload["chargingProfile"], payload["evseId"]
        schedule = profile["chargingSchedule"][0]
    problems = []
    periods = schedule["chargingSchedulePeriod"]
    starts = [p["startPeriod"] for p in periods]
    if starts[0] != 0:
        problems.append("the first period does not start at 0")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        problems.append("periods are not strictly ascending")
    if any(abs(p["limit"] * 10 - round(p["limit"] * 10)) > 1e-9 for p in periods):
        problems.append("a limit has more than one decimal")
    if any(p["limit"] < 0 for p in periods):
        problems.append("a limit is negative")
    if not str(schedule.get("startSchedule", "")).endswith("Z"):
        problems.append("an Absolute profile needs startSchedule in UTC")
    purpose = profile["chargingProfilePurpose"]
    if purpose == "TxProfile" and target < 1:
        problems.append("a TxProfile needs a connector/EVSE > 0")
    if "transactionId" in profile and purpose != "TxProfile":
        problems.append("transactionId is only valid with a TxProfile")
    charger = next((c for c in chargers or [] if c.id == message["charger_id"]), None)
    if charger is not None:
        if len(periods) > charger.max_periods:
            problems.append(f"{len(periods)} periods, more than max_periods")
        if schedule["chargingRateUnit"] == "A":
            low = [p["limit"] for p in periods if 0 < p["limit"] < charger.min_current_a - 1e-9]
            if low:
                problems.append(f"limits {low} are between 0 and min_current_a")
    if problems:
        raise OcppPayloadError(f"{message['charger_id']}: " + "; ".join(problems))
