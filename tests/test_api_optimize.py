"""`POST /v1/optimize` over HTTP: answers, 422 with field paths, 413 over the size limit."""

from __future__ import annotations

import json
from pathlib import Path

from tests.builders import charger, problem, session
from tests.service_harness import running_api

EXAMPLE = Path(__file__).parent.parent / "data" / "examples" / "workplace-20.json"


def test_optimize_answers_with_ocpp_payloads(api):
    response = api.post("/v1/optimize", json=json.loads(EXAMPLE.read_text()))
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "optimal"
    assert answer["ocpp"] and answer["sessions"]


def test_no_key_is_401_and_a_bad_key_too(api):
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)])
    assert api.client.post("/v1/optimize", json=doc).status_code == 401
    bad = {"Authorization": "Bearer sck_not-a-key"}
    response = api.client.post("/v1/optimize", json=doc, headers=bad)
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["detail"]


def test_bad_input_is_422_naming_the_field(api):
    doc = problem([charger("c1")], [session("s1", "nope", 5.0)])
    response = api.post("/v1/optimize", json=doc)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "sessions", 0, "charger_id"]
    assert "unknown charger 'nope'" in detail[0]["msg"]


def test_time_inputs_over_http_report_what_the_plan_used_and_bad_rules_are_422(api):
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)])
    doc["tariff"]["time_of_use"] = [{"from": "06:30", "to": "07:00", "import_per_kwh": 0.5}]
    doc["site"]["grid"]["phase_limit_a"] = [32, None, 32, 32]
    site = api.post("/v1/optimize", json=doc).json()["site"]
    assert site["import_price_per_kwh"] == [0.2, 0.2, 0.5, 0.5]  # slots from 06:00
    assert site["export_price_per_kwh"] == [0.0] * 4
    assert site["import_limit_kw"] == [1000.0] * 4 and site["export_limit_kw"] == [0.0] * 4
    assert site["phase_limit_a"] == [32, None, 32, 32]
    assert site["slot_start"][2] == "2026-11-24T06:30:00+01:00"

    doc["tariff"]["time_of_use"][0]["from"] = "6h30"
    response = api.post("/v1/optimize", json=doc)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "tariff", "time_of_use", 0, "from"]
    assert "not a clock time" in error["msg"]


def test_not_an_object_is_422(api):
    assert api.post("/v1/optimize", json=[1, 2]).status_code == 422


def test_over_the_size_limit_is_413_naming_the_limit(make_api):
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)])
    with make_api(max_session_slots=2) as api:
        response = api.post("/v1/optimize", json=doc)
    assert response.status_code == 413
    assert "SMARTCHARGE_MAX_SESSION_SLOTS" in response.json()["detail"]


def test_healthz_and_openapi(api):
    health = api.client.get("/healthz").json()
    assert health["status"] == "ok" and health["database"]["state"] == "ok"
    assert api.client.get("/readyz").json() == {"ready": True}
    assert "/v1/optimize" in api.client.get("/openapi.json").json()["paths"]


def mutated_documents():
    """Valid documents with one field replaced by something wrong (hypothesis)."""
    from hypothesis import strategies as st

    base = json.loads(EXAMPLE.read_text())
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=3),
        st.just({}),
    )
    paths = [
        ("site", "grid", "import_limit_kw"),
        ("site", "grid", "phase_limit_a"),
        ("site", "chargers", 0, "max_current_a"),
        ("site", "chargers", 0, "phase_rotation"),
        ("site", "chargers", 0, "kind"),
        ("horizon", "start"),
        ("horizon", "slots"),
        ("horizon", "step_minutes"),
        ("tariff", "import_price_per_kwh"),
        ("base_load_kw",),
        ("sessions", 0, "arrival"),
        ("sessions", 0, "energy_kwh"),
        ("sessions", 0, "priority"),
        ("sessions", 0, "charger_id"),
        ("options", "time_limit_s"),
        ("site",),
        ("sessions",),
    ]

    def put(path, value):
        doc = json.loads(json.dumps(base))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc

    return st.builds(put, st.sampled_from(paths), junk)


def test_no_input_crashes_the_server(tmp_path):
    from hypothesis import HealthCheck, given, settings

    @settings(
        max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(mutated_documents())
    def post(doc):
        response = api.post("/v1/optimize", json=doc)
        assert response.status_code in (200, 413, 422), response.text
        if response.status_code == 422:
            assert response.json()["detail"][0]["loc"][0] == "body"

    with running_api(f"sqlite:///{tmp_path}/fuzz.db", max_time_limit_s=2.0) as api:
        post()
