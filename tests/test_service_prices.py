"""A stored site's price feed (SPEC §5): stored by time (upsert, each point holding until the
next, the last one for the feed's spacing), read back by range, refused whole when any point is
bad, private to the tenant, and read by every plan for its own slots."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from smartcharge.api.clock import SimulatedClock
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import caller_for_key, create_key
from smartcharge.api.store.sites import get_site
from smartcharge.api.stored_problem import stored_problem
from tests.service_harness import site_document

NOW = datetime.fromisoformat("2026-03-10T10:20:00+01:00")
DAY = datetime.fromisoformat("2026-03-10T00:00:00+01:00")


def hourly(first_hour: int, prices: list[float], **extra) -> dict:
    return {
        "points": [
            {"time": (DAY + timedelta(hours=first_hour + h)).isoformat(), "import_per_kwh": p}
            for h, p in enumerate(prices)
        ],
        **extra,
    }


def quarter_hours(count: int) -> dict:
    """A feed of quarter-hours from DAY on, the k-th costing k / 100."""
    return {
        "points": [
            {"time": (DAY + timedelta(minutes=15 * k)).isoformat(), "import_per_kwh": k / 100}
            for k in range(count)
        ]
    }


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def api(make_api):
    with make_api(clock=SimulatedClock(NOW)) as running:
        assert running.post("/v1/sites", json=site_document("depot")).status_code == 201
        yield running


def test_points_are_stored_and_read_back_with_the_time_each_stops_holding(api):
    body = hourly(0, [0.10, 0.12, -0.02, 0.30])
    body["points"][1]["export_per_kwh"] = 0.04
    response = api.put("/v1/sites/depot/prices", json=body)
    assert response.status_code == 200, response.text
    # The last of an hourly feed holds for one hour, then the document's tariff applies.
    assert response.json()["stored"] == 4
    assert instant(response.json()["end"]) == DAY + timedelta(hours=4)

    points = api.get("/v1/sites/depot/prices").json()["points"]
    assert [instant(p["time"]) for p in points] == [DAY + timedelta(hours=h) for h in range(4)]
    assert [p["import_per_kwh"] for p in points] == [0.10, 0.12, -0.02, 0.30]
    assert [p["export_per_kwh"] for p in points] == [None, 0.04, None, None]
    assert [instant(p["end"]) for p in points] == [DAY + timedelta(hours=h) for h in range(1, 5)]

    # A range holds the point in force at `from` (stamped before it) and those inside it.
    window = api.get(
        "/v1/sites/depot/prices",
        params={
            "from": (DAY + timedelta(hours=1, minutes=30)).isoformat(),
            "to": (DAY + timedelta(hours=3)).isoformat(),
        },
    ).json()["points"]
    assert [instant(p["time"]) for p in window] == [DAY + timedelta(hours=h) for h in (1, 2)]
    # After the feed's end nothing holds.
    later = api.get(
        "/v1/sites/depot/prices", params={"from": (DAY + timedelta(hours=5)).isoformat()}
    )
    assert later.json()["points"] == []


def test_upsert_by_time_replaces_and_a_correction_keeps_the_feeds_end(api):
    assert api.put("/v1/sites/depot/prices", json=hourly(0, [0.1, 0.2, 0.3])).status_code == 200
    # A correction of the last hour alone: the feed still ends where it ended.
    correction = {
        "points": [{"time": (DAY + timedelta(hours=2)).isoformat(), "import_per_kwh": 0.25}]
    }
    assert api.put("/v1/sites/depot/prices", json=correction).status_code == 200
    # Quarter-hours inside the first hour: inserted between, each holding until the next.
    quarters = {
        "points": [
            {"time": (DAY + timedelta(minutes=m)).isoformat(), "import_per_kwh": 0.1 + m / 1000}
            for m in (0, 15, 30, 45)
        ]
    }
    assert api.put("/v1/sites/depot/prices", json=quarters).json()["stored"] == 4
    points = api.get("/v1/sites/depot/prices").json()["points"]
    times = [instant(p["time"]) - DAY for p in points]
    assert times == [timedelta(minutes=m) for m in (0, 15, 30, 45, 60, 120)]
    assert [p["import_per_kwh"] for p in points] == pytest.approx(
        [0.1, 0.115, 0.13, 0.145, 0.2, 0.25]
    )
    assert instant(points[-1]["end"]) == DAY + timedelta(hours=3)
    assert instant(points[3]["end"]) == DAY + timedelta(hours=1)


def test_an_explicit_end_and_a_lone_point_without_one(api):
    # A supplier's two-rate day: the last rate ends at 07:00 the next day, not 16 h later.
    body = hourly(7, [0.30], end=(DAY + timedelta(hours=23)).isoformat())
    body["points"].append({"time": (DAY + timedelta(hours=23)).isoformat(), "import_per_kwh": 0.2})
    body["end"] = (DAY + timedelta(hours=31)).isoformat()
    assert instant(api.put("/v1/sites/depot/prices", json=body).json()["end"]) == DAY + timedelta(
        hours=31
    )
    # A lone new point is a price change: it holds until a later point comes.
    lone = {"points": [{"time": (DAY + timedelta(days=3)).isoformat(), "import_per_kwh": 0.22}]}
    assert api.put("/v1/sites/depot/prices", json=lone).json()["end"] is None
    points = api.get("/v1/sites/depot/prices").json()["points"]
    assert [p["end"] for p in points][-1] is None
    assert instant(points[1]["end"]) == DAY + timedelta(hours=31)


BAD_FEEDS = {
    "naive time": (
        {"points": [{"time": "2026-03-10T00:00:00", "import_per_kwh": 0.1}]},
        ["body", "points", 0, "time"],
    ),
    "unsorted": (
        {
            "points": [
                {"time": "2026-03-10T01:00:00+01:00", "import_per_kwh": 0.1},
                {"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 0.1},
            ]
        },
        ["body", "points", 1, "time"],
    ),
    "duplicate, in another offset": (
        {
            "points": [
                {"time": "2026-03-10T01:00:00+01:00", "import_per_kwh": 0.1},
                {"time": "2026-03-10T00:00:00Z", "import_per_kwh": 0.2},
            ]
        },
        ["body", "points", 1, "time"],
    ),
    "per MWh": (
        {"points": [{"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 116.0}]},
        ["body", "points", 0, "import_per_kwh"],
    ),
    "export beyond range": (
        {
            "points": [
                {"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 0.1, "export_per_kwh": -80}
            ]
        },
        ["body", "points", 0, "export_per_kwh"],
    ),
    "end before the last point": (
        {
            "points": [{"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 0.1}],
            "end": "2026-03-09T23:00:00+01:00",
        },
        ["body", "end"],
    ),
    "no points": ({"points": []}, ["body", "points"]),
    "unknown field": (
        {"points": [{"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 0.1, "vat": 21}]},
        ["body", "points", 0, "vat"],
    ),
}


def test_bad_feeds_are_a_422_naming_the_field_and_store_nothing(api):
    for case, (body, loc) in BAD_FEEDS.items():
        response = api.put("/v1/sites/depot/prices", json=body)
        assert response.status_code == 422, (case, response.text)
        assert loc in [error["loc"] for error in response.json()["detail"]], (case, response.text)
    assert api.get("/v1/sites/depot/prices").json()["points"] == []


def test_non_finite_prices_are_refused(api):
    """JSON has no NaN, but Python's parser reads one: it must not reach the store, and the
    error echoing it must not become a 500."""
    for literal in ("NaN", "Infinity", "-Infinity"):
        content = (
            '{"points": [{"time": "2026-03-10T00:00:00+01:00", "import_per_kwh": 0.1},'
            f' {{"time": "2026-03-10T01:00:00+01:00", "import_per_kwh": {literal}}}]}}'
        )
        response = api.client.put(
            "/v1/sites/depot/prices",
            content=content,
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (literal, response.text)
        locs = [e["loc"] for e in response.json()["detail"]]
        assert ["body", "points", 1, "import_per_kwh"] in locs, literal
    assert api.get("/v1/sites/depot/prices").json()["points"] == []


def test_a_bad_point_among_good_ones_stores_none_of_them(api):
    body = hourly(0, [0.1, 0.2, 0.3])
    body["points"][2]["time"] = body["points"][0]["time"]
    assert api.put("/v1/sites/depot/prices", json=body).status_code == 422
    assert api.get("/v1/sites/depot/prices").json()["points"] == []


def test_a_range_ending_before_it_starts_is_a_422(api):
    response = api.get(
        "/v1/sites/depot/prices",
        params={"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "to"]


def test_prices_are_private_to_the_tenant(api):
    assert api.put("/v1/sites/depot/prices", json=hourly(0, [0.1])).status_code == 200
    other = {"Authorization": f"Bearer {create_key(open_database(api.url), 'rival')}"}
    assert api.client.get("/v1/sites/depot/prices", headers=other).status_code == 404
    assert (
        api.client.put("/v1/sites/depot/prices", json=hourly(0, [9.0]), headers=other).status_code
        == 404
    )
    assert api.get("/v1/sites/depot/prices").json()["points"][0]["import_per_kwh"] == 0.1


def feed_in_plan(api, moment: datetime = NOW) -> list[tuple[timedelta, float, float | None]]:
    """(time after DAY, import, export) of the points a plan at `moment` is given."""
    database = open_database(api.url)
    site = get_site(database, caller_for_key(database, api.key).tenant_id, "depot")
    prices = stored_problem(database, site, moment).problem["tariff"].get("prices", [])
    return [
        (instant(p["time"]) - DAY, p["import_per_kwh"], p.get("export_per_kwh")) for p in prices
    ]


def test_a_plan_reads_the_points_of_its_own_horizon(api):
    """At 10:20 a plan starts at 10:15 and runs 8 hours. The hourly feed ends at 14:00: the
    plan is given the feed from 10:15 to 14:00 on a regular quarter-hour grid (so the
    problem's rule, the last point holds for the points' spacing, ends it at 14:00 too);
    the document's tariff applies after."""
    assert api.put("/v1/sites/depot/prices", json=hourly(0, [0.1 * h for h in range(14)]))
    points = feed_in_plan(api)
    quarter = timedelta(minutes=15)
    assert [t for t, _, _ in points] == [
        timedelta(hours=10, minutes=15) + k * quarter for k in range(15)
    ]
    assert [price for _, price, _ in points] == pytest.approx(
        [1.0] * 3 + [1.1] * 4 + [1.2] * 4 + [1.3] * 4
    )
    assert {export for _, _, export in points} == {None}


def test_a_price_change_until_further_notice_holds_over_the_horizon(api):
    lone = {"points": [{"time": DAY.isoformat(), "import_per_kwh": 0.3, "export_per_kwh": 0.1}]}
    assert api.put("/v1/sites/depot/prices", json=lone).json()["end"] is None
    points = feed_in_plan(api)
    assert len(points) == 32  # every quarter-hour of the 8 hours: the last holds to the end
    assert {(price, export) for _, price, export in points} == {(0.3, 0.1)}


def test_a_gap_in_the_feed_ends_what_the_plan_is_given(api):
    """A point cannot say "no price here": where the feed has a gap, the plan is given the
    feed up to it, and the document's tariff from there on (the safe reading of a feed that
    stopped)."""
    assert api.put("/v1/sites/depot/prices", json=hourly(10, [0.2, 0.3])).status_code == 200
    assert api.put("/v1/sites/depot/prices", json=hourly(14, [0.9, 0.9])).status_code == 200
    points = feed_in_plan(api)
    assert points[-1][0] == timedelta(hours=11, minutes=45)
    assert [price for _, price, _ in points] == pytest.approx([0.2] * 3 + [0.3] * 4)


def test_a_quarter_hour_feed_in_hourly_slots_keeps_its_quarters(make_api):
    """Hourly steps, a quarter-hourly feed: the plan is given every quarter (each slot's
    price is their mean, which the optimizer takes)."""
    document = site_document("depot")
    document["horizon"] = {"step_minutes": 60, "slots": 4}
    with make_api(clock=SimulatedClock(NOW)) as api:
        assert api.post("/v1/sites", json=document).status_code == 201
        assert api.put("/v1/sites/depot/prices", json=quarter_hours(96)).status_code == 200
        points = feed_in_plan(api)
        # A plan at 10:20 with hourly steps starts at 10:00 and runs to 14:00.
        assert [t for t, _, _ in points] == [timedelta(minutes=15 * k) for k in range(40, 56)]
        assert [price for _, price, _ in points] == pytest.approx([k / 100 for k in range(40, 56)])


def planned(api, after: int = 0) -> dict:
    """The site's plan once a version after `after` is stored and the planner is quiet."""
    api.wait_for_version("depot", after + 1)
    api.settle(quiet_s=0.3)
    return api.get("/v1/sites/depot/schedule").json()


def test_a_plan_at_10_15_uses_the_10_15_price_and_the_hours_price_in_its_quarters(api):
    before = planned(api)["version"]
    assert api.put("/v1/sites/depot/prices", json=quarter_hours(56)).status_code == 200  # to 14:00
    plan = planned(api, before)  # new prices re-plan the site
    site = plan["site"]
    assert instant(site["slot_start"][0]) == DAY + timedelta(hours=10, minutes=15)
    assert site["import_price_per_kwh"][:3] == pytest.approx([0.41, 0.42, 0.43])
    # The feed ends at 14:00: the document's flat 0.25 from the slot starting then.
    assert site["import_price_per_kwh"][14] == pytest.approx(0.55)
    assert site["import_price_per_kwh"][15:] == pytest.approx([0.25] * 17)
    assert site["export_price_per_kwh"] == [0.0] * 32

    # An hourly feed over the same hours replaces the quarters it covers: each quarter-hour
    # slot gets its hour's price.
    hours = hourly(10, [1.0, 2.0, 3.0, 4.0])
    version = plan["version"]
    assert api.put("/v1/sites/depot/prices", json=hours).status_code == 200
    site = planned(api, version)["site"]
    assert site["import_price_per_kwh"][:7] == pytest.approx([1.0] * 3 + [2.0] * 4)
    assert site["import_price_per_kwh"][15] == pytest.approx(0.25)  # to 14:00, as before


def test_hourly_slots_pay_the_mean_of_a_quarter_hour_feed(make_api):
    document = site_document("depot")
    document["horizon"] = {"step_minutes": 60, "slots": 4}
    with make_api(clock=SimulatedClock(NOW)) as api:
        assert api.post("/v1/sites", json=document).status_code == 201
        assert api.put("/v1/sites/depot/prices", json=quarter_hours(96)).status_code == 200
        api.settle(quiet_s=0.3)
        site = api.get("/v1/sites/depot/schedule").json()["site"]
        # 10:00-11:00 is the mean of 10:00, 10:15, 10:30, 10:45: 0.40 to 0.43.
        assert instant(site["slot_start"][0]) == DAY + timedelta(hours=10)
        assert site["import_price_per_kwh"] == pytest.approx([0.415, 0.455, 0.495, 0.535])


def test_what_if_at_a_later_time_reads_the_feed_then_or_tries_other_prices(api):
    assert api.put("/v1/sites/depot/prices", json=hourly(0, [0.1 * h for h in range(24)]))
    at = DAY + timedelta(hours=15, minutes=5)
    answer = api.post("/v1/sites/depot/what-if", json={"at": at.isoformat()}).json()
    assert instant(answer["site"]["slot_start"][0]) == DAY + timedelta(hours=15)
    assert answer["site"]["import_price_per_kwh"][:5] == pytest.approx([1.5] * 4 + [1.6])
    # Prices of the caller's own come first: a lone point holds an hour (SPEC §5).
    other = {"prices": [{"time": (DAY + timedelta(hours=10)).isoformat(), "import_per_kwh": 0.05}]}
    tried = api.post("/v1/sites/depot/what-if", json={"tariff": other}).json()
    assert tried["site"]["import_price_per_kwh"][:3] == pytest.approx([0.05] * 3)
    assert tried["site"]["import_price_per_kwh"][3:] == pytest.approx([0.25] * 29)
    assert api.get("/v1/sites/depot/prices").json()["points"][0]["import_per_kwh"] == 0.0
