"""OCPP payloads: official schemas, our semantic rules, merging, coarsening, stable ids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from api.ocpp import (
    OcppPayloadError,
    floor_tenth,
    profile_id,
    schedule_periods,
    validate_ocpp_message,
)
from api.service import optimize_answer
from optimizer.problem import parse_problem
from tests.builders import charger, problem, session
from tests.strategies import problems


def test_floor_tenth_never_rounds_up():
    assert floor_tenth(21.46) == 21.4
    assert floor_tenth(21.4) == 21.4
    assert floor_tenth(15.99999) == 15.9
    assert floor_tenth(6.0) == 6.0


def test_equal_neighbours_merge():
    assert schedule_periods(np.array([16, 16, 0, 0, 16.0]), 900, 24) == [
        (0, 16.0),
        (1800, 0.0),
        (3600, 16.0),
    ]


def test_coarsening_only_lowers_and_keeps_the_minimum_rule():
    limits = np.array([6, 32, 7, 31, 0, 30, 8, 29, 6.5, 32.0])
    periods = schedule_periods(limits, 900, 3)
    assert len(periods) <= 3
    expanded = np.zeros(limits.size)
    for i, (start, value) in enumerate(periods):
        end = periods[i + 1][0] if i + 1 < len(periods) else limits.size * 900
        expanded[start // 900 : end // 900] = value
    assert (expanded <= limits + 1e-9).all()
    assert not ((expanded > 0) & (expanded < 6)).any()


def test_profile_ids_are_stable_and_distinct_per_role():
    a = profile_id("site", "cp-1", "TxProfile", 1)
    assert a == profile_id("site", "cp-1", "TxProfile", 1)
    assert a != profile_id("site", "cp-1", "TxDefaultProfile", 0)
    assert a != profile_id("site", "cp-2", "TxProfile", 1)
    assert 0 < a < 2**31


def one_phase_ev_problem(**charger_fields) -> dict:
    return problem(
        [charger("c1", max_current_a=32, **charger_fields)],
        [session("s1", "c1", 20.0, phases=1, max_current_a=21.46)],
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("unit", ["A", "W"])
def test_payloads_validate_and_carry_units_and_phases(version, unit):
    doc = one_phase_ev_problem(ocpp_version=version, charging_rate_unit=unit)
    answer = optimize_answer(doc)
    session_messages = [m for m in answer["ocpp"] if m["session_id"] == "s1"]
    assert len(session_messages) == 1
    payload = session_messages[0]["payload"]
    if version == "1.6":
        profile = payload["csChargingProfiles"]
        schedule = profile["chargingSchedule"]
        assert isinstance(profile["transactionId"], int)
        assert payload["connectorId"] == 1
    else:
        profile = payload["chargingProfile"]
        schedule = profile["chargingSchedule"][0]
        assert isinstance(profile["transactionId"], str)
        assert payload["evseId"] == 1
    assert profile["chargingProfileKind"] == "Absolute"
    assert schedule["startSchedule"] == "2026-11-24T05:00:00Z"
    assert schedule["chargingRateUnit"] == unit
    first = schedule["chargingSchedulePeriod"][0]
    assert first["startPeriod"] == 0
    assert first["numberPhases"] == 1
    expected = 21.4 if unit == "A" else floor_tenth(21.4 * 230)
    assert first["limit"] == pytest.approx(expected)


def test_default_profiles_for_every_charger_when_asked():
    doc = one_phase_ev_problem()
    doc["site"]["chargers"].append(charger("idle"))
    answer = optimize_answer(doc)
    defaults = [m for m in answer["ocpp"] if m["purpose"] == "TxDefaultProfile"]
    assert {m["charger_id"] for m in defaults} == {"c1", "idle"}
    doc["options"]["include_default_profiles"] = False
    assert all(m["session_id"] for m in optimize_answer(doc)["ocpp"])


def test_tx_default_profile_purpose_for_chargers_that_reject_tx_profile():
    doc = one_phase_ev_problem(profile_purpose="TxDefaultProfile")
    message = next(m for m in optimize_answer(doc)["ocpp"] if m["session_id"] == "s1")
    profile = message["payload"]["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert "transactionId" not in profile


def test_validation_rejects_what_the_schema_does_not_catch():
    doc = one_phase_ev_problem()
    message = optimize_answer(doc)["ocpp"][0]
    periods = message["payload"]["csChargingProfiles"]["chargingSchedule"]
    periods["chargingSchedulePeriod"][0]["startPeriod"] = 60
    with pytest.raises(OcppPayloadError, match="first period"):
        validate_ocpp_message(message)
    periods["chargingSchedulePeriod"][0]["startPeriod"] = 0
    periods["chargingSchedulePeriod"][0]["limit"] = 21.45
    with pytest.raises(OcppPayloadError, match="schema"):
        validate_ocpp_message(message)
    del message["payload"]["connectorId"]
    with pytest.raises(OcppPayloadError, match="schema"):
        validate_ocpp_message(message)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_default_profiles_keep_the_site_within_its_import_limit(doc):
    """Every charger drawing its default on top of the plan stays inside the import limit."""
    try:
        parsed = parse_problem(doc)
    except ValueError:
        return
    answer = optimize_answer(parsed)
    site = answer["site"]
    slots = parsed.horizon.slots
    extra_kw = np.zeros(slots)
    step_s = parsed.horizon.step_minutes * 60
    chargers = {c.id: c for c in parsed.site.chargers}
    for message in answer["ocpp"]:
        if message["purpose"] != "TxDefaultProfile" or message["session_id"] is not None:
            continue
        payload = message["payload"]
        schedule = (
            payload["csChargingProfiles"]["chargingSchedule"]
            if message["ocpp_version"] == "1.6"
            else payload["chargingProfile"]["chargingSchedule"][0]
        )
        values = np.zeros(slots)
        periods = schedule["chargingSchedulePeriod"]
        for i, period in enumerate(periods):
            end = periods[i + 1]["startPeriod"] if i + 1 < len(periods) else slots * step_s
            values[period["startPeriod"] // step_s : end // step_s] = period["limit"]
        c = chargers[message["charger_id"]]
        unit = schedule["chargingRateUnit"]
        extra_kw += values / 1000 if unit == "W" else values * 230 * c.phases / 1000
    import_limit = np.asarray(site["import_limit_kw"])
    planned = np.asarray(site["import_kw"])
    room = np.maximum(import_limit - planned, 0)
    assert (extra_kw <= room + 1e-3).all()
