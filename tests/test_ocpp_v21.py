"""OCPP 2.1 payloads (SPEC §4) from hand-made answers: V2G set-points and their envelope, the
`limits` alternative, `numberPhases` per period for phase switching, the official 2.1 schemas
and our rules, the fail-safe defaults with a battery, and profile deltas across 2.1 fields.

The answers are built by hand in the shape SPEC §4 gives the optimizer's (signed `power_kw`,
`phases_used`, `batteries`), so these tests pin the edge whatever plan the solver finds.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.api.ocpp.delta import record_sent
from smartcharge.api.ocpp.limits import LIMIT, SETPOINT, schedule_periods
from smartcharge.api.ocpp.payloads import build_ocpp_messages, pending_transactions
from smartcharge.api.ocpp.validation import (
    OcppPayloadError,
    validate_ocpp_message,
    validate_payload,
)
from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.builders import at, charger, problem, session
from tests.test_ocpp import STEP_S, V, answer_for, hand_computed_site, schedule_of

FAST = settings(max_examples=80, deadline=None, derandomize=True)
V2G_CHARGER = {"ocpp_version": "2.1", "bidirectional": True}
DISCHARGE = {"max_power_kw": 11, "max_energy_kwh": 15}


def v2g_answer(doc: dict, power_kw: dict[str, list[float]], **extra) -> dict:
    """A hand-made SPEC §4 answer: signed power per session [kW] (AC current follows it)."""
    answer = answer_for(doc, {})
    parsed = parse_problem(doc)
    chargers = {c.id: c for c in parsed.site.chargers}
    for entry, s in zip(answer["sessions"], parsed.sessions, strict=True):
        kw = np.asarray(power_kw.get(s.id, [0.0] * parsed.horizon.slots), dtype=float)
        c = chargers[s.charger_id]
        entry["power_kw"] = kw.tolist()
        if c.kind == "ac":
            entry["current_a"] = (kw * 1000 / (V * c.phases)).tolist()
        entry["discharged_kwh"] = float(-np.minimum(kw, 0).sum() / 4)
    answer.update(extra)
    return answer


def v2g_problem(charger_fields: dict | None = None, slots: int = 4, **session_fields) -> dict:
    return problem(
        [charger("v1", max_current_a=16, **(V2G_CHARGER | (charger_fields or {})))],
        [session("s1", "v1", 20.0, transaction_id="tx-1", discharge=DISCHARGE, **session_fields)],
        slots=slots,
        options={"include_default_profiles": False},
    )


def periods_of(message: dict) -> list[dict]:
    return schedule_of(message)["chargingSchedulePeriod"]


# --- V2G set-points ---------------------------------------------------------------------------


def test_a_v2g_plan_is_a_central_setpoint_inside_its_envelope_in_watts():
    doc = v2g_problem()
    answer = v2g_answer(doc, {"s1": [11.0, -7.4, 0.0, 3.7]})
    [message] = build_ocpp_messages(parse_problem(doc), answer)
    assert message["ocpp_version"] == "2.1"
    validate_ocpp_message(message, parse_problem(doc).site.chargers)
    assert schedule_of(message)["chargingRateUnit"] == "W"  # even though the charger says A
    assert periods_of(message) == [
        {
            "startPeriod": 0,
            "operationMode": "CentralSetpoint",
            "setpoint": 11000,
            "limit": 11000,
            "dischargeLimit": 0,
            "numberPhases": 3,
        },
        {
            "startPeriod": 900,
            "operationMode": "CentralSetpoint",
            "setpoint": -7400,
            "limit": 0,
            "dischargeLimit": -7400,
            "numberPhases": 3,
        },
        {
            "startPeriod": 1800,
            "operationMode": "CentralSetpoint",
            "setpoint": 0,
            "limit": 0,
            "dischargeLimit": 0,
            "numberPhases": 3,
        },
    ]  # 3.7 kW in slot 3 is below 6 A x 3 phases: a pause like slot 2, merged with it


def test_discharge_is_truncated_towards_zero_never_more_than_planned():
    doc = v2g_problem({"kind": "dc", "max_power_kw": 50, "min_power_kw": 0})
    answer = v2g_answer(doc, {"s1": [-7.40049, 10.00009, -0.00001, 0]})
    [message] = build_ocpp_messages(parse_problem(doc), answer)
    validate_ocpp_message(message, parse_problem(doc).site.chargers)
    setpoints = [p["setpoint"] for p in periods_of(message)]
    assert setpoints == [-7400.4, 10000, 0]  # -7400.49 -> -7400.4, never -7400.5
    assert all("numberPhases" not in p for p in periods_of(message))  # 2.1 DC: omitted


def test_the_limits_option_sends_the_envelope_as_external_limits():
    doc = v2g_problem({"discharge_control": "limits"})
    answer = v2g_answer(doc, {"s1": [11.0, -7.4, -7.4, 0.0]})
    [message] = build_ocpp_messages(parse_problem(doc), answer)
    validate_ocpp_message(message, parse_problem(doc).site.chargers)
    assert [
        (p["operationMode"], p["limit"], p["dischargeLimit"], "setpoint" in p)
        for p in periods_of(message)
    ] == [
        ("ExternalLimits", 11000, 0, False),
        ("ExternalLimits", 0, -7400, False),
        ("ExternalLimits", 0, 0, False),
    ]


def test_charge_only_sessions_and_chargers_keep_the_201_shape():
    """A bidirectional charger's session without `discharge`, and a plain 2.1 charger."""
    doc = problem(
        [
            charger("v1", **V2G_CHARGER),
            charger("c2", ocpp_version="2.1"),
        ],
        [session("s1", "v1", 10.0), session("s2", "c2", 10.0)],
        options={"include_default_profiles": True},
    )
    parsed = parse_problem(doc)
    messages = build_ocpp_messages(parsed, answer_for(doc, {"s1": [16] * 4, "s2": [10] * 4}))
    by_session = {m["session_id"]: m for m in messages}
    assert periods_of(by_session["s1"]) == [
        {"startPeriod": 0, "limit": 11040, "numberPhases": 3}  # bidirectional: W
    ]
    assert periods_of(by_session["s2"]) == [{"startPeriod": 0, "limit": 10, "numberPhases": 3}]
    defaults = [m for m in messages if m["session_id"] is None]
    assert len(defaults) == 2
    for message in messages:
        assert message["ocpp_version"] == "2.1"
        validate_ocpp_message(message, parsed.site.chargers)
        assert not any(k in p for p in periods_of(message) for k in ("setpoint", "dischargeLimit"))


def test_a_waiting_v2g_session_rides_on_a_tx_default_profile_with_limits_elsewhere():
    doc = problem(
        [charger("v1", **V2G_CHARGER)],
        [session("s1", "v1", 10.0, arrival=at(1), transaction_id=None, discharge=DISCHARGE)],
        options={"include_default_profiles": True},
    )
    parsed = parse_problem(doc)
    answer = v2g_answer(doc, {"s1": [0, -5.0, 8.0, 0]})
    messages = build_ocpp_messages(parsed, answer)
    [plan] = [m for m in messages if m["session_id"] == "s1"]
    assert plan["purpose"] == "TxDefaultProfile"
    validate_ocpp_message(plan, parsed.site.chargers)
    modes = [p.get("operationMode") for p in periods_of(plan)]
    assert modes[0] is None  # slot 0 is not the session's: the fail-safe limit
    assert "CentralSetpoint" in modes
    [pending] = pending_transactions(parsed, answer)
    assert pending["planned_limit"] == [None, -5000, 8000, 0]


# --- what the validation refuses --------------------------------------------------------------


def test_validation_refuses_discharge_where_it_cannot_happen_and_setpoints_outside_limits():
    doc = v2g_problem()
    parsed = parse_problem(doc)
    [message] = build_ocpp_messages(parsed, v2g_answer(doc, {"s1": [11.0, -7.4, 0, 0]}))
    first, second = periods_of(message)[:2]
    first["setpoint"] = 12000  # above its own limit
    del second["setpoint"]  # CentralSetpoint without one
    periods_of(message).append(
        {"startPeriod": 3000, "limit": 6000, "setpoint": -6000, "numberPhases": 3}
    )
    with pytest.raises(OcppPayloadError) as error:
        validate_ocpp_message(message, parsed.site.chargers)
    for reason in (
        "setpoint 12000 outside its limits",
        "operationMode CentralSetpoint needs setpoint",
        "ChargingOnly cannot discharge",
    ):
        assert reason in str(error.value)

    plain = charger("v1", max_current_a=16, ocpp_version="2.1")  # not bidirectional
    with pytest.raises(OcppPayloadError, match="not bidirectional"):
        validate_ocpp_message(
            {**message, "payload": copy.deepcopy(message["payload"])},
            parse_problem(problem([plain], [])).site.chargers,
            schema=False,
        )


def test_the_official_21_schema_decides_signs_and_fields():
    doc = v2g_problem()
    [message] = build_ocpp_messages(parse_problem(doc), v2g_answer(doc, {"s1": [-7.4] * 4}))
    validate_payload("SetChargingProfile", message["payload"], "2.1")
    with pytest.raises(OcppPayloadError, match="Additional properties are not allowed"):
        validate_payload("SetChargingProfile", message["payload"], "2.0.1")  # no V2G in 2.0.1
    periods_of(message)[0]["dischargeLimit"] = 7400  # discharge limits are <= 0
    with pytest.raises(OcppPayloadError, match="greater than the maximum of 0"):
        validate_payload("SetChargingProfile", message["payload"], "2.1")
    periods_of(message)[0]["operationMode"] = "Discharge"
    with pytest.raises(OcppPayloadError, match="'Discharge' is not one of"):
        validate_payload("SetChargingProfile", message["payload"], "2.1")


# --- phase switching --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("unit", ["A", "W"])
def test_a_switching_session_carries_number_phases_per_period(version, unit):
    doc = problem(
        [charger("c1", ocpp_version=version, charging_rate_unit=unit, phase_switching=True)],
        [session("s1", "c1", 10.0)],
        slots=5,
        options={"include_default_profiles": False},
    )
    parsed = parse_problem(doc)
    answer = answer_for(doc, {"s1": [16, 16, 16, 6, 8]})
    entry = answer["sessions"][0]
    entry["phases_used"] = [3, 3, 1, 1, 1]
    entry["power_kw"] = [
        a * V * p / 1000 for a, p in zip([16, 16, 16, 6, 8], [3, 3, 1, 1, 1], strict=True)
    ]
    [message] = build_ocpp_messages(parsed, answer)
    validate_ocpp_message(message, parsed.site.chargers)
    got = [(p["startPeriod"], p["limit"], p["numberPhases"]) for p in periods_of(message)]
    if unit == "A":  # the same 16 A per phase on 3, then on 1 phase: two periods, not one
        assert got == [(0, 16, 3), (1800, 16, 1), (2700, 6, 1), (3600, 8, 1)]
    else:
        assert got == [(0, 11040, 3), (1800, 3680, 1), (2700, 1380, 1), (3600, 1840, 1)]


def test_a_one_phase_minimum_in_watts_is_the_one_phase_minimum():
    """1380 W is a valid one-phase limit (6 A) but a pause on three phases (below 4140 W)."""
    doc = problem(
        [charger("c1", ocpp_version="2.1", charging_rate_unit="W", phase_switching=True)],
        [session("s1", "c1", 10.0)],
        slots=2,
        options={"include_default_profiles": False},
    )
    answer = answer_for(doc, {"s1": [6, 2]})
    answer["sessions"][0]["phases_used"] = [1, 3]
    [message] = build_ocpp_messages(parse_problem(doc), answer)
    assert [(p["limit"], p["numberPhases"]) for p in periods_of(message)] == [(1380, 1), (0, 3)]


def test_ocpp_16_cannot_switch_phases():
    doc = problem([charger("c1", ocpp_version="1.6", phase_switching=True)], [])
    with pytest.raises(ProblemError, match=r"OCPP 1\.6 can only switch from three phases"):
        parse_problem(doc)


def test_the_api_refuses_phase_switching_on_16_with_a_422(api):
    doc = problem([charger("c1", ocpp_version="1.6", phase_switching=True)], [])
    response = api.post("/v1/optimize", json=doc)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "site", "chargers", 0, "phase_switching"]
    assert "OCPP 1.6" in error["msg"]


steps = st.tuples(
    st.one_of(st.just(0), st.integers(60, 320), st.integers(-320, -60)),
    st.sampled_from([1, 3]),
    st.sampled_from([LIMIT, SETPOINT]),
)


@FAST
@given(st.lists(steps, min_size=1, max_size=9), st.integers(1, 5))
def test_coarsening_never_joins_phases_kinds_or_signs(plan, max_periods):
    """Coarsened periods are at most as far from 0 as the plan, on the plan's phases, kind and
    sign wherever they are not 0; a pure plan keeps its own merged periods."""
    tenths = np.array([t if k == SETPOINT else abs(t) for t, _, k in plan])
    phases = np.array([p for _, p, _ in plan])
    kinds = np.array([k for _, _, k in plan])
    periods = schedule_periods(tenths, phases, STEP_S, max_periods, kinds)
    assert len(periods) <= max_periods
    starts = [start for start, _ in periods]
    assert starts[0] == 0 and all(b > a for a, b in itertools.pairwise(starts))
    for t in range(len(plan)):
        step = [s for start, s in periods if start <= t * STEP_S][-1]
        if step.limit_tenths == 0:
            continue
        assert (step.phases, step.kind) == (phases[t], kinds[t])
        assert np.sign(step.limit_tenths) == np.sign(tenths[t])
        assert abs(step.limit_tenths) <= abs(tenths[t])
        assert abs(step.limit_tenths) >= 60


# --- defaults and deltas ----------------------------------------------------------------------


def test_a_charging_battery_takes_its_share_of_the_fail_safe_headroom():
    parsed, answer = hand_computed_site()
    doc = parsed.model_dump(mode="json", exclude_none=True)
    without = {
        m["charger_id"]: periods_of(m)[0]["limit"]
        for m in build_ocpp_messages(parsed, answer)
        if m["session_id"] is None
    }
    doc["site"]["batteries"] = [
        {
            "id": "bess",
            "capacity_kwh": 50,
            "soc_kwh": 10,
            "max_charge_kw": 10,
            "max_discharge_kw": 10,
        }
    ]
    battery_answer = answer | {
        "batteries": [{"id": "bess", "power_kw": [9.2, 9.2], "soc_kwh": [12.2, 14.4]}]
    }
    with_battery = {
        m["charger_id"]: periods_of(m)[0]["limit"]
        for m in build_ocpp_messages(parse_problem(doc), battery_answer)
        if m["session_id"] is None
    }
    # 9.2 kW balanced is 13.3 A per grid phase, out of the 40 A phase limit's headroom.
    assert with_battery["c3"] < without["c3"]
    discharging = answer | {
        "batteries": [{"id": "bess", "power_kw": [-9.2, -9.2], "soc_kwh": [0, 0]}]
    }
    frees_nothing = {
        m["charger_id"]: periods_of(m)[0]["limit"]
        for m in build_ocpp_messages(parse_problem(doc), discharging)
        if m["session_id"] is None
    }
    assert frees_nothing == without


def test_a_changed_discharge_is_a_changed_profile():
    doc = v2g_problem()
    parsed = parse_problem(doc)
    first = build_ocpp_messages(parsed, v2g_answer(doc, {"s1": [11.0, -7.4, 0, 0]}))
    same = build_ocpp_messages(parsed, v2g_answer(doc, {"s1": [11.0, -7.4, 0, 0]}))
    deeper = build_ocpp_messages(parsed, v2g_answer(doc, {"s1": [11.0, -9.0, 0, 0]}))
    sent = record_sent(None, None, first, 1)
    assert record_sent(first, sent, same, 2) == sent
    assert record_sent(first, sent, deeper, 2) != sent


def test_a_re_plan_resends_a_session_whose_phases_or_signed_power_changed():
    """`replan` keeps the previous payload of a session whose set-points are unchanged, unless
    its phases per slot or its signed power changed (the payload would differ)."""
    from smartcharge.api.service import same_session_plan

    entry = {"current_a": [16.0, 16.0], "power_kw": [11.04, 11.04], "phases_used": [3, 3]}
    assert same_session_plan(entry, copy.deepcopy(entry))
    assert not same_session_plan(entry, entry | {"phases_used": [3, 1], "power_kw": [11.04, 3.68]})
    assert not same_session_plan(entry, entry | {"power_kw": [11.04, -11.04]})
