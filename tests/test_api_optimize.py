"""`POST /v1/optimize` over HTTP: answers, 422 with field paths, 413 over the size limit."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.builders import charger, problem, session

EXAMPLE = Path(__file__).parent.parent / "data" / "examples" / "workplace-20.json"


def client(**settings) -> TestClient:
    return TestClient(create_app(Settings(**settings)))


def test_optimize_answers_with_ocpp_payloads():
    response = client().post("/v1/optimize", json=json.loads(EXAMPLE.read_text()))
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "optimal"
    assert answer["ocpp"] and answer["sessions"]


def test_bad_input_is_422_naming_the_field():
    doc = problem([charger("c1")], [session("s1", "nope", 5.0)])
    response = client().post("/v1/optimize", json=doc)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "sessions", 0, "charger_id"]
    assert "unknown charger 'nope'" in detail[0]["msg"]


def test_not_an_object_is_422():
    assert client().post("/v1/optimize", json=[1, 2]).status_code == 422


def test_over_the_size_limit_is_413_naming_the_limit():
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)])
    response = client(max_session_slots=2).post("/v1/optimize", json=doc)
    assert response.status_code == 413
    assert "SMARTCHARGE_MAX_SESSION_SLOTS" in response.json()["detail"]


def test_healthz_and_openapi():
    app = client()
    assert app.get("/healthz").json() == {"status": "ok"}
    assert "/v1/optimize" in app.get("/openapi.json").json()["paths"]
