"""Sessions as events: debounced re-plans, versioned schedules with ETags, OCPP deltas, what-if,
the periodic tick, size limits and metrics. Every stored plan passes the independent checker."""

from __future__ import annotations

import time

from smartcharge.api.store.database import open_database
from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sites import list_sites
from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem
from tests.service_harness import arrival, site_document


def assert_stored_plan_is_valid(api, site_id: str) -> None:
    database = open_database(api.url)
    (site,) = [s for s in list_sites(database, 1) if s.site_id == site_id]
    stored = latest_schedule(database, site.pk)
    violations = check_answer(parse_problem(stored.problem), stored.answer)
    assert not violations, format_violations(violations)


def replan_solves(metrics: str) -> float:
    """How many re-plans the service ran, whatever their status (Prometheus text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "smartcharge_solve_duration_seconds_count"
        and sample.labels["kind"] == "replan"
    )


def test_a_burst_of_50_arrivals_gives_one_solve(make_api):
    with make_api(debounce_s=1.5, max_wait_s=30) as api:
        api.post("/v1/sites", json=site_document("hub", chargers=50, import_limit_kw=150.0))
        api.wait_for_version("hub", 1)
        api.settle()
        for i in range(50):
            response = api.post("/v1/sites/hub/sessions", json=arrival(f"s-{i}", f"cp-{i}", 8.0))
            assert response.status_code == 202, response.text
        schedule = api.wait_for_version("hub", 2)
        api.settle(quiet_s=2.0)
        assert api.get("/v1/sites/hub/schedule").json()["version"] == 2
        assert len(schedule["sessions"]) == 50
        assert replan_solves(api.client.get("/metrics").text) == 2
        assert_stored_plan_is_valid(api, "hub")


def test_schedule_etag_and_profile_deltas(api):
    api.post("/v1/sites", json=site_document("depot", chargers=4))
    for i in range(4):
        api.post("/v1/sites/depot/sessions", json=arrival(f"s-{i}", f"cp-{i}", 6.0 + i, hours=6))
    api.settle()
    first = api.get("/v1/sites/depot/schedule")
    version = first.json()["version"]
    etag = first.headers["etag"]
    assert api.get("/v1/sites/depot/schedule", headers={"If-None-Match": etag}).status_code == 304

    everything = api.get("/v1/sites/depot/profiles").json()
    assert everything["version"] == version
    assert {m["charger_id"] for m in everything["profiles"]} == {f"cp-{i}" for i in range(4)}
    ids = {
        (m["charger_id"], m["payload"]["csChargingProfiles"]["chargingProfileId"])
        for m in everything["profiles"]
    }

    # The EV on cp-3 now wants much less: only its profile (and perhaps neighbours sharing the
    # circuit) change.
    changed = api.patch("/v1/sites/depot/sessions/s-3", json={"energy_kwh": 1.5})
    assert changed.status_code == 200
    api.settle()
    latest = api.get("/v1/sites/depot/schedule")
    assert latest.json()["version"] == version + 1
    assert latest.headers["etag"] != etag
    assert api.get("/v1/sites/depot/schedule", headers={"If-None-Match": etag}).status_code == 200

    delta = api.get(f"/v1/sites/depot/profiles?since={version}").json()
    assert "cp-3" in {m["charger_id"] for m in delta["profiles"]}
    assert delta["version"] == version + 1
    now_ids = {
        (m["charger_id"], m["payload"]["csChargingProfiles"]["chargingProfileId"])
        for m in api.get("/v1/sites/depot/profiles").json()["profiles"]
    }
    assert now_ids == ids  # stable profile ids across versions
    same = api.get(f"/v1/sites/depot/profiles?since={version + 1}").json()
    assert same["profiles"] == [] and same["cleared"] == []

    assert api.delete("/v1/sites/depot/sessions/s-0").status_code == 204
    api.settle()
    after = api.get(f"/v1/sites/depot/profiles?since={version + 1}").json()
    assert any(c["charger_id"] == "cp-0" for c in after["cleared"]) or any(
        m["charger_id"] == "cp-0" for m in after["profiles"]
    )
    assert [s["id"] for s in api.get("/v1/sites/depot/sessions").json()] == ["s-1", "s-2", "s-3"]
    assert api.get("/v1/sites/depot/profiles?since=999").status_code == 404
    assert_stored_plan_is_valid(api, "depot")


def test_session_events_are_validated(api):
    api.post("/v1/sites", json=site_document("depot", chargers=2))
    unknown = api.post("/v1/sites/depot/sessions", json=arrival("s-1", "cp-9"))
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "charger_id"]
    assert api.post("/v1/sites/depot/sessions", json=arrival("s-1", "cp-0")).status_code == 202
    assert api.post("/v1/sites/depot/sessions", json=arrival("s-1", "cp-1")).status_code == 409
    overlap = api.post("/v1/sites/depot/sessions", json=arrival("s-2", "cp-0"))
    assert overlap.status_code == 422
    assert "overlap" in overlap.text
    past = arrival("s-3", "cp-1", hours=-1)
    past["arrival"] = "2026-01-01T00:00:00+00:00"
    response = api.post("/v1/sites/depot/sessions", json=past)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "departure"]
    assert api.patch("/v1/sites/depot/sessions/s-1", json={}).status_code == 422
    assert api.patch("/v1/sites/depot/sessions/nope", json={"energy_kwh": 3}).status_code == 404
    assert api.delete("/v1/sites/depot/sessions/nope").status_code == 404
    assert [s["id"] for s in api.get("/v1/sites/depot/sessions").json()] == ["s-1"]


def test_what_if_answers_and_changes_nothing(api):
    document = site_document("depot", chargers=4, import_limit_kw=60.0)
    api.post("/v1/sites", json=document)
    for i in range(4):
        api.post("/v1/sites/depot/sessions", json=arrival(f"s-{i}", f"cp-{i}", 20.0, hours=3))
    api.settle()
    before = api.get("/v1/sites/depot/schedule").json()
    stored_document = api.get("/v1/sites/depot").json()["document"]

    tighter = api.post(
        "/v1/sites/depot/what-if", json={"site": {"grid": {"import_limit_kw": 20.0}}}
    )
    assert tighter.status_code == 200, tighter.text
    answer = tighter.json()
    assert max(answer["site"]["import_kw"]) <= 20.0 + 1e-6
    assert answer["kpis"]["energy_delivered_kwh"] < before["kpis"]["energy_delivered_kwh"]

    extra = api.post(
        "/v1/sites/depot/what-if",
        json={"sessions": [arrival("x-1", "cp-0", 5.0)], "tariff": {"demand_charge_per_kw": 0}},
    )
    assert [s["id"] for s in extra.json()["sessions"]] == ["x-1"]
    bad = api.post("/v1/sites/depot/what-if", json={"site": {"grid": {"import_limit_kw": -1}}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:4] == ["body", "site", "grid", "import_limit_kw"]

    api.settle()
    assert api.get("/v1/sites/depot/schedule").json()["version"] == before["version"]
    assert api.get("/v1/sites/depot").json()["document"] == stored_document
    assert len(api.get("/v1/sites/depot/sessions").json()) == 4


def test_over_the_size_limit_is_413(make_api):
    with make_api(max_session_slots=100) as api:
        api.post("/v1/sites", json=site_document("depot", chargers=4))
        for i in range(4):
            api.post("/v1/sites/depot/sessions", json=arrival(f"s-{i}", f"cp-{i}"))
        response = api.post("/v1/sites/depot/what-if", json={})
        assert response.status_code == 413
        assert "SMARTCHARGE_MAX_SESSION_SLOTS" in response.json()["detail"]
        api.settle()
        assert 'status="too_large"' in api.client.get("/metrics").text


def test_the_tick_replans_without_events(make_api):
    with make_api(tick_s=1.0) as api:
        api.post("/v1/sites", json=site_document("depot"))
        first = api.wait_for_version("depot", 1)["version"]
        api.wait_for_version("depot", first + 2, timeout_s=30)


def test_reads_answer_while_a_big_site_solves(make_api):
    """Solves run in a separate process: /healthz and reads answer during a 1000-charger solve."""
    import threading

    from benchmarks.generator import generate_problem

    big = generate_problem(1000, slots=96, seed=3)
    big.setdefault("options", {})["time_limit_s"] = 20
    with make_api(solver_pool="process", solver_workers=1, max_session_slots=10**7) as api:
        results: list = []
        worker = threading.Thread(target=lambda: results.append(api.post("/v1/optimize", big)))
        worker.start()
        deadline = time.monotonic() + 60
        while api.client.app.state.planner.pool.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert api.client.app.state.planner.pool.in_flight == 1
        assert api.client.get("/healthz").json()["status"] == "ok"
        assert api.get("/v1/sites").status_code == 200
        assert "smartcharge_solve_queue_length 1.0" in api.client.get("/metrics").text
        assert worker.is_alive(), "the solve finished before the reads: not a test of anything"
        worker.join(120)
        assert results[0].status_code == 200


def test_a_meter_value_alone_waits_for_the_next_plan_unless_it_meets_the_request(api):
    """Metered energy every minute must not keep a site re-planning; the value that completes
    a session's energy frees its capacity at once."""
    assert api.post("/v1/sites", json=site_document("depot", chargers=2)).status_code == 201
    assert (
        api.post("/v1/sites/depot/sessions", json=arrival("s-0", "cp-0", 10.0)).status_code == 202
    )
    first = api.wait_for_version("depot", 1)
    api.settle()
    for delivered_kwh in (1.0, 2.5, 4.0):
        answer = api.patch(
            "/v1/sites/depot/sessions/s-0", json={"energy_delivered_kwh": delivered_kwh}
        )
        assert answer.status_code == 200 and answer.json()["replan"] == "with_next_plan"
        assert answer.json()["session"]["energy_delivered_kwh"] == delivered_kwh
    api.settle()
    assert api.get("/v1/sites/depot/schedule").json()["version"] == first["version"]

    met = api.patch("/v1/sites/depot/sessions/s-0", json={"energy_delivered_kwh": 10.0})
    assert met.json()["replan"] == "scheduled"
    replanned = api.wait_for_version("depot", first["version"] + 1)
    (session,) = replanned["sessions"]
    assert session["energy_kwh"] == 0.0  # nothing left to plan for it
    api.settle()
    again = api.patch("/v1/sites/depot/sessions/s-0", json={"energy_delivered_kwh": 10.2})
    assert again.json()["replan"] == "with_next_plan"  # met once, not again every minute
    assert (
        api.patch("/v1/sites/depot/sessions/nope", json={"energy_delivered_kwh": 1}).status_code
        == 404
    )
