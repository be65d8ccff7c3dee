"""The console without a browser: *why* in words, the site list's order, the OCPP periods, and
the fragments over a real service (escaping, the key, the same numbers as the JSON API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

import pytest

from smartcharge.api.console.views import (
    Clock,
    problems_first,
    profile_view,
    reason_in_words,
    site_status,
    slot_runs,
    why_in_words,
)
from tests.service_harness import arrival, site_document, store_site_unchecked

CLOCK = Clock.of(
    {"start": "2026-11-24T12:00:00+01:00", "step_minutes": 15, "slots": 96}, "Europe/Amsterdam"
)


@pytest.mark.parametrize(
    ("constraint", "words"),
    [
        ("circuit:panel-a:L1", "circuit panel-a L1 full"),
        ("circuit:panel-a", "circuit panel-a at its kW limit"),
        ("circuit:a:b:L3", "circuit a:b L3 full"),  # an id with a colon stays whole
        ("grid:L2", "grid phase L2 full"),
        ("grid:import", "grid import limit reached"),
        ("price", "waits for cheaper energy"),
        ("ev_full", "the EV's battery is full or paused (seen in its meter values)"),
        ("solver_gap", "within the solver's accepted gap of the most energy"),
        ("something_new", "something_new"),  # a reason the console does not know yet
    ],
)
def test_reasons_in_words(constraint: str, words: str) -> None:
    assert reason_in_words(constraint) == words


def test_slot_runs_join_consecutive_slots() -> None:
    assert slot_runs([9, 3, 4, 5]) == [(3, 5), (9, 9)]
    assert slot_runs([]) == []


def test_why_names_the_limit_and_its_hours_on_the_sites_clock() -> None:
    limited_by = [
        {"slots": [8, 9, 10, 11, 12, 13], "constraint": "circuit:panel-a:L1"},
        {"slots": [20, 47, 48], "constraint": "price"},
    ]
    assert why_in_words(limited_by, CLOCK) == [
        "circuit panel-a L1 full 14:00–15:30",
        # slot 47 ends at midnight: the next day is named
        "waits for cheaper energy 17:00–17:15, 23:45–Wed 00:15",
    ]


def _answer(status: str, unmet_kwh: float = 0.0, warnings: list[str] | None = None) -> dict:
    kpis = {"energy_requested_kwh": 10.0, "energy_delivered_kwh": 10.0 - unmet_kwh}
    kpis |= {"unmet_kwh": unmet_kwh, "peak_import_kw": 30.0}
    return {"status": status, "kpis": kpis, "warnings": warnings or [], "sessions": []}


def test_the_site_list_puts_the_newest_problems_first() -> None:
    document = site_document()
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    statuses = [
        site_status("fine", document, 3, at, _answer("optimal")),
        site_status("short-old", document, 1, at - timedelta(hours=1), _answer("optimal", 2.0)),
        site_status("short-new", document, 2, at, _answer("optimal", 2.0)),
        site_status("warned", document, 2, at - timedelta(hours=2), _answer("optimal", 0, ["x"])),
        site_status("fallback", document, 5, at, _answer("fallback")),
        site_status("unplanned", document, None, None, None),
    ]
    order = [s.site_id for s in problems_first(statuses)]
    assert order == ["unplanned", "fallback", "short-new", "short-old", "warned", "fine"]
    assert statuses[0].peak_pct == pytest.approx(50.0)  # 30 kW of the 60 kW limit


def test_a_profiles_periods_on_the_sites_clock() -> None:
    message = {
        "charger_id": "cp-1",
        "session_id": "s-1",
        "ocpp_version": "1.6",
        "payload": {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "transactionId": 4711,
                "chargingSchedule": {
                    "duration": 7200,
                    "startSchedule": "2026-11-24T11:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                        {"startPeriod": 2700, "limit": 6.5, "numberPhases": 3},
                    ],
                },
            },
        },
    }
    view = profile_view(message, CLOCK, changed=True)
    assert (view.purpose, view.unit, view.profile_id, view.changed) == ("TxProfile", "A", 7, True)
    assert [(p.start, p.end, p.limit) for p in view.periods] == [
        ("12:00", "12:45", 16.0),
        ("12:45", "14:00", 6.5),
    ]


def test_a_v2g_profile_shows_its_set_points_and_discharge_limits() -> None:
    def period(start: int, **fields: float | str) -> dict:
        return {"startPeriod": start, "numberPhases": 3, **fields}

    message = {
        "charger_id": "v-1",
        "session_id": "s-1",
        "ocpp_version": "2.1",
        "payload": {
            "evseId": 1,
            "chargingProfile": {
                "id": 9,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "transactionId": "tx-1",
                "chargingSchedule": [
                    {
                        "id": 9,
                        "duration": 3600,
                        "startSchedule": "2026-11-24T11:00:00Z",
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            period(
                                0,
                                operationMode="CentralSetpoint",
                                setpoint=-7400,
                                limit=0,
                                dischargeLimit=-7400,
                            ),
                            period(
                                900, operationMode="ExternalLimits", limit=0, dischargeLimit=-5000
                            ),
                            period(1800, limit=11000),
                        ],
                    }
                ],
            },
        },
    }
    view = profile_view(message, CLOCK, changed=False)
    assert [(p.limit, p.note) for p in view.periods] == [
        (-7400.0, "set-point"),
        (-5000.0, "discharge limit"),
        (11000.0, ""),
    ]


def test_pages_need_no_key_and_fragments_need_one(api) -> None:
    page = api.client.get("/sites/depot/limits")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    fragment = api.client.get("/console/sites")
    assert fragment.status_code == 401
    assert api.client.get("/console/static/vendor/uPlot.LICENSE").status_code == 200
    assert api.client.get("/console/static/vendor/htmx.LICENSE").status_code == 200


def test_fragments_escape_what_users_typed(api) -> None:
    """Ids with markup cannot be stored any more (422), but older databases may hold them."""
    site_id = "<script>alert(1)</script>"
    assert api.post("/v1/sites", json=site_document(site_id)).status_code == 422
    store_site_unchecked(api.url, "acme", site_document(site_id))
    listed = api.get("/console/sites").text
    assert site_id not in listed and escape(site_id) in listed
    shell = api.client.get("/sites/%3Cimg%20src%3Dx%3E/ocpp")  # the id from the URL, too
    assert shell.status_code == 200
    assert "<img src=x>" not in shell.text and "&lt;img src=x&gt;" in shell.text


def test_fragments_show_the_numbers_of_the_json_api(api) -> None:
    assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
    for i in range(3):
        assert api.post("/v1/sites/depot/sessions", json=arrival(f"s-{i}", f"cp-{i}", 30.0))
    api.settle()
    plan = api.get("/v1/sites/depot/schedule").json()
    summary = api.get("/console/sites/depot/summary").text
    assert f"v{plan['version']}" in summary
    assert f"{plan['kpis']['energy_delivered_kwh']:,.1f}".replace(",", "\u202f") in summary
    sessions = api.get("/console/sites/depot/sessions").text
    for session in plan["sessions"]:
        assert escape(session["id"]) in sessions
        assert f"{session['energy_kwh']:.1f}" in sessions
    patch = {"import_limit_kw": 30, "reason": "<b>DSO</b> request"}
    assert api.patch("/v1/sites/depot/limits", json=patch).status_code == 200
    history = api.get("/console/sites/depot/limits-history").text
    assert "&lt;b&gt;DSO&lt;/b&gt; request" in history and "<b>DSO" not in history
    ocpp = api.get("/console/sites/depot/ocpp").text
    assert all(f">{m['charger_id']}<" in ocpp for m in plan["ocpp"])
