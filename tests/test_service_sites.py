"""Stored sites: CRUD, tenants and keys, limits with their history, measurements, forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key, revoke_key
from tests.service_harness import site_document

LOAD = Path(__file__).parent.parent / "data" / "load" / "households25_15min_2022.csv.gz"


def test_site_crud_round_trip(api):
    created = api.post("/v1/sites", json=site_document("depot"))
    assert created.status_code == 201, created.text
    assert created.json()["document"]["site"]["grid"]["import_limit_kw"] == 60.0
    assert api.post("/v1/sites", json=site_document("depot")).status_code == 409
    assert [s["id"] for s in api.get("/v1/sites").json()] == ["depot"]

    replaced = api.put("/v1/sites/depot", json=site_document("depot", import_limit_kw=50.0))
    assert replaced.status_code == 200
    assert api.get("/v1/sites/depot").json()["document"]["site"]["grid"]["import_limit_kw"] == 50
    history = api.get("/v1/sites/depot/limits/history").json()
    assert history[-1]["field"] == "grid.import_limit_kw"
    assert (history[-1]["old"], history[-1]["new"]) == (60.0, 50.0)

    assert api.delete("/v1/sites/depot").status_code == 204
    assert api.get("/v1/sites/depot").status_code == 404
    assert api.get("/v1/sites").json() == []


def test_keys_and_tenants(api):
    assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
    assert api.client.get("/v1/sites/depot").status_code == 401
    wrong = {"Authorization": "Bearer sck_wrong"}
    assert api.client.get("/v1/sites/depot", headers=wrong).status_code == 401

    database = open_database(api.url)
    other = {"Authorization": f"Bearer {create_key(database, 'rival-cpo')}"}
    for path in ("/v1/sites/depot", "/v1/sites/depot/schedule", "/v1/sites/depot/forecast"):
        assert api.client.get(path, headers=other).status_code == 404, path
    assert api.client.delete("/v1/sites/depot", headers=other).status_code == 404
    assert api.client.get("/v1/sites", headers=other).json() == []
    # The same site id in another tenant is another site.
    assert (
        api.client.post("/v1/sites", json=site_document("depot"), headers=other).status_code == 201
    )

    assert revoke_key(database, api.key[:12]) == 1
    assert api.get("/v1/sites/depot").status_code == 401


def test_bad_sites_are_422_naming_the_field_and_store_nothing(api):
    document = site_document("depot")
    document["site"]["chargers"][1]["circuit"] = "panel-z"
    response = api.post("/v1/sites", json=document)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "site", "chargers", 1, "circuit"]
    assert api.get("/v1/sites").json() == []

    assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
    response = api.put("/v1/sites/depot", json=site_document("elsewhere"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "site", "id"]
    response = api.put("/v1/sites/depot", json={**site_document("depot"), "tariff": {"x": 1}})
    assert response.status_code == 422
    assert (
        api.get("/v1/sites/depot").json()["document"] == api.get("/v1/sites").json()[0]["document"]
    )
    assert "x" not in api.get("/v1/sites/depot").json()["document"]["tariff"]


def test_patch_limits_keeps_a_history(api):
    api.post("/v1/sites", json=site_document("depot"))
    response = api.patch(
        "/v1/sites/depot/limits",
        json={
            "import_limit_kw": 45.0,
            "circuits": {"panel-a": {"limit_kw": 30.0}},
            "changed_by": "energy-manager@acme",
            "reason": "transformer maintenance",
        },
    )
    assert response.status_code == 200, response.text
    site = response.json()["document"]["site"]
    assert site["grid"]["import_limit_kw"] == 45.0
    assert site["circuits"][0]["limit_kw"] == 30.0
    assert site["grid"]["phase_limit_a"] == 120.0  # untouched

    history = api.get("/v1/sites/depot/limits/history").json()
    latest = {h["field"]: h for h in history if h["reason"] == "transformer maintenance"}
    assert set(latest) == {"grid.import_limit_kw", "circuits.panel-a.limit_kw"}
    assert (latest["grid.import_limit_kw"]["old"], latest["grid.import_limit_kw"]["new"]) == (
        60.0,
        45.0,
    )
    assert latest["circuits.panel-a.limit_kw"]["changed_by"] == "energy-manager@acme"

    unknown = api.patch("/v1/sites/depot/limits", json={"circuits": {"nope": {"limit_kw": 1}}})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "circuits", "nope"]
    negative = api.patch("/v1/sites/depot/limits", json={"import_limit_kw": -5})
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"][:2] == ["body", "import_limit_kw"]
    assert len(api.get("/v1/sites/depot/limits/history").json()) == len(history)


def test_measurements_are_idempotent_by_timestamp(api):
    api.post("/v1/sites", json=site_document("depot"))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batch = [
        {"time_utc": (start + timedelta(minutes=15 * i)).isoformat(), "base_load_kw": 10.0 + i}
        for i in range(96)
    ]
    for _ in range(2):
        response = api.post("/v1/sites/depot/measurements", json={"measurements": batch})
        assert response.status_code == 200
    stored = api.get("/v1/sites/depot/measurements").json()
    assert len(stored) == 96
    correction = {"time_utc": batch[5]["time_utc"], "pv_kw": 3.0}
    api.post("/v1/sites/depot/measurements", json={"measurements": [correction]})
    stored = api.get("/v1/sites/depot/measurements").json()
    assert len(stored) == 96
    assert (stored[5]["base_load_kw"], stored[5]["pv_kw"]) == (15.0, 3.0)

    naive = api.post(
        "/v1/sites/depot/measurements",
        json={"measurements": [{"time_utc": "2026-11-01T00:00:00", "base_load_kw": 1}]},
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "measurements", 0, "time_utc"]
    empty = api.post(
        "/v1/sites/depot/measurements", json={"measurements": [{"time_utc": batch[0]["time_utc"]}]}
    )
    assert empty.status_code == 422


def real_load_history(days: int) -> list[dict]:
    """The 25-household load's last `days`, moved by whole weeks to end now."""
    load = pd.read_csv(LOAD, parse_dates=["time_utc"], index_col="time_utc")["load_kw"]
    now = pd.Timestamp.now(tz="UTC").floor("15min")
    load.index = load.index + (now - load.index[-1]).ceil("7D")
    window = load[now - pd.Timedelta(days=days) : now - pd.Timedelta("1s")]
    return [{"time_utc": t.isoformat(), "base_load_kw": float(v)} for t, v in window.items()]


def test_forecast_and_plans_use_the_stored_history(api):
    document = site_document("depot")
    document["base_load_kw"] = None
    document["site"]["grid"]["import_limit_kw"] = 150.0
    api.post("/v1/sites", json=document)
    no_history = api.get("/v1/sites/depot/forecast?hours=6").json()
    assert any("no base-load history" in w for w in no_history["warnings"])

    history = real_load_history(days=14)
    api.post("/v1/sites/depot/measurements", json={"measurements": history})
    forecast = api.get("/v1/sites/depot/forecast?hours=24")
    assert forecast.status_code == 200, forecast.text
    body = forecast.json()
    assert len(body["times"]) == 96 and body["base_load_method"] != "none"
    assert not any("no base-load history" in w for w in body["warnings"])
    for low, mid, high in zip(
        *(body["base_load_kw"][q] for q in ("p10", "p50", "p90")), strict=True
    ):
        assert low <= mid <= high
    mean_history_kw = sum(h["base_load_kw"] for h in history) / len(history)
    assert 0.3 * mean_history_kw < sum(body["base_load_kw"]["p50"]) / 96 < 3 * mean_history_kw

    api.put("/v1/sites/depot", json=document)  # an event: re-plan with the history
    schedule = api.wait_for_version("depot", 2)
    assert not any("no base-load history" in w for w in schedule["warnings"])
    assert min(schedule["site"]["base_load_kw"]) > 0
