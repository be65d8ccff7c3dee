"""Weather forecasts as providers answer (Open-Meteo, Solcast): times to UTC, period means to
the middle of their period, units, gaps, bad documents named by their place; and the PV of the
recorded samples in tests/data/ against the PV of the BSRN measurements they were made from."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartcharge.forecasting.providers import ProviderFormatError, detect_format, read_provider
from smartcharge.forecasting.weather import pv_from_weather, read_weather, to_weather_document
from smartcharge.optimizer.problem import PVArray, Weather
from tests.forecasting_data import PAYERNE, bsrn_pv_kw

SAMPLES = Path(__file__).parent / "data"
OPEN_METEO = SAMPLES / "open_meteo_payerne_2016-06-20.json"
SOLCAST = SAMPLES / "solcast_payerne_2016-06-20.json"
ROOF = PVArray(id="roof", kwp=10, tilt_deg=30, azimuth_deg=180)


def open_meteo() -> dict:
    return json.loads(OPEN_METEO.read_text())


def solcast() -> dict:
    return json.loads(SOLCAST.read_text())


# --- Open-Meteo --------------------------------------------------------------------------


def test_open_meteo_hour_means_stand_at_the_middle_of_the_hour_before_their_time():
    """12:00 local (UTC+2) ends the hour 09:00-10:00 UTC: its mean stands at 09:30 UTC."""
    document = open_meteo()
    frame = read_weather(document)
    assert str(frame.index.tz) == "UTC"
    at = document["hourly"]["time"].index("2016-06-20T12:00")
    noon = frame.loc[pd.Timestamp("2016-06-20 09:30", tz="UTC")]
    assert noon["ghi"] == document["hourly"]["shortwave_radiation"][at]
    assert noon["dni"] == document["hourly"]["direct_normal_irradiance"][at]
    assert noon["dhi"] == document["hourly"]["diffuse_radiation"][at]
    expected = pd.date_range("2016-06-19 21:30", periods=48, freq="h", tz="UTC")
    assert frame.index.as_unit("ns").equals(expected.as_unit("ns"))


def test_open_meteo_instant_values_are_interpolated_to_the_radiation_and_wind_is_in_m_s():
    document = open_meteo()
    frame = read_weather(document)
    hourly = document["hourly"]
    at = hourly["time"].index("2016-06-20T12:00")
    middle = pd.Timestamp("2016-06-20 09:30", tz="UTC")
    # Halfway between 11:00 and 12:00 local: the mean of the two instants.
    temperature = (hourly["temperature_2m"][at - 1] + hourly["temperature_2m"][at]) / 2
    assert frame.loc[middle, "temp_air"] == pytest.approx(temperature)
    wind = (hourly["wind_speed_10m"][at - 1] + hourly["wind_speed_10m"][at]) / 2 / 3.6
    assert frame.loc[middle, "wind_speed"] == pytest.approx(wind)
    cover = (hourly["cloud_cover"][at - 1] + hourly["cloud_cover"][at]) / 2
    assert frame.loc[middle, "cloud_cover"] == pytest.approx(cover)


def test_unix_times_fahrenheit_and_mph_read_as_the_same_forecast():
    document = open_meteo()
    reference = read_weather(document)
    other = copy.deepcopy(document)
    hourly = other["hourly"]
    local = pd.to_datetime(hourly["time"]) - pd.Timedelta(seconds=document["utc_offset_seconds"])
    hourly["time"] = [int(t.timestamp()) for t in local.tz_localize("UTC")]
    hourly["temperature_2m"] = [c * 9 / 5 + 32 for c in hourly["temperature_2m"]]
    hourly["wind_speed_10m"] = [kmh / 1.609344 for kmh in hourly["wind_speed_10m"]]
    other["hourly_units"] |= {"time": "unixtime", "temperature_2m": "°F", "wind_speed_10m": "mph"}
    del other["utc_offset_seconds"]  # not needed with unix times
    pd.testing.assert_frame_equal(read_weather(other), reference, check_index_type=False)


def test_one_offset_applies_to_the_whole_response_across_a_dst_change():
    """Open-Meteo shifts every local time by the response's one utc_offset_seconds (the offset
    of the day it answered), also past a DST change: the hours stay evenly spaced in UTC."""
    times = pd.date_range("2022-03-26 22:00", periods=8, freq="h")  # Zurich: 27 March 02:00
    document = {
        "utc_offset_seconds": 3600,
        "timezone": "Europe/Zurich",
        "hourly": {
            "time": [t.strftime("%Y-%m-%dT%H:%M") for t in times],
            "shortwave_radiation": [0.0] * 8,
        },
    }
    frame = read_weather(document)
    expected = pd.date_range("2022-03-26 20:30", periods=8, freq="h", tz="UTC")
    assert frame.index.as_unit("ns").equals(expected.as_unit("ns"))


def test_minutely_15_wins_where_it_reaches_and_hourly_continues_after():
    hours = pd.date_range("2016-06-21 06:00", periods=6, freq="h")
    quarters = pd.date_range("2016-06-21 06:15", periods=8, freq="15min")
    document = {
        "utc_offset_seconds": 0,
        "hourly": {
            "time": [t.strftime("%Y-%m-%dT%H:%M") for t in hours],
            "shortwave_radiation": [100.0] * 6,
        },
        "minutely_15": {
            "time": [t.strftime("%Y-%m-%dT%H:%M") for t in quarters],
            "shortwave_radiation": [300.0] * 8,
        },
    }
    frame = read_weather(document)
    quarter_middles = (quarters - pd.Timedelta(minutes=7.5)).tz_localize("UTC")
    assert (frame.loc[quarter_middles, "ghi"] == 300).all()
    assert (frame.loc[frame.index > quarter_middles[-1], "ghi"] == 100).all()
    assert frame.index.is_monotonic_increasing and not frame.index.has_duplicates


def test_nulls_drop_rows_without_radiation_and_interpolate_the_rest():
    document = open_meteo()
    hourly = document["hourly"]
    hourly["shortwave_radiation"][-3:] = [None] * 3  # the forecast's reach ends
    hourly["temperature_2m"][20] = None
    frame = read_weather(document)
    assert len(frame) == 45 and frame.notna().all().all()


# --- Solcast -----------------------------------------------------------------------------


def test_solcast_periods_stand_at_their_middle():
    document = solcast()
    frame = read_weather(document)
    first = document["forecasts"][12]
    middle = pd.Timestamp(first["period_end"]) - pd.Timedelta(minutes=15)
    row = frame.loc[middle]
    assert (row["ghi"], row["dni"], row["dhi"]) == (first["ghi"], first["dni"], first["dhi"])
    assert row["temp_air"] == first["air_temp"] and row["wind_speed"] == 2.0
    assert "cloud_cover" not in frame.columns  # cloud opacity is not cloud cover


# --- the samples' PV against the measurements they came from -----------------------------


@pytest.mark.parametrize("sample", [OPEN_METEO, SOLCAST], ids=["open-meteo", "solcast"])
def test_the_pv_of_a_sample_follows_the_measured_pv_and_a_misplaced_mean_does_not(sample):
    """The samples hold BSRN Payerne's own period means: read right, their PV follows the PV of
    the measurements; read as values at the period's end, it lags by half a period."""
    truth, measured = bsrn_pv_kw("2016-06-20", "2016-06-22", ROOF)
    frame = read_weather(sample)
    period = pd.Timedelta(hours=1) if sample == OPEN_METEO else pd.Timedelta(minutes=30)
    right = pv_from_weather(frame, measured.index, PAYERNE, [ROOF], 15)
    at_end = pv_from_weather(frame.shift(freq=period / 2), measured.index, PAYERNE, [ROOF], 15)
    scored = right.notna() & at_end.notna()
    assert scored.sum() > 150
    error_right = (right - truth)[scored].abs().mean()
    error_at_end = (at_end - truth)[scored].abs().mean()
    assert right[scored].sum() == pytest.approx(truth[scored].sum(), rel=0.03)
    assert error_right < 0.03 * ROOF.kwp
    assert error_right < 0.65 * error_at_end


# --- recognising and refusing --------------------------------------------------------------


def test_providers_are_recognised_by_their_keys_in_files_and_dicts():
    assert detect_format(open_meteo()) == "open-meteo"
    assert detect_format(solcast()) == "solcast"
    assert detect_format({"time": [], "ghi_w_m2": []}) is None
    assert detect_format([1, 2]) is None
    pd.testing.assert_frame_equal(read_weather(OPEN_METEO), read_weather(open_meteo()))
    with pytest.raises(ValueError, match="not a provider's forecast"):
        read_provider({"time": []})


def test_a_read_forecast_is_a_valid_problem_weather():
    for sample in (open_meteo(), solcast()):
        document = to_weather_document(read_weather(sample))
        weather = Weather.model_validate(document)
        assert len(weather.time) == len(document["ghi_w_m2"]) and weather.dni_w_m2 is not None


def _without(document: dict, *path) -> dict:
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


def _with(document: dict, value, *path) -> dict:
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


BAD_DOCUMENTS = {
    "no offset for local times": (
        lambda: _without(open_meteo(), "utc_offset_seconds"),
        ["utc_offset_seconds"],
        "timeformat=unixtime",
    ),
    "no radiation nor cloud cover": (
        lambda: _without(
            _without(open_meteo(), "hourly", "shortwave_radiation"), "hourly", "cloud_cover"
        ),
        ["hourly"],
        "shortwave_radiation",
    ),
    "a list too short": (
        lambda: _with(open_meteo(), [1.0, 2.0], "hourly", "diffuse_radiation"),
        ["hourly", "diffuse_radiation"],
        "2 values for 48 times",
    ),
    "a text among numbers": (
        lambda: _with(open_meteo(), "cloudy", "hourly", "cloud_cover", 3),
        ["hourly", "cloud_cover", 3],
        "not a number",
    ),
    "an unknown wind unit": (
        lambda: _with(open_meteo(), "beaufort", "hourly_units", "wind_speed_10m"),
        ["hourly_units", "wind_speed_10m"],
        "unknown wind unit",
    ),
    "no time list": (
        lambda: _with(open_meteo(), "2016-06-20", "hourly", "time"),
        ["hourly", "time"],
        "at least two times",
    ),
    "solcast without ghi": (
        lambda: {
            "forecasts": [
                {k: v for k, v in r.items() if k != "ghi"} for r in solcast()["forecasts"]
            ]
        },
        ["forecasts"],
        "needs ghi",
    ),
    "solcast naive period_end": (
        lambda: _with(solcast(), "2016-06-20T00:30:00", "forecasts", 0, "period_end"),
        ["forecasts", 0, "period_end"],
        "UTC offset",
    ),
    "solcast without period": (
        lambda: _without(solcast(), "forecasts", 4, "period"),
        ["forecasts", 4, "period"],
        "missing",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS), ids=list(BAD_DOCUMENTS))
def test_bad_provider_documents_name_the_place_and_the_reason(case):
    make, loc, words = BAD_DOCUMENTS[case]
    with pytest.raises(ProviderFormatError) as caught:
        read_provider(make())
    assert caught.value.loc == loc
    assert words in caught.value.message


def test_a_provider_forecast_in_a_file_gives_pv_over_its_whole_reach(tmp_path):
    path = tmp_path / "forecast.json"
    path.write_text(json.dumps(open_meteo()))
    frame = read_weather(path, provider="open-meteo")
    slots = pd.date_range("2016-06-20", periods=96, freq="15min", tz="UTC")
    power = pv_from_weather(frame, slots, PAYERNE, [ROOF], 15)
    assert power.notna().all() and power.max() > 3 and np.isclose(power.iloc[0], 0)
