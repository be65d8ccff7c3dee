"""Grid-operator windows (SPEC §5): stored with their source and reason, cancelled into history,
refused whole when bad; inside [start, end) every plan keeps to the tighter of the window's and
the site's limits (a window touching part of a slot binds all of it), overlapping windows give
the tightest, past and cancelled ones change nothing; a window in force now re-plans at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from smartcharge.api.clock import SimulatedClock
from smartcharge.api.routes.grid_limits import replan_for
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import caller_for_key, create_key
from smartcharge.api.store.schedules import latest_schedule
from smartcharge.api.store.sites import get_site
from smartcharge.api.store.tables import GridLimitWindow
from smartcharge.api.stored_problem import stored_problem
from smartcharge.optimizer.check import check_answer
from smartcharge.optimizer.problem import parse_problem
from tests.service_harness import site_document

NOW = datetime.fromisoformat("2026-03-10T10:20:00+01:00")
PLAN_START = datetime.fromisoformat("2026-03-10T10:15:00+01:00")
STEP = timedelta(minutes=15)
SITE_IMPORT_KW = 60.0


def window(start: timedelta, end: timedelta, **limits: Any) -> dict[str, Any]:
    return {
        "start": (NOW + start).isoformat(),
        "end": (NOW + end).isoformat(),
        "source": "dso",
        **limits,
    }


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def charging_site() -> dict[str, Any]:
    """Four 11 kW chargers on a 40 kW panel; no base load, no PV, no demand charge: with flat
    prices a plan charges as early as the limits let it."""
    document = site_document("depot")
    document["base_load_kw"] = 0.0
    document["tariff"] = {"import_price_per_kwh": 0.25}
    return document


def sessions_wanting_more(api) -> None:
    for i in range(4):
        body = {
            "id": f"s-{i}",
            "charger_id": f"cp-{i}",
            "transaction_id": str(100 + i),
            "arrival": (NOW - timedelta(minutes=10)).isoformat(),
            "departure": (NOW + hours(8)).isoformat(),
            "energy_kwh": 40.0,
        }
        assert api.post("/v1/sites/depot/sessions", json=body).status_code == 202


@pytest.fixture
def api(make_api):
    with make_api(clock=SimulatedClock(NOW)) as running:
        assert running.post("/v1/sites", json=charging_site()).status_code == 201
        yield running


def stored(api) -> dict[str, Any]:
    """The problem a plan of the site poses now."""
    database = open_database(api.url)
    site = get_site(database, caller_for_key(database, api.key).tenant_id, "depot")
    return stored_problem(database, site, NOW).problem


def test_windows_are_stored_listed_and_cancelled_into_history(api):
    posted = api.post(
        "/v1/sites/depot/grid-limits",
        json=window(hours(1), hours(3), import_limit_kw=25, reason="flexibility call #4711"),
    )
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert body["status"] == "scheduled"
    assert (body["import_limit_kw"], body["export_limit_kw"], body["phase_limit_a"]) == (
        25.0,
        None,
        None,
    )
    assert body["source"] == "dso" and body["reason"] == "flexibility call #4711"
    assert body["created_by"].startswith("acme/")
    now_window = api.post(
        "/v1/sites/depot/grid-limits", json=window(hours(0), hours(1), export_limit_kw=0)
    ).json()
    assert now_window["status"] == "active"
    past = api.post(
        "/v1/sites/depot/grid-limits", json=window(-hours(3), -hours(1), import_limit_kw=1)
    ).json()
    assert past["status"] == "ended"

    listed = api.get("/v1/sites/depot/grid-limits").json()
    assert [w["id"] for w in listed] == [now_window["id"], body["id"]]  # by start; past left out
    assert api.get(f"/v1/sites/depot/grid-limits/{body['id']}").json() == body

    assert api.delete(f"/v1/sites/depot/grid-limits/{body['id']}").status_code == 204
    assert api.delete(f"/v1/sites/depot/grid-limits/{body['id']}").status_code == 204  # again
    assert [w["id"] for w in api.get("/v1/sites/depot/grid-limits").json()] == [now_window["id"]]
    history = api.get("/v1/sites/depot/grid-limits/history").json()
    assert [w["id"] for w in history] == [body["id"], now_window["id"], past["id"]]
    cancelled = history[0]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"].startswith("acme/") and cancelled["cancelled_at"]
    assert api.delete("/v1/sites/depot/grid-limits/999").status_code == 404
    assert api.get("/v1/sites/depot/grid-limits/999").status_code == 404

    other = {"Authorization": f"Bearer {create_key(open_database(api.url), 'rival')}"}
    path = f"/v1/sites/depot/grid-limits/{now_window['id']}"
    assert api.client.get(path, headers=other).status_code == 404
    assert api.client.delete(path, headers=other).status_code == 404
    assert api.get(path).json()["status"] == "active"


BAD_WINDOWS = {
    "end before start": (window(hours(2), hours(1), import_limit_kw=10), ["body", "end"]),
    "empty window": (window(hours(1), hours(1), import_limit_kw=10), ["body", "end"]),
    "negative import": (
        window(hours(0), hours(1), import_limit_kw=-5),
        ["body", "import_limit_kw"],
    ),
    "negative export": (
        window(hours(0), hours(1), export_limit_kw=-1),
        ["body", "export_limit_kw"],
    ),
    "zero phase current": (window(hours(0), hours(1), phase_limit_a=0), ["body", "phase_limit_a"]),
    "no limit at all": (window(hours(0), hours(1)), ["body"]),
    "naive start": (
        {**window(hours(0), hours(1), import_limit_kw=10), "start": "2026-03-10T10:00:00"},
        ["body", "start"],
    ),
    "empty source": (
        {**window(hours(0), hours(1), import_limit_kw=10), "source": ""},
        ["body", "source"],
    ),
}


def test_bad_windows_are_a_422_naming_the_field_and_store_nothing(api):
    for case, (body, loc) in BAD_WINDOWS.items():
        response = api.post("/v1/sites/depot/grid-limits", json=body)
        assert response.status_code == 422, (case, response.text)
        assert loc in [error["loc"] for error in response.json()["detail"]], (case, response.text)
    assert api.get("/v1/sites/depot/grid-limits/history").json() == []


def test_a_nan_limit_is_refused(api):
    content = (
        '{"start": "2026-03-10T10:00:00+01:00", "end": "2026-03-10T11:00:00+01:00", '
        '"import_limit_kw": NaN}'
    )
    response = api.client.post(
        "/v1/sites/depot/grid-limits",
        content=content,
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "import_limit_kw"]
    assert api.get("/v1/sites/depot/grid-limits/history").json() == []


def slots_of(start: timedelta, end: timedelta) -> slice:
    """The plan's slots that [NOW + start, NOW + end) touches (wholly or in part)."""
    first = (NOW + start - PLAN_START) // STEP
    last = -((PLAN_START - (NOW + end)) // STEP)
    return slice(max(first, 0), last)


def test_the_tighter_limit_binds_per_slot(api):
    tight = window(hours(1), hours(2), import_limit_kw=20)  # 11:20-12:20: slots 4 to 8
    loose = window(hours(3), hours(4), import_limit_kw=500)  # looser than the site: no effect
    for body in (tight, loose):
        assert api.post("/v1/sites/depot/grid-limits", json=body).status_code == 201
    limits = np.array(stored(api)["site"]["grid"]["import_limit_kw"])
    assert limits.shape == (32,)
    expected = np.full(32, SITE_IMPORT_KW)
    expected[slots_of(hours(1), hours(2))] = 20.0
    np.testing.assert_array_equal(limits, expected)
    # A window starting 5 minutes into a slot binds the whole slot (11:15-11:30 here).
    assert limits[4] == 20.0 and limits[3] == SITE_IMPORT_KW


def test_overlapping_windows_take_the_tightest_and_past_or_cancelled_ones_nothing(api):
    bodies = [
        window(hours(0), hours(2), import_limit_kw=30),
        window(hours(1), hours(3), import_limit_kw=20),
        window(-hours(5), -hours(1), import_limit_kw=1),  # over before the plan starts
        window(hours(0), hours(8), import_limit_kw=2),  # cancelled below
    ]
    ids = [api.post("/v1/sites/depot/grid-limits", json=b).json()["id"] for b in bodies]
    assert api.delete(f"/v1/sites/depot/grid-limits/{ids[3]}").status_code == 204
    limits = np.array(stored(api)["site"]["grid"]["import_limit_kw"])
    expected = np.full(32, SITE_IMPORT_KW)
    expected[slots_of(hours(0), hours(2))] = 30.0
    expected[slots_of(hours(1), hours(3))] = 20.0
    np.testing.assert_array_equal(limits, expected)


def test_only_past_windows_leave_the_document_as_it_is(api):
    body = window(-hours(5), -hours(1), import_limit_kw=1, export_limit_kw=0)
    assert api.post("/v1/sites/depot/grid-limits", json=body).status_code == 201
    assert stored(api)["site"]["grid"]["import_limit_kw"] == SITE_IMPORT_KW


def test_export_windows_cap_export_where_the_site_sets_none(api):
    body = window(hours(0), hours(1), export_limit_kw=0)
    assert api.post("/v1/sites/depot/grid-limits", json=body).status_code == 201
    grid = stored(api)["site"]["grid"]
    # The site allows no export (SPEC default 0): a window cannot loosen that.
    assert grid["export_limit_kw"] == [0.0] * 32
    assert grid["import_limit_kw"] == SITE_IMPORT_KW


class RecordingPlanner:
    """Records what a route asks of the planner (the real one plans in the background)."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, bool]] = []

    def request(self, site_pk: int, urgent: bool = False) -> None:
        self.requests.append((site_pk, urgent))


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (hours(0), hours(1), [(7, True)]),  # in force now: at once
        (-hours(1), hours(1), [(7, True)]),  # already running
        (timedelta(minutes=10), hours(1), [(7, True)]),  # within the next slot
        (hours(3), hours(4), [(7, False)]),  # later: debounced like any change
        (-hours(3), -hours(1), []),  # over: no plan changes
    ],
)
def test_windows_in_force_within_a_slot_re_plan_at_once(start, end, expected):
    site = type("Site", (), {"pk": 7, "document": {"horizon": {"step_minutes": 15}}})()
    row = GridLimitWindow(start_utc=NOW + start, end_utc=NOW + end)
    planner = RecordingPlanner()
    replan_for(planner, site, row, NOW)
    assert planner.requests == expected


def test_a_dimming_window_starting_now_is_planned_at_once_and_kept(make_api):
    """§14a EnWG: a DSO dims the site's four controllable chargers to 4.2 kW each (16.8 kW on
    a connection that feeds only them) for two hours from now. With a 60 s debounce, only the
    urgent path can bring the plan before the test's patience runs out; the plan keeps to the
    cap in every slot the window touches and charges faster after it."""
    with make_api(clock=SimulatedClock(NOW), debounce_s=60.0, max_wait_s=120.0) as api:
        assert api.post("/v1/sites", json=charging_site()).status_code == 201
        sessions_wanting_more(api)
        dimming = window(
            hours(0), hours(2), import_limit_kw=4 * 4.2, source="dso", reason="§14a EnWG"
        )
        assert api.post("/v1/sites/depot/grid-limits", json=dimming).status_code == 201
        schedule = api.wait_for_version("depot", 1, timeout_s=40)
        database = open_database(api.url)
        site = get_site(database, caller_for_key(database, api.key).tenant_id, "depot")
        plan = latest_schedule(database, site.pk)
        assert len(plan.problem["sessions"]) == 4
        import_kw = np.array(schedule["site"]["import_kw"])
        dimmed = slots_of(hours(0), hours(2))
        assert import_kw[dimmed].max() <= 16.8 + 1e-6
        assert import_kw[dimmed].sum() > 0  # dimmed, not switched off
        assert import_kw[dimmed.stop :].max() > 30.0  # the panel's 40 kW after the window
        assert check_answer(parse_problem(plan.problem), plan.answer) == []


def test_phase_windows_and_what_the_plan_reports(make_api):
    """A transformer maintenance window tomorrow caps the phase current and the import; the
    plan reports each slot's limits as it used them. Without a site phase limit the slots
    outside the window have none (null)."""
    document = charging_site()
    del document["site"]["grid"]["phase_limit_a"]
    with make_api(clock=SimulatedClock(NOW)) as api:
        assert api.post("/v1/sites", json=document).status_code == 201
        maintenance = window(
            hours(2), hours(4), import_limit_kw=30, phase_limit_a=40, source="operator",
            reason="transformer maintenance",
        )  # fmt: skip
        assert api.post("/v1/sites/depot/grid-limits", json=maintenance).status_code == 201
        grid = stored(api)["site"]["grid"]
        inside = slots_of(hours(2), hours(4))
        expected_phase: list[float | None] = [None] * 32
        expected_phase[inside] = [40.0] * (inside.stop - inside.start)
        assert grid["phase_limit_a"] == expected_phase
        api.settle(quiet_s=0.3)
        site = api.get("/v1/sites/depot/schedule").json()["site"]
        assert site["phase_limit_a"] == expected_phase
        assert site["import_limit_kw"][inside] == [30.0] * (inside.stop - inside.start)
        assert site["import_limit_kw"][0] == SITE_IMPORT_KW
        what_if = api.post(
            "/v1/sites/depot/what-if", json={"at": (NOW + hours(5)).isoformat()}
        ).json()
        assert what_if["site"]["import_limit_kw"] == [SITE_IMPORT_KW] * 32  # it ended by then


def test_a_site_phase_limit_and_a_window_take_the_tighter(api):
    looser = window(hours(0), hours(1), phase_limit_a=500)
    tighter = window(hours(1), hours(2), phase_limit_a=50)
    for body in (looser, tighter):
        assert api.post("/v1/sites/depot/grid-limits", json=body).status_code == 201
    phase = stored(api)["site"]["grid"]["phase_limit_a"]
    assert phase[:4] == [120.0] * 4  # the site's 120 A beats the window's 500 A
    assert phase[4:9] == [50.0] * 5 and phase[9:] == [120.0] * 23
