"""The OCPP 2.1 round trip: V2G and phase-switching plans over websockets to `ocpp.v21` chargers.

A CSMS sends each session's `SetChargingProfile` (and the fail-safe defaults) to simulated OCPP
2.1 and 2.0.1 chargers (`tests.ocpp_sim`, both sides checking every message against the
official schemas); each charger answers Accepted, then `GetCompositeSchedule`, which must be the
plan in every slot: a bidirectional session's signed set-point (negative = discharge) inside
its envelope, or the envelope alone (`discharge_control: "limits"`), and a switching session's
limit on the phases it uses in that slot. The expected values are computed here with decimals
from the answer, not with the emitter's helpers.
"""

from __future__ import annotations

import copy
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any

from smartcharge.api.ocpp.payloads import build_ocpp_messages
from smartcharge.api.service import optimize_answer
from smartcharge.optimizer.problem import parse_problem
from tests.builders import charger, problem, session
from tests.ocpp_sim import TENTH, Composite, wire_number
from tests.test_ocpp import answer_for
from tests.test_ocpp_roundtrip import as_decimal, floor_tenth, per_slot, run, unit_of

SLOTS = 8
STEP_S = 900
V = Decimal(230)
DISCHARGE = {"max_power_kw": 11, "max_energy_kwh": 15}


def v21_site() -> dict[str, Any]:
    """Four chargers: V2G in AC (set-points) and DC (limits), switching in 2.1 A and 2.0.1 W."""
    return problem(
        [
            charger("v2g-ac", ocpp_version="2.1", bidirectional=True, max_periods=SLOTS),
            {
                "id": "v2g-dc",
                "kind": "dc",
                "max_power_kw": 50,
                "ocpp_version": "2.1",
                "bidirectional": True,
                "discharge_control": "limits",
                "max_periods": SLOTS,
            },
            charger("switch-a", ocpp_version="2.1", phase_switching=True, max_periods=SLOTS),
            charger(
                "switch-w",
                ocpp_version="2.0.1",
                charging_rate_unit="W",
                phase_switching=True,
                max_periods=SLOTS,
            ),
        ],
        [
            session("s-ac", "v2g-ac", 15.0, transaction_id="tx-ac", discharge=DISCHARGE),
            session("s-dc", "v2g-dc", 30.0, transaction_id="tx-dc", discharge=DISCHARGE),
            session("s-a", "switch-a", 8.0, transaction_id="tx-a"),
            session("s-w", "switch-w", 8.0, transaction_id="tx-w"),
        ],
        slots=SLOTS,
        options={"include_default_profiles": True},
    )


def hand_made_answer(doc: dict[str, Any]) -> dict[str, Any]:
    """SPEC §4's answer shape by hand: signed power, `phases_used`, a 0.1 W tail that must go."""
    answer = answer_for(doc, {})
    plans = {
        "s-ac": ([11.04, 11.04, -7.36, -7.36, -3.0, 0.0, 5.5, 11.04], None),
        "s-dc": ([40.0, -20.00049, -20.0, 0.0, 12.5, 12.5, -0.05, 50.0], None),
        "s-a": ([16, 16, 12, 8, 8, 16, 6, 0], [3, 3, 1, 1, 3, 1, 1, 1]),
        "s-w": ([10, 6, 16, 16, 7.5, 6, 0, 16], [1, 1, 3, 3, 1, 3, 3, 1]),
    }
    for entry in answer["sessions"]:
        values, phases = plans[entry["id"]]
        if phases is None:  # bidirectional: power [kW], current from it on 3 phases
            entry["power_kw"] = values
            if entry["current_a"] is not None:
                entry["current_a"] = [kw * 1000 / (230 * 3) for kw in values]
        else:
            entry["current_a"] = values
            entry["phases_used"] = phases
            entry["power_kw"] = [a * 230 * p / 1000 for a, p in zip(values, phases, strict=True)]
    return answer


# --- what the composite must be ---------------------------------------------------------------


def towards_zero(x: Decimal) -> Decimal:
    return x.quantize(TENTH, rounding=ROUND_DOWN)


def expected_periods(doc: dict[str, Any], entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per slot (limit, numberPhases, operationMode, setpoint, dischargeLimit) to read back."""
    chargers = {c["id"]: c for c in doc["site"]["chargers"]}
    charger_doc = chargers[entry["charger_id"]]
    session = next(s for s in doc["sessions"] if s["id"] == entry["id"])
    dc = charger_doc.get("kind") == "dc"
    min_a = Decimal(str(charger_doc.get("min_current_a", 6))).quantize(TENTH, ROUND_CEILING)
    expected = []
    for t in range(SLOTS):
        if "discharge" in session:
            phases = None if dc else 3
            value = towards_zero(as_decimal(entry["power_kw"][t]) * 1000)
            minimum = Decimal(0) if dc else floor_tenth(min_a * V * 3)
            value = value if abs(value) >= minimum else Decimal(0)
            envelope = (max(value, Decimal(0)), min(value, Decimal(0)))
            if charger_doc.get("discharge_control") == "limits":
                expected.append((envelope[0], phases, "ExternalLimits", None, envelope[1]))
            else:
                expected.append((envelope[0], phases, "CentralSetpoint", value, envelope[1]))
            continue
        phases = (entry.get("phases_used") or [3] * SLOTS)[t]
        amps = floor_tenth(as_decimal(entry["current_a"][t]))
        if unit_of(charger_doc) == "A":
            limit = amps if amps >= min_a else Decimal(0)
        else:
            watts = floor_tenth(amps * V * phases)
            limit = watts if watts >= floor_tenth(min_a * V * phases) else Decimal(0)
        expected.append((limit, phases, None, None, None))
    return expected


def mismatches(
    doc: dict[str, Any], answer: dict[str, Any], composites: dict[str, Composite]
) -> list[str]:
    problems = []
    for entry in answer["sessions"]:
        composite = composites[entry["charger_id"]]
        got = [p.effect() for p in per_slot(composite, STEP_S, SLOTS)]
        for t, (have, want) in enumerate(zip(got, expected_periods(doc, entry), strict=True)):
            if have != want:
                problems.append(f"{entry['charger_id']} slot {t}: composite {have}, plan {want}")
    return problems


def simulated(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the simulators and the CSMS read it: a DC charger's maximum as a current
    too, and a bidirectional charger's unit as it is limited, W (the composite is asked in it)."""
    doc = copy.deepcopy(doc)
    for charger_doc in doc["site"]["chargers"]:
        charger_doc.setdefault("max_current_a", 80)
        charger_doc.setdefault("phases", 3)
        if charger_doc.get("bidirectional"):
            charger_doc["charging_rate_unit"] = "W"
    return doc


# --- tests --------------------------------------------------------------------------------------


def test_v21_chargers_accept_the_plan_and_their_composite_is_it_charge_and_discharge():
    doc = v21_site()
    answer = hand_made_answer(doc)
    messages = build_ocpp_messages(parse_problem(doc), answer)
    assert {m["ocpp_version"] for m in messages} == {"2.1", "2.0.1"}

    trip = run(simulated(doc), messages)

    assert [status for _, status in trip.statuses] == ["Accepted"] * len(messages)
    for cid in ("v2g-ac", "v2g-dc"):  # camelCase -> snake_case -> the wire loses nothing
        assert trip.received[cid] == [m["payload"] for m in messages if m["charger_id"] == cid]
    assert mismatches(doc, answer, trip.composites) == []
    setpoints = [p.setpoint for p in trip.composites["v2g-ac"].periods]
    assert Decimal(-7360) in setpoints  # the discharge reads back negative
    discharge_limits = [p.discharge_limit for p in trip.composites["v2g-dc"].periods]
    assert Decimal("-20000.4") in discharge_limits  # -20000.49 W, never rounded up to more
    assert {p.phases for p in trip.composites["switch-a"].periods} >= {1, 3}


def test_a_setpoint_changed_by_a_tenth_is_caught():
    doc = v21_site()
    answer = hand_made_answer(doc)
    messages = build_ocpp_messages(parse_problem(doc), answer)
    message = next(m for m in messages if m["session_id"] == "s-ac")
    periods = message["payload"]["chargingProfile"]["chargingSchedule"][0]
    period = next(p for p in periods["chargingSchedulePeriod"] if p["setpoint"] == -7360)
    period["setpoint"] = wire_number(Decimal(period["setpoint"]) + TENTH)  # still valid

    trip = run(simulated(doc), messages)

    assert all(status == "Accepted" for _, status in trip.statuses)
    problems = mismatches(doc, answer, trip.composites)
    assert problems and all(p.startswith("v2g-ac slot") for p in problems)


def test_the_optimizers_own_v2g_and_switching_plan_round_trips():
    """Whatever the optimizer plans for these sessions (discharge and one-phase slots once it
    decides them), its payloads are accepted and its composite is its plan."""
    doc = v21_site()
    answer = optimize_answer(copy.deepcopy(doc))

    trip = run(simulated(doc), answer["ocpp"])

    assert [status for _, status in trip.statuses] == ["Accepted"] * len(answer["ocpp"])
    assert mismatches(doc, answer, trip.composites) == []
