"""Stationary batteries in the service (SPEC §4, §5): stored with the site, their measured state
of charge posted with the meter values, and each next plan starting from the latest one. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sites import all_site_keys
from tests.service_harness import arrival, site_document

BATTERY = {
    "id": "bess-1",
    "capacity_kwh": 100,
    "soc_kwh": 50,
    "min_soc_kwh": 10,
    "max_charge_kw": 30,
    "max_discharge_kw": 30,
    "efficiency": 0.92,
    "cycle_cost_per_kwh": 0.02,
}


def battery_site() -> dict:
    document = site_document("depot", chargers=2)
    document["site"]["batteries"] = [dict(BATTERY)]
    return document


def planned_soc_kwh(api) -> float:
    """The starting state of charge of the battery in the latest stored plan's problem."""
    database = api.client.app.state.database
    [site_pk] = all_site_keys(database)
    schedule = latest_schedule(database, site_pk)
    assert schedule is not None
    [battery] = schedule.problem["site"]["batteries"]
    return battery["soc_kwh"]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_a_stored_site_keeps_its_batteries_and_refuses_a_bad_one(api):
    assert api.post("/v1/sites", json=battery_site()).status_code == 201
    [battery] = api.get("/v1/sites/depot").json()["document"]["site"]["batteries"]
    assert battery | BATTERY == battery
    document = battery_site()
    document["site"]["batteries"][0]["max_discharge_kw"] = 20
    assert api.put("/v1/sites/depot", json=document).status_code == 200
    [battery] = api.get("/v1/sites/depot").json()["document"]["site"]["batteries"]
    assert battery["max_discharge_kw"] == 20
    document["site"]["batteries"][0]["soc_kwh"] = 120  # above the 100 kWh capacity
    response = api.put("/v1/sites/depot", json=document)
    assert response.status_code == 422 and "soc_kwh" in response.text
    [battery] = api.get("/v1/sites/depot").json()["document"]["site"]["batteries"]
    assert battery["soc_kwh"] == 50


def test_the_next_plan_starts_from_the_latest_measured_state_of_charge(api):
    api.post("/v1/sites", json=battery_site())
    api.wait_for_version("depot", 1)
    assert planned_soc_kwh(api) == 50  # nothing measured: the document's state

    now = datetime.now(UTC)
    body = {
        "measurements": [
            {"time_utc": iso(now - timedelta(minutes=30)), "battery_soc_kwh": {"bess-1": 60.0}},
            {
                "time_utc": iso(now - timedelta(minutes=10)),
                "base_load_kw": 4.0,
                "battery_soc_kwh": {"bess-1": 72.5},
            },
            # A clock running ahead sends a future state: not the state now.
            {"time_utc": iso(now + timedelta(hours=1)), "battery_soc_kwh": {"bess-1": 5.0}},
        ]
    }
    assert api.post("/v1/sites/depot/measurements", json=body).json() == {"stored": 3}
    api.post("/v1/sites/depot/sessions", json=arrival("s-1", "cp-0"))  # re-plans the site
    api.wait_for_version("depot", 2)
    assert planned_soc_kwh(api) == 72.5

    stored = api.get(
        "/v1/sites/depot/measurements", params={"since": iso(now - timedelta(hours=1))}
    ).json()
    assert [m["battery_soc_kwh"] for m in stored] == [
        {"bess-1": 60.0},
        {"bess-1": 72.5},
        {"bess-1": 5.0},
    ]
    assert [m["base_load_kw"] for m in stored] == [None, 4.0, None]

    # The same timestamp again overwrites (idempotent), and the plan after it follows.
    again = {
        "measurements": [
            {"time_utc": body["measurements"][1]["time_utc"], "battery_soc_kwh": {"bess-1": 70.0}}
        ]
    }
    api.post("/v1/sites/depot/measurements", json=again)
    api.post("/v1/sites/depot/sessions", json=arrival("s-2", "cp-1"))
    api.wait_for_version("depot", 3)
    assert planned_soc_kwh(api) == 70.0


def test_a_state_for_no_battery_of_the_site_or_above_its_capacity_is_422_and_stores_nothing(api):
    api.post("/v1/sites", json=battery_site())
    now = iso(datetime.now(UTC))
    for states, reason in (
        ({"bess-9": 10.0}, "the site has no battery 'bess-9'"),
        ({"bess-1": 100.5}, "above the capacity 100"),
    ):
        body = {"measurements": [{"time_utc": now, "pv_kw": 1.0, "battery_soc_kwh": states}]}
        response = api.post("/v1/sites/depot/measurements", json=body)
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "measurements", 0, "battery_soc_kwh", *states]
        assert reason in error["msg"]
    assert api.get("/v1/sites/depot/measurements").json() == []
    negative = {"measurements": [{"time_utc": now, "battery_soc_kwh": {"bess-1": -1.0}}]}
    assert api.post("/v1/sites/depot/measurements", json=negative).status_code == 422


def test_migration_0007_adds_and_drops_battery_states_and_session_discharge(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from smartcharge.api.store.database import MIGRATIONS, Database

    database = Database(f"sqlite:///{tmp_path}/migrate.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for move, target, present in (
        (command.upgrade, "0007", True),
        (command.downgrade, "-1", False),  # to whichever revision 0007 follows
        (command.upgrade, "head", True),
    ):
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            move(config, target)
        inspector = inspect(database.engine)
        assert ("battery_soc" in inspector.get_table_names()) == present
        sessions = {c["name"] for c in inspector.get_columns("sessions")}
        assert ("discharge" in sessions) == present
