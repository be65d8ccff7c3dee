"""A stored site with OCPP 2.1 chargers (SPEC §4): a bidirectional one whose session may
discharge (stored with the session) and a phase-switching one, through the service: its plan's
payloads, a session awaiting its transaction on a TxDefaultProfile, and `profiles?since=` after
the transaction id arrives. On SQLite and PostgreSQL."""

from __future__ import annotations

from smartcharge.api.ocpp.validation import validate_ocpp_message
from smartcharge.optimizer.problem import parse_problem
from tests.service_harness import Api, arrival, site_document


def v21_document() -> dict:
    document = site_document("depot", chargers=2)
    v2g, switching = document["site"]["chargers"]
    v2g |= {"ocpp_version": "2.1", "bidirectional": True}
    switching |= {"ocpp_version": "2.1", "phase_switching": True}
    return document


def periods(message: dict) -> list[dict]:
    return message["payload"]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]


def test_v21_profiles_and_their_deltas(api: Api) -> None:
    assert api.post("/v1/sites", json=v21_document()).status_code == 201
    v2g_session = arrival("s-v2g", "cp-0", 12.0) | {
        "discharge": {"max_power_kw": 11, "max_energy_kwh": 10}
    }
    waiting = arrival("s-1ph", "cp-1", 6.0) | {"transaction_id": None}
    for session in (v2g_session, waiting):
        assert api.post("/v1/sites/depot/sessions", json=session).status_code == 202
    api.settle()
    [stored] = [s for s in api.get("/v1/sites/depot/sessions").json() if s["id"] == "s-v2g"]
    assert stored["discharge"] == {"max_power_kw": 11, "max_energy_kwh": 10}
    schedule = api.get("/v1/sites/depot/schedule").json()
    everything = api.get("/v1/sites/depot/profiles").json()["profiles"]
    assert {m["ocpp_version"] for m in everything} == {"2.1"}
    by_session = {m["session_id"]: m for m in everything if m["session_id"]}
    assert by_session["s-v2g"]["purpose"] == "TxProfile"
    assert by_session["s-1ph"]["purpose"] == "TxDefaultProfile"  # awaits its transaction
    assert {p.get("operationMode") for p in periods(by_session["s-v2g"])} == {"CentralSetpoint"}
    assert schedule["pending_transactions"][0]["charging_rate_unit"] == "A"

    # Every message of the plan passes the 2.1 schema and our rules for its own charger.
    horizon = {"start": schedule["site"]["slot_start"][0], "step_minutes": 15, "slots": 1}
    chargers = parse_problem(v21_document() | {"horizon": horizon, "sessions": []}).site.chargers
    for message in everything:
        validate_ocpp_message(message, chargers)

    patched = api.patch("/v1/sites/depot/sessions/s-1ph", json={"transaction_id": "ev-7"})
    assert patched.status_code == 200
    api.settle()
    delta = api.get(f"/v1/sites/depot/profiles?since={schedule['version']}").json()
    assert [(m["session_id"], m["purpose"]) for m in delta["profiles"]] == [("s-1ph", "TxProfile")]
    assert [c["charging_profile_purpose"] for c in delta["cleared"]] == ["TxDefaultProfile"]
    assert api.get(f"/v1/sites/depot/profiles?since={delta['version']}").json()["profiles"] == []


def test_discharge_is_patched_on_a_session_and_refused_where_the_charger_cannot(api: Api) -> None:
    api.post("/v1/sites", json=v21_document())
    for session in (arrival("s-0", "cp-0", 8.0), arrival("s-1", "cp-1", 8.0)):
        api.post("/v1/sites/depot/sessions", json=session)
    allowed = {"discharge": {"max_power_kw": 7, "max_energy_kwh": 5}}
    patched = api.patch("/v1/sites/depot/sessions/s-0", json=allowed)
    assert patched.status_code == 200
    assert patched.json()["session"]["discharge"] == allowed["discharge"]
    refused = api.patch("/v1/sites/depot/sessions/s-1", json=allowed)  # cp-1 only switches
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "discharge"] and "not bidirectional" in error["msg"]
    [s1] = [s for s in api.get("/v1/sites/depot/sessions").json() if s["id"] == "s-1"]
    assert s1["discharge"] is None
