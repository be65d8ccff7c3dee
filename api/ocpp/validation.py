"""Every OCPP payload checked twice: against the official JSON schemas the `ocpp` package ships,
and against the rules the schemas do not express (OCPP.md §3 and §4; for OCPP 2.1 §5 too:
what each `operationMode` needs, signs, a set-point inside its envelope, and discharge only on a
bidirectional charger).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType, get_validator
from ocpp.messages import validate_payload as ocpp_validate_payload

from smartcharge.api.ocpp.limits import minimum_tenths, rate_unit
from smartcharge.optimizer.problem import DEFAULT_VOLTAGE_V, Charger

# The ocpp package parses these 1.6 payloads, and their schemas, with Decimal (multipleOf 0.1).
_DECIMAL_ACTIONS_V16 = {"SetChargingProfile", "RemoteStartTransaction"}


class OcppPayloadError(ValueError):
    """A payload that breaks the official schema or a rule the schema does not express."""


def validate_payload(action: str, payload: dict[str, Any], version: str) -> None:
    """Check a payload against the `ocpp` package's official schemas; list every violation."""
    problems = schema_problems(action, payload, version)
    if problems:
        raise OcppPayloadError(f"{action} ({version}) schema: " + "; ".join(problems))


def schema_problems(action: str, payload: dict[str, Any], version: str) -> list[str]:
    """Official-schema violations, as `path: reason` (empty when the payload is valid).

    `ocpp.messages.validate_payload` decides; it stops at the first error, so the same cached
    validator then lists them all, with numbers parsed as the package parses them (Decimal for
    1.6 SetChargingProfile: float 21.4 is "not a multiple of 0.1").
    """
    try:
        _run_blocking(ocpp_validate_payload(Call(f"validate-{action}", action, payload), version))
    except OCPPError as error:
        parse_float = Decimal if version == "1.6" and action in _DECIMAL_ACTIONS_V16 else float
        validator = get_validator(MessageType.Call, action, version, parse_float=parse_float)
        instance = json.loads(json.dumps(payload), parse_float=parse_float)
        found = [
            f"{'.'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]
        return sorted(found) or [f"{type(error).__name__}: {error.description}"]
    return []


def validate_ocpp_message(
    message: dict[str, Any],
    chargers: list[Charger] | dict[str, Charger] | None = None,
    voltage_v: float = DEFAULT_VOLTAGE_V,
    *,
    schema: bool = True,
) -> None:
    """Raise `OcppPayloadError` listing every schema and semantic problem of one message.

    `chargers` may be a dict by id (what a caller checking many messages passes)."""
    version, payload = message["ocpp_version"], message["payload"]
    problems = schema_problems(message["action"], payload, version) if schema else []
    if isinstance(chargers, dict):
        charger = chargers.get(message["charger_id"])
    else:
        charger = next((c for c in chargers or [] if c.id == message["charger_id"]), None)
    problems += semantic_problems(payload, version, charger, voltage_v)
    if problems:
        where = f"{message['charger_id']} ({version} {message.get('purpose', '')})"
        raise OcppPayloadError(f"{where}: " + "; ".join(problems))


def semantic_problems(
    payload: dict[str, Any], version: str, charger: Charger | None, voltage_v: float
) -> list[str]:
    """The rules the schemas do not express (OCPP.md §3 and §4)."""
    profile, target = _profile_and_target(payload, version)
    schedules = profile.get("chargingSchedule") if profile else None
    schedule = schedules[0] if isinstance(schedules, list) and schedules else schedules
    if not isinstance(schedule, dict) or not schedule.get("chargingSchedulePeriod"):
        return [] if profile else ["no charging profile to check"]
    problems = _period_problems(schedule) + _profile_problems(profile, schedule, target)
    problems += _v2x_problems(schedule["chargingSchedulePeriod"])
    if charger is not None:
        problems += _charger_problems(schedule, charger, voltage_v)
    return problems


def _period_problems(schedule: dict[str, Any]) -> list[str]:
    """First period at 0, strictly ascending, inside the duration; limits >= 0 on the 0.1 grid."""
    periods = schedule["chargingSchedulePeriod"]
    starts = [p.get("startPeriod") for p in periods]
    tenths = [_wire_tenths(p.get("limit", 0)) for p in periods]
    problems = []
    if starts[0] != 0:
        problems.append(f"the first period starts at {starts[0]} s, not 0")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        problems.append("startPeriod values are not strictly ascending")
    if "duration" in schedule and starts[-1] >= schedule["duration"]:
        problems.append("a period starts at or after the schedule's duration")
    if any(t != t.to_integral_value() for t in tenths):
        problems.append("a limit has more than one decimal")
    if any(t < 0 for t in tenths):
        problems.append("a limit is negative")
    if any(p.get("numberPhases", 3) not in (1, 2, 3) for p in periods):
        problems.append("numberPhases must be 1, 2 or 3")
    return problems


# OCPP 2.1 operation modes this emitter sends, and the fields each needs (OCPP.md §5).
_CHARGING_ONLY = "ChargingOnly"  # the default when absent: a limit, no discharge
_NEEDS = {
    _CHARGING_ONLY: ("limit",),
    "CentralSetpoint": ("setpoint",),
    "ExternalLimits": ("limit", "dischargeLimit"),
}
_V2X_NUMBERS = ("setpoint", "dischargeLimit")


def _v2x_problems(periods: list[dict[str, Any]]) -> list[str]:
    """OCPP 2.1 periods: each mode's fields, signs, one decimal, the set-point in its envelope."""
    problems = []
    for period in periods:
        mode = period.get("operationMode", _CHARGING_ONLY)
        at = f"period at {period.get('startPeriod')} s"
        if mode == "Idle":
            if any(k in period for k in ("limit", *_V2X_NUMBERS)):
                problems.append(f"{at}: operationMode Idle takes no limit or setpoint")
            continue
        if mode not in _NEEDS:
            problems.append(f"{at}: operationMode {mode} is not one a central plan sends")
            continue
        missing = [k for k in _NEEDS[mode] if k not in period]
        if missing:
            problems.append(f"{at}: operationMode {mode} needs {', '.join(missing)}")
        values = {k: _wire_tenths(period[k]) for k in _V2X_NUMBERS if k in period}
        if any(t != t.to_integral_value() for t in values.values()):
            problems.append(f"{at}: a setpoint or dischargeLimit has more than one decimal")
        if values.get("dischargeLimit", 0) > 0:
            problems.append(f"{at}: dischargeLimit is positive (discharge limits are <= 0)")
        if mode == _CHARGING_ONLY and (
            values.get("dischargeLimit", 0) < 0 or values.get("setpoint", 0) < 0
        ):
            problems.append(f"{at}: operationMode ChargingOnly cannot discharge")
        if "setpoint" in values:
            low = values.get("dischargeLimit")
            high = _wire_tenths(period["limit"]) if "limit" in period else None
            if (low is not None and values["setpoint"] < low) or (
                high is not None and values["setpoint"] > high
            ):
                problems.append(f"{at}: setpoint {period['setpoint']} outside its limits")
    return problems


def discharges(period: dict[str, Any]) -> bool:
    """Whether a period lets the EV feed power back (a V2G mode or a negative value)."""
    return period.get("operationMode", _CHARGING_ONLY) != _CHARGING_ONLY or any(
        _wire_tenths(period[k]) < 0 for k in _V2X_NUMBERS if k in period
    )


def _profile_problems(profile: dict[str, Any], schedule: dict[str, Any], target: Any) -> list[str]:
    """Absolute needs a UTC start; TxProfile needs a connector/EVSE; transactionId a TxProfile."""
    problems = []
    if profile.get("chargingProfileKind") == "Absolute" and not _is_utc(
        schedule.get("startSchedule")
    ):
        problems.append("an Absolute profile needs startSchedule in UTC (K01.FR.40)")
    if profile.get("stackLevel", 0) < 0:
        problems.append("stackLevel is negative")
    purpose = profile.get("chargingProfilePurpose")
    if purpose == "TxProfile" and not (isinstance(target, int) and target > 0):
        problems.append("a TxProfile needs a connector/EVSE > 0")
    if "transactionId" in profile and purpose != "TxProfile":
        problems.append("transactionId is only valid with a TxProfile")
    return problems


def _charger_problems(schedule: dict[str, Any], charger: Charger, voltage_v: float) -> list[str]:
    """What this charger accepts: its period count, its unit, 0 or at least its minimum."""
    periods = schedule["chargingSchedulePeriod"]
    problems = []
    if len(periods) > charger.max_periods:
        problems.append(f"{len(periods)} periods, more than max_periods {charger.max_periods}")
    if schedule.get("chargingRateUnit") != rate_unit(charger):
        problems.append(f"chargingRateUnit is not the charger's {rate_unit(charger)}")
    minimum_by_phases = _minimum_by_phases(charger, voltage_v)
    for period in periods:
        minimum = minimum_by_phases.get(period.get("numberPhases", 3), 0)
        for key in ("limit", *_V2X_NUMBERS):
            if key in period and 0 < abs(_wire_tenths(period[key])) < minimum:
                problems.append(f"{key} {period[key]} is between 0 and the minimum {minimum / 10}")
        if charger.kind == "ac" and period.get("numberPhases", 0) > charger.phases:
            problems.append(
                f"numberPhases {period['numberPhases']} on a {charger.phases}-phase charger"
            )
    if not charger.bidirectional and any(map(discharges, periods)):
        problems.append("a period discharges on a charger that is not bidirectional")
    return problems


_MINIMUMS: dict[tuple, dict[int, int]] = {}


def _minimum_by_phases(charger: Charger, voltage_v: float) -> dict[int, int]:
    """`minimum_tenths` for 1, 2 and 3 phases, computed once per kind of charger."""
    key = (
        charger.kind,
        rate_unit(charger),
        charger.min_current_a,
        charger.min_power_kw,
        voltage_v,
    )
    if key not in _MINIMUMS:
        _MINIMUMS[key] = {n: minimum_tenths(charger, n, voltage_v) for n in (1, 2, 3)}
    return _MINIMUMS[key]


@functools.lru_cache(maxsize=65536)
def _wire_tenths(limit: Any) -> Decimal:
    """A wire limit in tenths, exactly as written (21.4 -> 214; 21.45 -> 214.5); the few
    distinct limits of a plan are converted once."""
    return Decimal(str(limit)) * 10


def _profile_and_target(payload: dict[str, Any], version: str) -> tuple[dict | None, Any]:
    if version == "1.6":
        return payload.get("csChargingProfiles"), payload.get("connectorId")
    return payload.get("chargingProfile"), payload.get("evseId")


def _is_utc(text: Any) -> bool:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return False
    return moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0


def payload_kind(message: dict[str, Any]) -> tuple[Any, ...]:
    """What the official schema sees of a message: all payloads of one kind pass or fail alike
    (the numbers, which differ, are checked by our rules)."""
    profile, _ = _profile_and_target(message["payload"], message["ocpp_version"])
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    shape = (schedule["chargingRateUnit"], "duration" in schedule, "transactionId" in profile)
    fields = frozenset(k for p in schedule["chargingSchedulePeriod"] for k in p)
    return (message["ocpp_version"], message["purpose"], *shape, fields)


def _run_blocking(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run the package's async validation to completion, also from inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:  # e.g. in a notebook or an async handler
        pool.submit(asyncio.run, coroutine).result()
