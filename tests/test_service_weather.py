"""Weather forecasts of stored sites: stored by time (the newest wins, idempotent), checked like
the problem document's `weather`, private to the tenant, and followed by the forecast endpoint,
every re-plan and what-if."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from tests.service_harness import site_document


def pv_site(api, site_id: str = "depot") -> dict[str, Any]:
    """A site with a 50 kWp roof in Amsterdam, PV forecast (null), base load given, planned a
    day ahead (so that every plan sees daylight, whenever the test runs)."""
    document = site_document(site_id)
    document["site"]["location"] = {"latitude": 52.37, "longitude": 4.9, "altitude_m": 2}
    document["site"]["pv"] = [{"id": "roof", "kwp": 50, "tilt_deg": 15, "azimuth_deg": 180}]
    document["site"]["grid"]["import_limit_kw"] = 150.0
    document["pv_kw"] = None
    document["horizon"]["slots"] = 96
    response = api.post("/v1/sites", json=document)
    assert response.status_code == 201, response.text
    return document


def hours_from_now(first: int, count: int) -> list[str]:
    """Hourly times from `first` hours after the current hour on: a provider's forecast."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return [(now + timedelta(hours=first + h)).isoformat() for h in range(count)]


def covering_a_day() -> list[str]:
    return hours_from_now(-2, 34)  # the next 24 h with room either side for interpolation


def cloud_cover(times: list[str], percent: float) -> dict[str, Any]:
    return {"time": times, "cloud_cover_pct": [percent] * len(times)}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_forecasts_are_stored_and_read_back(api):
    pv_site(api)
    ghi_times = hours_from_now(0, 24)
    ghi = {
        "time": ghi_times,
        "ghi_w_m2": [float(10 * h) for h in range(24)],
        "temp_air_c": [5.0 + h / 10 for h in range(24)],
        "wind_speed_m_s": [3.0] * 24,
    }
    response = api.post("/v1/sites/depot/weather", json=ghi)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 24}
    cover_times = hours_from_now(24, 12)
    cover = {"time": cover_times, "cloud_cover_pct": [float(8 * h) for h in range(12)]}
    assert api.post("/v1/sites/depot/weather", json=cover).json() == {"stored": 12}

    stored = api.get("/v1/sites/depot/weather")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert [instant(t) for t in body["time"]] == [instant(t) for t in ghi_times + cover_times]
    assert set(body) == {"time", "ghi_w_m2", "temp_air_c", "wind_speed_m_s", "cloud_cover_pct"}
    assert body["ghi_w_m2"] == ghi["ghi_w_m2"] + [None] * 12
    assert body["temp_air_c"][:24] == pytest.approx(ghi["temp_air_c"])
    assert body["temp_air_c"][24:] == [None] * 12
    assert body["cloud_cover_pct"] == [None] * 24 + cover["cloud_cover_pct"]

    # A time range, as for the measurements: since inclusive, until exclusive.
    since, until = cover_times[0], cover_times[6]
    window = api.get("/v1/sites/depot/weather", params={"since": since, "until": until}).json()
    assert [instant(t) for t in window["time"]] == [instant(t) for t in cover_times[:6]]
    assert set(window) == {"time", "cloud_cover_pct"}
    assert window["cloud_cover_pct"] == cover["cloud_cover_pct"][:6]


def test_reposting_is_idempotent_and_the_newest_forecast_wins(api):
    pv_site(api)
    times = hours_from_now(0, 24)
    forecast = {
        "time": times,
        "ghi_w_m2": [100.0] * 24,
        "dni_w_m2": [50.0] * 24,
        "dhi_w_m2": [60.0] * 24,
        "temp_air_c": [10.0] * 24,
    }
    for _ in range(2):
        assert api.post("/v1/sites/depot/weather", json=forecast).json() == {"stored": 24}
    body = api.get("/v1/sites/depot/weather").json()
    assert len(body["time"]) == 24 and body["ghi_w_m2"] == [100.0] * 24

    # A newer forecast for two of the times (another provider: cloud cover only) replaces
    # those rows as a whole; the other rows stay as they were.
    newer = {"time": times[5:7], "cloud_cover_pct": [40.0, 45.0]}
    assert api.post("/v1/sites/depot/weather", json=newer).json() == {"stored": 2}
    body = api.get("/v1/sites/depot/weather").json()
    assert len(body["time"]) == 24
    assert body["ghi_w_m2"][4:8] == [100.0, None, None, 100.0]
    assert body["dni_w_m2"][5] is None and body["temp_air_c"][6] is None
    assert body["cloud_cover_pct"][4:8] == [None, 40.0, 45.0, None]
    corrected = {"time": times[5:7], "cloud_cover_pct": [80.0, 45.0]}
    api.post("/v1/sites/depot/weather", json=corrected)
    body = api.get("/v1/sites/depot/weather").json()
    assert len(body["time"]) == 24 and body["cloud_cover_pct"][5:7] == [80.0, 45.0]

    # The forecast goes with its site.
    api.settle()
    assert api.delete("/v1/sites/depot").status_code == 204
    pv_site(api)
    assert api.get("/v1/sites/depot/weather").json() == {"time": []}


def test_the_forecast_endpoint_follows_the_weather(api):
    pv_site(api)
    before = api.get("/v1/sites/depot/forecast?hours=24").json()
    assert before["pv_method"] == "climatology" and before["base_load_method"] == "given"

    times = covering_a_day()
    p50_kwh = {}
    for percent in (0.0, 100.0):
        assert api.post("/v1/sites/depot/weather", json=cloud_cover(times, percent)).json() == {
            "stored": len(times)
        }
        forecast = api.get("/v1/sites/depot/forecast?hours=24")
        assert forecast.status_code == 200, forecast.text
        body = forecast.json()
        assert body["pv_method"] == "weather"
        assert not any("does not cover" in w for w in body["warnings"])
        for low, mid, high in zip(*(body["pv_kw"][q] for q in ("p10", "p50", "p90")), strict=True):
            assert 0 <= low <= mid <= high
        p50_kwh[percent] = sum(body["pv_kw"]["p50"]) / 4
    assert p50_kwh[0.0] > 5.0  # a 50 kWp roof in a clear day's light
    assert p50_kwh[100.0] < 0.5 * p50_kwh[0.0]

    # A forecast that ends within the horizon: weather first, then the clear-sky climatology.
    api.post("/v1/sites/depot/weather", json=cloud_cover(hours_from_now(-2, 34), 0.0))
    longer = api.get("/v1/sites/depot/forecast?hours=48").json()
    assert longer["pv_method"] == "weather+climatology"

    # A site without PV arrays, and one whose document gives PV.
    document = site_document("no-pv")
    api.post("/v1/sites", json=document)
    assert api.get("/v1/sites/no-pv/forecast?hours=6").json()["pv_method"] == "given"
    document["pv_kw"] = None
    api.put("/v1/sites/no-pv", json=document)
    assert api.get("/v1/sites/no-pv/forecast?hours=6").json()["pv_method"] == "none"


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"time": ["2026-11-24T06:00:00", "2026-11-24T07:00:00"]}, ["time", 0], "timezone"),
        ({"ghi_w_m2": [100.0, 200.0, 300.0]}, [], "ghi_w_m2 has 3 values for 2 times"),
        ({"ghi_w_m2": [100.0, 1600.0]}, ["ghi_w_m2", 1], "1500"),
        ({"ghi_w_m2": None, "temp_air_c": [5.0, 6.0]}, [], "ghi_w_m2 (irradiance) or cloud"),
        ({"ghi_w_m2": [1.0, 2.0], "dni_w_m2": [1.0, 2.0]}, [], "dni_w_m2 and dhi_w_m2"),
        ({"cloud_cover_pct": [10.0, 101.0]}, ["cloud_cover_pct", 1], "100"),
        ({"time": ["2026-11-24T07:00:00Z", "2026-11-24T06:00:00Z"]}, [], "increasing"),
        ({"time": ["0001-01-01T06:00:00+01:00", "2026-11-24T06:00:00Z"]}, ["time", 0], "1970"),
        ({"wind": [1.0, 2.0]}, ["wind"], "Extra"),
    ],
)
def test_bad_forecasts_are_422_naming_the_field_and_store_nothing(api, change, loc, words):
    pv_site(api)
    forecast = {"time": ["2026-11-24T06:00:00+01:00", "2026-11-24T07:00:00+01:00"]}
    forecast["ghi_w_m2"] = [100.0, 200.0]
    forecast = {k: v for k, v in {**forecast, **change}.items() if v is not None}
    response = api.post("/v1/sites/depot/weather", json=forecast)
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", *loc]
    assert words in error["msg"]
    assert api.get("/v1/sites/depot/weather").json() == {"time": []}


def test_a_request_holds_at_most_20000_times(api):
    pv_site(api)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [(start + timedelta(minutes=m)).isoformat() for m in range(20_001)]
    response = api.post("/v1/sites/depot/weather", json=cloud_cover(times, 50.0))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "time"]
    assert api.get("/v1/sites/depot/weather").json() == {"time": []}


def test_weather_is_the_tenants_own(api):
    pv_site(api)
    forecast = cloud_cover(covering_a_day(), 20.0)
    other = {"Authorization": f"Bearer {create_key(open_database(api.url), 'rival-cpo')}"}
    path = "/v1/sites/depot/weather"
    assert api.client.post(path, json=forecast, headers=other).status_code == 404
    assert api.client.get(path, headers=other).status_code == 404
    assert api.client.post(path, json=forecast).status_code == 401
    assert api.client.get(path).status_code == 401
    assert api.get(path).json() == {"time": []}
    # The rival's own site of the same id has its own forecast.
    assert api.client.post("/v1/sites", json=site_document(), headers=other).status_code == 201
    assert api.client.post(path, json=forecast, headers=other).status_code == 200
    assert api.get(path).json() == {"time": []}


def test_plans_and_what_if_follow_the_stored_weather(api):
    pv_site(api)
    api.settle()
    version = api.get("/v1/sites/depot/schedule").json()["version"]
    times = covering_a_day()
    available_kwh = {}
    for percent in (0.0, 100.0):
        api.post("/v1/sites/depot/weather", json=cloud_cover(times, percent))  # re-plans
        version += 1
        schedule = api.wait_for_version("depot", version)
        available = schedule["site"]["pv_available_kw"]
        available_kwh[percent] = sum(available) / 4
        forecast = api.get("/v1/sites/depot/forecast?hours=24").json()
        if instant(forecast["start"]) == instant(schedule["horizon"]["start"]):
            assert available == pytest.approx(forecast["pv_kw"]["p50"], abs=0.01)
    assert available_kwh[0.0] > 5.0
    assert available_kwh[100.0] < 0.5 * available_kwh[0.0]

    # What-if sees the stored (overcast) forecast, unless it brings its own.
    stored = api.post("/v1/sites/depot/what-if", json={})
    assert stored.status_code == 200, stored.text
    assert sum(stored.json()["site"]["pv_available_kw"]) / 4 < 0.5 * available_kwh[0.0]
    clear = api.post("/v1/sites/depot/what-if", json={"weather": cloud_cover(times, 0.0)})
    assert clear.status_code == 200, clear.text
    assert sum(clear.json()["site"]["pv_available_kw"]) / 4 > 2 * available_kwh[100.0]
    bad = api.post("/v1/sites/depot/what-if", json={"weather": cloud_cover(times[:1], 0.0)})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "weather", "time"]
    ancient = api.post("/v1/sites/depot/what-if", json={"at": "0115-01-20T09:16:09Z"})
    assert ancient.status_code == 422  # not a 500 from pandas' nanosecond range
    assert ancient.json()["detail"][0]["loc"] == ["body", "at"]
    api.settle()
    assert api.get("/v1/sites/depot/schedule").json()["version"] == version
    assert api.get("/v1/sites/depot/weather").json()["cloud_cover_pct"] == [100.0] * len(times)


SAMPLES = Path(__file__).parent / "data"


def test_provider_answers_are_stored_at_the_middle_of_their_periods(api):
    pv_site(api)
    open_meteo = json.loads((SAMPLES / "open_meteo_payerne_2016-06-20.json").read_text())
    response = api.post("/v1/sites/depot/weather?format=open-meteo", json=open_meteo)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 48}
    body = api.get("/v1/sites/depot/weather").json()
    # 2016-06-20T00:00 local (UTC+2) ends the hour 21:00-22:00 UTC of the 19th.
    assert instant(body["time"][0]) == datetime(2016, 6, 19, 21, 30, tzinfo=UTC)
    at = open_meteo["hourly"]["time"].index("2016-06-20T12:00")
    noon = [instant(t) for t in body["time"]].index(datetime(2016, 6, 20, 9, 30, tzinfo=UTC))
    assert body["ghi_w_m2"][noon] == open_meteo["hourly"]["shortwave_radiation"][at]
    assert body["wind_speed_m_s"][noon] == pytest.approx(
        sum(open_meteo["hourly"]["wind_speed_10m"][at - 1 : at + 1]) / 2 / 3.6
    )
    solcast = json.loads((SAMPLES / "solcast_payerne_2016-06-20.json").read_text())
    response = api.post("/v1/sites/depot/weather?format=solcast", json=solcast)
    assert response.json() == {"stored": len(solcast["forecasts"])}
    times = [instant(t) for t in api.get("/v1/sites/depot/weather").json()["time"]]
    assert datetime(2016, 6, 20, 0, 15, tzinfo=UTC) in times  # the period ending 00:30


def test_an_open_meteo_forecast_posted_as_it_came_drives_the_pv_forecast(api):
    pv_site(api)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now + timedelta(hours=h) for h in range(-2, 34)]
    document = {
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {"time": "unixtime", "cloud_cover": "%"},
        "hourly": {"time": [int(t.timestamp()) for t in hours], "cloud_cover": [0] * len(hours)},
    }
    response = api.post("/v1/sites/depot/weather?format=open-meteo", json=document)
    assert response.status_code == 200, response.text
    body = api.get("/v1/sites/depot/forecast?hours=24").json()
    assert body["pv_method"] == "weather"
    assert body["pv_methods"] == {"0-2h": "weather", "2-6h": "weather", "day-ahead": "weather"}


@pytest.mark.parametrize(
    ("format", "change", "loc", "words"),
    [
        (
            "open-meteo",
            ("hourly", "shortwave_radiation", 13, 2000.0),
            ["hourly", "shortwave_radiation", 13],
            "1500",
        ),
        ("open-meteo", ("utc_offset_seconds", None), ["utc_offset_seconds"], "unixtime"),
        (
            "open-meteo",
            ("hourly", "temperature_2m", 2, "warm"),
            ["hourly", "temperature_2m", 2],
            "number",
        ),
        ("solcast", ("forecasts", 3, "period_end", "yesterday"), ["forecasts", 3], "ISO 8601"),
        (
            "solcast",
            ("forecasts", 30, "ghi", -5.0),
            ["forecasts", 30, "ghi"],
            "greater than or equal",
        ),
    ],
)
def test_bad_provider_answers_are_422_naming_their_own_field_and_store_nothing(
    api, format, change, loc, words
):
    pv_site(api)
    name = {"open-meteo": "open_meteo", "solcast": "solcast"}[format]
    document = json.loads((SAMPLES / f"{name}_payerne_2016-06-20.json").read_text())
    *path, value = change
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    response = api.post(f"/v1/sites/depot/weather?format={format}", json=document)
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", *loc]
    assert words in error["msg"]
    assert api.get("/v1/sites/depot/weather").json() == {"time": []}


def test_an_unknown_format_or_a_body_that_is_not_an_object_is_422(api):
    pv_site(api)
    forecast = cloud_cover(covering_a_day(), 20.0)
    unknown = api.post("/v1/sites/depot/weather?format=meteoblue", json=forecast)
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["query", "format"]
    listed = api.post("/v1/sites/depot/weather", json=[forecast])
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["body"]


def test_with_measured_pv_the_forecast_reports_the_method_each_band_chose(api):
    """Ten days of metered PV and the weather forecasts stored for them (the PV follows the
    stored cloud cover exactly): the site's own backtest picks the weather day-ahead."""
    from smartcharge.forecasting.weather import pv_from_weather, read_weather
    from smartcharge.optimizer.problem import Location, PVArray

    pv_site(api)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now + timedelta(hours=h) for h in range(-24 * 10, 36)]
    rng = np.random.default_rng(4)
    cover = np.repeat(rng.choice([5.0, 60.0, 95.0], len(hours) // 24 + 1), 24)[: len(hours)]
    weather = {"time": [t.isoformat() for t in hours], "cloud_cover_pct": cover.tolist()}
    assert api.post("/v1/sites/depot/weather", json=weather).status_code == 200
    slots = pd.date_range(hours[0], now, freq="15min", inclusive="left")
    roof = PVArray(id="roof", kwp=50, tilt_deg=15, azimuth_deg=180)
    amsterdam = Location(latitude=52.37, longitude=4.9, altitude_m=2)
    metered = pv_from_weather(read_weather(weather), slots, amsterdam, [roof], 15).dropna()
    rows = [{"time_utc": t.isoformat(), "pv_kw": round(float(v), 4)} for t, v in metered.items()]
    assert api.post("/v1/sites/depot/measurements", json={"measurements": rows}).status_code == 200
    body = api.get("/v1/sites/depot/forecast?hours=24").json()
    assert set(body["pv_methods"]) == {"0-2h", "2-6h", "day-ahead"}
    assert body["pv_methods"]["day-ahead"].startswith("weather")
    assert body["pv_method"].split("+")[-1].startswith("weather")
