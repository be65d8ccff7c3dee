"""Sessions as a CSMS knows them, through the service (SPEC §6), on SQLite and PostgreSQL: a
session without departure or energy is planned on estimates (from the site's finished
sessions once there are enough), a driver's values replace them; meter values are stored
idempotently, teach the EV's phases and a full battery (which re-plans at once), and bad ones
are refused whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from smartcharge.api.clock import SimulatedClock
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import caller_for_key
from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sessions import add_session, end_session
from smartcharge.api.store.sites import get_site
from smartcharge.api.store.tables import MeterValue
from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem
from tests.service_harness import site_document

NOW = datetime.fromisoformat("2026-03-09T08:05:00+01:00")  # a Monday
MINUTE = timedelta(minutes=1)


def workplace(**grid: Any) -> dict[str, Any]:
    document = site_document("depot", **grid)
    document["site"]["kind"] = "workplace"
    document["tariff"] = {"import_price_per_kwh": 0.25}
    document["base_load_kw"] = 0.0
    return document


def unknown(session_id: str, charger_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": session_id,
        "charger_id": charger_id,
        "transaction_id": "4711",
        "arrival": (NOW - 5 * MINUTE).isoformat(),
        **fields,
    }


def site_row(api):
    database = open_database(api.url)
    return database, get_site(database, caller_for_key(database, api.key).tenant_id, "depot")


def checked_latest(api) -> dict[str, Any]:
    """The latest plan, which must pass the checker against the problem it was made for."""
    database, site = site_row(api)
    plan = latest_schedule(database, site.pk)
    violations = check_answer(parse_problem(plan.problem), plan.answer)
    assert not violations, format_violations(violations)
    return plan.answer


def entry(answer: dict[str, Any], session_id: str) -> dict[str, Any]:
    return next(s for s in answer["sessions"] if s["id"] == session_id)


@pytest.fixture
def api(make_api):
    with make_api(clock=SimulatedClock(NOW)) as running:
        assert running.post("/v1/sites", json=workplace()).status_code == 201
        yield running


def test_estimated_then_told(api):
    assert api.post("/v1/sites/depot/sessions", json=unknown("s-1", "cp-0")).status_code == 202
    api.settle(quiet_s=0.3)
    planned = entry(checked_latest(api), "s-1")
    assert planned["estimated"] == ["departure", "energy_kwh"]
    assert planned["estimate"]["source"]["departure"] == "distribution:workplace"
    assert planned["energy_kwh"] > 0
    shown = api.get("/v1/sites/depot/sessions/s-1").json()
    assert shown["departure"] is None and shown["estimated"] == ["departure", "energy_kwh"]
    assert shown["estimate"] == planned["estimate"]
    # ISO 15118 says 6 h and 12 kWh: the next plan uses them and estimates nothing.
    told = {"departure": (NOW + timedelta(hours=6)).isoformat(), "energy_kwh": 12.0}
    assert api.patch("/v1/sites/depot/sessions/s-1", json=told).status_code == 200
    api.settle(quiet_s=0.3)
    planned = entry(checked_latest(api), "s-1")
    assert planned["estimated"] == [] and "estimate" not in planned
    assert planned["energy_kwh"] == pytest.approx(12.0, abs=0.2)  # set-points floored to 0.1 A


def test_estimates_from_the_sites_own_history(api):
    """24 finished Monday-morning sessions that stayed 2 to 25 h: the median is 13.5 h, the
    25th percentile 7.75 h (1 + 0.25 * 23 + 1), from the weekday's history."""
    database, site = site_row(api)
    local_now = NOW.astimezone(ZoneInfo("Europe/Amsterdam"))
    for i in range(24):
        arrival = local_now - timedelta(days=7 * (i + 1))  # 08:05 on the wall, DST or not
        values = {"id": f"old-{i}", "charger_id": "cp-1", "arrival": arrival, "energy_kwh": 10.0}
        add_session(database, site.pk, values, check=lambda _: None)
        end_session(database, site.pk, f"old-{i}", at=arrival + timedelta(hours=2 + i))
    arrival = NOW - 5 * MINUTE
    assert api.post("/v1/sites/depot/sessions", json=unknown("s-1", "cp-0")).status_code == 202
    api.settle(quiet_s=0.3)
    estimate = entry(checked_latest(api), "s-1")["estimate"]
    assert estimate["source"]["departure"] == "site_history:weekday"
    assert datetime.fromisoformat(estimate["departure"]) == arrival + timedelta(hours=13.5)
    assert datetime.fromisoformat(estimate["departure_early"]) == arrival + timedelta(hours=7.75)


def readings(currents: list[tuple[float, float, float]], offered: float | None = 16.0,
             start: datetime = NOW, **extra: Any) -> dict[str, Any]:  # fmt: skip
    rows = []
    for i, current in enumerate(currents):
        row = {"time": (start + i * MINUTE).isoformat(), "current_a": list(current), **extra}
        if offered is not None:
            row["offered_a"] = offered
        rows.append(row)
    return {"readings": rows}


def stored_readings(api, session_id: str = "s-1") -> list[MeterValue]:
    database, site = site_row(api)
    with database.transaction() as session:
        query = select(MeterValue).where(
            MeterValue.site_pk == site.pk, MeterValue.session_id == session_id
        )
        return list(session.scalars(query))


def known(session_id: str, charger_id: str, energy_kwh: float = 30.0) -> dict[str, Any]:
    return unknown(
        session_id,
        charger_id,
        departure=(NOW + timedelta(hours=8)).isoformat(),
        energy_kwh=energy_kwh,
    )


def test_a_one_phase_ev_is_learnt_idempotently(api):
    assert api.post("/v1/sites/depot/sessions", json=known("s-1", "cp-0")).status_code == 202
    api.settle(quiet_s=0.3)
    batch = readings([(16.0, 0.0, 0.2)] * 3, offered=None)
    answer = api.post("/v1/sites/depot/sessions/s-1/meter", json=batch)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["stored"], body["repeated"], body["replan"]) == (3, 0, "scheduled")
    assert body["learnt"]["phases"] == 1
    assert [e["kind"] for e in body["learnt"]["log"]] == ["phases"]
    # Without Current.Offered, the plan's limit for the session stood in for the offer.
    planned_a = entry(checked_latest(api), "s-1")["current_a"][0]
    assert {v.offered_a for v in stored_readings(api)} == {planned_a}
    again = api.post("/v1/sites/depot/sessions/s-1/meter", json=batch).json()
    assert (again["stored"], again["repeated"], again["replan"]) == (0, 3, "none")
    shown = api.get("/v1/sites/depot/sessions/s-1").json()
    assert shown["learnt"]["phases"] == 1 and shown["meter_values"] == 3
    api.settle(quiet_s=0.3)
    database, site = site_row(api)
    plan = latest_schedule(database, site.pk)
    assert next(s for s in plan.problem["sessions"] if s["id"] == "s-1")["phases"] == 1


def test_a_full_battery_is_released_at_once(make_api):
    """Two EVs sharing a 11 kW connection; with a 60 s debounce only the urgent path brings
    the next plan in time: the full one gets nothing (ev_full), the other all the connection
    (its energy sooner), and a CSMS polling `profiles?since=` sees its new profile."""
    with make_api(clock=SimulatedClock(NOW), debounce_s=60.0, max_wait_s=120.0) as api:
        assert api.post("/v1/sites", json=workplace(import_limit_kw=11.04)).status_code == 201
        for i in range(2):
            body = known(f"s-{i}", f"cp-{i}", energy_kwh=40.0)
            assert api.post("/v1/sites/depot/sessions", json=body).status_code == 202
        _, site = site_row(api)
        api.client.app.state.planner.request(site.pk, urgent=True)
        first = api.wait_for_version("depot", 1, timeout_s=40)
        # Sharing the connection (which slots each one gets is a tie between the two).
        shared = entry(first, "s-1")
        assert 0 < sum(shared["current_a"]) < 16.0 * len(shared["current_a"])
        full = readings([(8.0, 8.0, 8.0), (0.1, 0.1, 0.0), (0.0, 0.0, 0.0)], offered=8.0)
        answer = api.post("/v1/sites/depot/sessions/s-0/meter", json=full).json()
        assert answer["replan"] == "now" and answer["learnt"]["full"] is True
        second = api.wait_for_version("depot", first["version"] + 1, timeout_s=40)
        assert not any(entry(second, "s-0")["current_a"])
        assert entry(second, "s-0")["limited_by"][0]["constraint"] == "ev_full"
        assert entry(second, "s-1")["current_a"][0] == pytest.approx(16.0)
        # All the connection: its energy comes in no later anywhere, sooner somewhere.
        alone = entry(second, "s-1")["current_a"]
        sooner = np.cumsum(alone) - np.cumsum(shared["current_a"])
        assert sooner.min() >= -1e-9 and sooner.max() > 0
        changed = api.get(f"/v1/sites/depot/profiles?since={first['version']}").json()
        assert {p["session_id"] for p in changed["profiles"] if p.get("session_id")} >= {"s-1"}
        checked_latest(api)


@pytest.mark.parametrize(
    ("reading", "where"),
    [
        ({"time": "2026-03-09T08:06:00", "power_kw": 3.0}, "time"),
        ({"time": "2026-03-09T08:06:00+01:00", "power_kw": -3.0}, "power_kw"),
        ({"time": "2026-03-09T08:06:00+01:00", "current_a": [16, 0, 0, 0]}, "current_a"),
        ({"time": "2026-03-09T08:06:00+01:00", "soc_pct": 130}, "soc_pct"),
        ({"time": "2026-03-09T08:06:00+01:00"}, "readings"),
        ({"time": "2026-03-09T07:00:00+01:00", "power_kw": 3.0}, "time"),  # before arrival
    ],
)
def test_bad_meter_values_are_refused_whole(api, reading, where):
    assert api.post("/v1/sites/depot/sessions", json=known("s-1", "cp-0")).status_code == 202
    good = {"time": (NOW + MINUTE).isoformat(), "power_kw": 3.0}
    answer = api.post("/v1/sites/depot/sessions/s-1/meter", json={"readings": [good, reading]})
    assert answer.status_code == 422
    assert any(where in map(str, d["loc"]) for d in answer.json()["detail"]), answer.text
    assert stored_readings(api) == []


def test_meter_values_of_another_sites_session_are_refused(api):
    assert api.post("/v1/sites/depot/sessions", json=known("s-1", "cp-0")).status_code == 202
    other = site_document("other")
    assert api.post("/v1/sites", json=other).status_code == 201
    batch = readings([(16.0, 16.0, 16.0)])
    answer = api.post("/v1/sites/other/sessions/s-1/meter", json=batch)
    assert answer.status_code == 404 and "no session 's-1' at site 'other'" in answer.text
    assert stored_readings(api) == []


def test_migration_0006_steps_down_without_losing_sessions(database_url):
    """Rolled back, a session the CSMS never told a departure or energy keeps its row: the
    old schema gets a day after arrival and what was delivered; then forward again."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from smartcharge.api.store.database import MIGRATIONS
    from smartcharge.api.store.keys import create_key
    from smartcharge.api.store.sites import create_site

    database = open_database(database_url)
    tenant_id = caller_for_key(database, create_key(database, "acme")).tenant_id
    site = create_site(database, tenant_id, workplace(), "test")
    values = {"id": "s-1", "charger_id": "cp-0", "arrival": NOW}
    add_session(database, site.pk, values, check=lambda _: None)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with database.engine.connect() as connection:
        row = connection.execute(text("SELECT departure, energy_kwh FROM sessions")).one()
    assert row.energy_kwh == 0.0 and row.departure is not None
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    database.dispose()
