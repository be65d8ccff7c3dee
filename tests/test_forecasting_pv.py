"""PV: the pvlib chain against a hand computation, interval midpoints, clipping, missing
irradiance; weather forecasts read from every source, put on quarter-hours and turned into
power, checked against measured irradiance (BSRN Payerne)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.forecasting.pv import (
    clearsky_irradiance,
    clearsky_pv_kw,
    complete_irradiance,
    ghi_from_cloud_cover,
    pv_power_kw,
)
from smartcharge.forecasting.weather import pv_from_weather, read_weather, weather_on_slots
from smartcharge.optimizer.problem import PVArray, Weather
from tests.forecasting_data import PAYERNE, bsrn_15min

JUNE_21 = pd.date_range("2016-06-21 00:00", periods=96, freq="15min", tz="UTC")
HOURS_21 = pd.date_range("2016-06-21 00:00", "2016-06-22 00:00", freq="h", tz="UTC")
ROOF = PVArray(id="roof", kwp=10, tilt_deg=30, azimuth_deg=180)


def pvlib_clear_ghi(instants: pd.DatetimeIndex) -> np.ndarray:
    """Ineichen clear-sky GHI straight from pvlib (the reference, not our wrapper)."""
    site = pvlib.location.Location(PAYERNE.latitude, PAYERNE.longitude, altitude=491)
    return site.get_clearsky(instants, model="ineichen")["ghi"].to_numpy()


# --- the pvlib chain -------------------------------------------------------------------


def test_horizontal_array_at_1000_w_matches_a_hand_computation():
    """Tilt 0: plane irradiance = GHI = 1000 W/m^2. Faiman: Tcell = 25 + 1000 / (25 + 6.84 x 1)
    = 56.41 C; PVWatts: 10 kWp x (1 - 0.004 x 31.41) = 8.744 kW DC; 14 % losses: 7.520 kW."""
    noon = pd.DatetimeIndex([pd.Timestamp("2016-06-21 11:30", tz="UTC")])
    zenith = pvlib.solarposition.get_solarposition(noon, PAYERNE.latitude, PAYERNE.longitude)[
        "apparent_zenith"
    ]
    dhi = 100.0
    dni = (1000.0 - dhi) / np.cos(np.radians(zenith.iloc[0]))
    irradiance = pd.DataFrame({"ghi": [1000.0], "dni": [dni], "dhi": [dhi]}, index=noon)
    array = PVArray(id="flat", kwp=10, tilt_deg=0, azimuth_deg=180, losses_pct=14)
    power = pv_power_kw(irradiance, PAYERNE, [array], temp_air_c=25.0, wind_speed_m_s=1.0)
    expected = 10 * (1 - 0.004 * (1000 / (25 + 6.84))) * 0.86
    assert power.iloc[0] == pytest.approx(expected, rel=1e-3)
    assert power.iloc[0] == pytest.approx(7.520, abs=1e-3)


def test_clear_sky_pv_is_zero_at_night_scales_with_kwp_and_clips_at_the_inverter():
    times = pd.date_range("2016-06-21 00:00", periods=96, freq="15min", tz="UTC")
    small = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=10)])
    large = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=20)])
    clipped = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=20, inverter_kw=9)])
    assert small.iloc[0] == 0 and small.max() > 5
    np.testing.assert_allclose(large, 2 * small, rtol=1e-9)
    assert clipped.max() == pytest.approx(9)


def test_inverter_clips_each_array_after_its_losses_and_arrays_add_up():
    unclipped = clearsky_pv_kw(JUNE_21, PAYERNE, [PVArray(id="a", kwp=20)])
    clipped = clearsky_pv_kw(JUNE_21, PAYERNE, [PVArray(id="a", kwp=20, inverter_kw=9)])
    np.testing.assert_allclose(clipped, np.minimum(unclipped, 9.0), atol=1e-12)
    assert (unclipped > 9).sum() >= 8  # the limit binds for hours around noon
    both = clearsky_pv_kw(
        JUNE_21, PAYERNE, [PVArray(id="a", kwp=20, inverter_kw=9), PVArray(id="b", kwp=20)]
    )
    np.testing.assert_allclose(both, clipped + unclipped, atol=1e-12)


def test_clear_sky_of_a_quarter_hour_is_taken_at_its_midpoint():
    """Stamped with its start, a morning quarter-hour's mean lies above the clear sky at the
    stamp (the sun is rising), an afternoon one below: exactly the value 7.5 min later."""
    start = clearsky_pv_kw(JUNE_21, PAYERNE, [ROOF])
    middle = clearsky_pv_kw(JUNE_21, PAYERNE, [ROOF], interval_minutes=15)
    later = clearsky_pv_kw(JUNE_21 + pd.Timedelta(minutes=7.5), PAYERNE, [ROOF])
    np.testing.assert_allclose(middle.to_numpy(), later.to_numpy(), rtol=1e-9, atol=1e-12)
    hours = JUNE_21.hour
    day = start > 0.05 * start.max()
    morning, afternoon = day & (hours >= 5) & (hours < 10), day & (hours >= 13) & (hours < 19)
    assert morning.sum() >= 16 and afternoon.sum() >= 16
    assert (middle[morning] > start[morning]).all()
    assert (middle[afternoon] < start[afternoon]).all()
    # Around 06:00 UTC the clear-sky power climbs ~1 kW/h on 10 kWp: 7.5 min ≈ 0.1 kW.
    assert 0.03 < middle.iloc[24] - start.iloc[24] < 0.3


def test_clear_sky_irradiance_follows_pvlib_at_the_midpoints():
    ours = clearsky_irradiance(JUNE_21, PAYERNE, 15)
    np.testing.assert_allclose(
        ours["ghi"].to_numpy(), pvlib_clear_ghi(JUNE_21 + pd.Timedelta(minutes=7.5)), rtol=1e-9
    )
    assert list(ours.columns) == ["ghi", "dni", "dhi"] and ours.index.equals(JUNE_21)


def test_a_constant_temperature_as_a_scalar_or_a_series_gives_the_same_power():
    irradiance = clearsky_irradiance(JUNE_21, PAYERNE, 15)
    scalar = pv_power_kw(irradiance, PAYERNE, [ROOF], 31.0, 2.5, interval_minutes=15)
    series = pv_power_kw(
        irradiance,
        PAYERNE,
        [ROOF],
        pd.Series(31.0, index=JUNE_21),
        pd.Series(2.5, index=JUNE_21),
        interval_minutes=15,
    )
    pd.testing.assert_series_equal(scalar, series)
    cool = pv_power_kw(irradiance, PAYERNE, [ROOF], 5.0, interval_minutes=15)
    day = scalar > 0.5
    assert (cool[day] > scalar[day]).all()  # crystalline silicon loses 0.4 %/°C


def test_missing_irradiance_gives_missing_power_not_zero():
    irradiance = clearsky_irradiance(JUNE_21, PAYERNE, 15)
    full = pv_power_kw(irradiance, PAYERNE, [ROOF], interval_minutes=15)
    gappy = irradiance.copy()
    gappy.iloc[48, gappy.columns.get_loc("dni")] = np.nan
    gappy.iloc[50, gappy.columns.get_loc("ghi")] = np.nan
    power = pv_power_kw(gappy, PAYERNE, [ROOF], interval_minutes=15)
    assert power.iloc[[48, 50]].isna().all()
    pd.testing.assert_series_equal(
        power.drop(power.index[[48, 50]]), full.drop(full.index[[48, 50]])
    )
    ghi_gaps = irradiance[["ghi"]].copy()
    ghi_gaps.loc[JUNE_21.hour == 12, "ghi"] = np.nan
    completed = complete_irradiance(ghi_gaps, PAYERNE, 15)
    assert completed[JUNE_21.hour == 12].isna().all().all()
    assert completed[JUNE_21.hour != 12].notna().all().all()


def test_erbs_split_closes_on_ghi_and_measured_dni_dhi_pass_through():
    measured = bsrn_15min("2016-06-20", "2016-06-21")
    solar = pvlib.solarposition.get_solarposition(
        measured.index + pd.Timedelta(minutes=7.5), PAYERNE.latitude, PAYERNE.longitude, 491
    )
    split = complete_irradiance(measured[["ghi"]], PAYERNE, 15)
    cos_zenith = np.cos(np.radians(solar["zenith"].to_numpy()))
    day = cos_zenith > 0.1
    closure = split["dhi"] + split["dni"] * cos_zenith
    np.testing.assert_allclose(closure[day], split["ghi"][day], rtol=1e-6, atol=1e-6)
    assert (split >= 0).all().all()
    given = complete_irradiance(measured[["ghi", "dni", "dhi"]], PAYERNE, 15)
    np.testing.assert_allclose(given["dni"], measured["dni"].clip(lower=0))
    np.testing.assert_allclose(given["dhi"], measured["dhi"].clip(lower=0))


@pytest.mark.parametrize(
    "call",
    [
        lambda t: clearsky_irradiance(t, PAYERNE),
        lambda t: clearsky_pv_kw(t, PAYERNE, [ROOF]),
        lambda t: pv_power_kw(pd.DataFrame({"ghi": 1.0, "dni": 1.0, "dhi": 1.0}, t), PAYERNE, []),
        lambda t: complete_irradiance(pd.DataFrame({"ghi": 1.0}, t), PAYERNE),
    ],
    ids=["clearsky_irradiance", "clearsky_pv_kw", "pv_power_kw", "complete_irradiance"],
)
def test_pv_functions_refuse_naive_times(call):
    with pytest.raises(ValueError, match="naive"):
        call(pd.date_range("2016-06-21", periods=4, freq="15min"))


# --- cloud cover -----------------------------------------------------------------------


def test_cloud_cover_model_on_scalars_and_series():
    clear = pd.Series([800.0, 800.0, 800.0])
    np.testing.assert_allclose(
        ghi_from_cloud_cover(clear, pd.Series([0, 50, 100])),
        [800, 800 * (1 - 0.75 * 0.5**3.4), 200],
    )
    # Kasten & Czeplak by hand: 0.5 ** 3.4 = 0.094732, so 50 % cover leaves 0.928951.
    assert ghi_from_cloud_cover(clear, 50.0).iloc[0] == pytest.approx(800 * 0.928951, rel=1e-6)
    # Out-of-range covers are clipped to 0 .. 100 %; a missing cover stays missing.
    np.testing.assert_allclose(
        ghi_from_cloud_cover(clear, np.array([-10.0, 150.0, np.nan])), [800, 200, np.nan]
    )


# --- reading weather forecasts -----------------------------------------------------------

LOCAL_TIMES = [
    "2016-06-21T10:00:00+02:00",
    "2016-06-21T11:00:00+02:00",
    "2016-06-21T12:00:00+02:00",
]
UTC_TIMES = pd.date_range("2016-06-21 08:00", periods=3, freq="h", tz="UTC")
GHI, TEMP = [500.0, 650.0, 700.0], [18.0, 19.5, 21.0]
UNITS = {"time": LOCAL_TIMES, "ghi_w_m2": GHI, "temp_air_c": TEMP}


def _write_json(path, content, compressed: bool):
    if compressed:
        with gzip.open(path, "wt") as handle:
            json.dump(content, handle)
    else:
        path.write_text(json.dumps(content))
    return path


SOURCES = {
    "dataframe with a time column": lambda tmp: pd.DataFrame(UNITS),
    "dataframe on an aware index, pvlib names": lambda tmp: pd.DataFrame(
        {"ghi": GHI, "temp_air": TEMP}, index=UTC_TIMES.tz_convert("Europe/Zurich")
    ),
    "dict of columns": lambda tmp: (
        {"time_utc": [t.isoformat() for t in UTC_TIMES], "ghi": GHI} | {"temp_air": TEMP}
    ),
    "list of records": lambda tmp: [
        {"timestamp": t, "ghi_w_m2": g, "temp_air_c": c}
        for t, g, c in zip(LOCAL_TIMES, GHI, TEMP, strict=True)
    ],
    "Weather model": lambda tmp: Weather(**UNITS),
    "csv": lambda tmp: pd.DataFrame(UNITS).to_csv(tmp / "w.csv", index=False) or tmp / "w.csv",
    "csv.gz": lambda tmp: (
        pd.DataFrame(UNITS).to_csv(tmp / "w.csv.gz", index=False) or str(tmp / "w.csv.gz")
    ),
    "json": lambda tmp: _write_json(tmp / "w.json", UNITS, compressed=False),
    "json.gz": lambda tmp: _write_json(tmp / "w.json.gz", UNITS, compressed=True),
    "json records": lambda tmp: _write_json(
        tmp / "r.json",
        [
            {"time": t, "ghi": g, "temp_air": c}
            for t, g, c in zip(LOCAL_TIMES, GHI, TEMP, strict=True)
        ],
        compressed=False,
    ),
}


@pytest.mark.parametrize("source", list(SOURCES), ids=list(SOURCES))
def test_weather_is_read_from_every_source_to_utc_with_pvlib_names(source, tmp_path):
    frame = read_weather(SOURCES[source](tmp_path))
    assert list(frame.columns) == ["ghi", "temp_air"]
    assert frame.index.tz is not None and str(frame.index.tz) == "UTC"
    assert frame.index.as_unit("ns").equals(UTC_TIMES.as_unit("ns"))
    np.testing.assert_allclose(frame.to_numpy(dtype=float), np.column_stack([GHI, TEMP]))


def test_weather_keeps_known_columns_sorts_and_keeps_the_last_of_duplicates():
    frame = read_weather(
        {
            "time": [LOCAL_TIMES[2], LOCAL_TIMES[0], LOCAL_TIMES[2]],
            "cloud_cover_pct": [10, 20, 30],
            "wind_speed_m_s": [1, 2, 3],
            "relative_humidity": [50, 60, 70],
        }
    )
    assert list(frame.columns) == ["wind_speed", "cloud_cover"]
    assert frame.index.as_unit("ns").equals(UTC_TIMES[[0, 2]].as_unit("ns"))
    np.testing.assert_allclose(frame["cloud_cover"], [20, 30])


def test_weather_in_local_time_across_a_dst_change_is_read():
    """2022-03-27 in Amsterdam: 01:00+01:00 is followed by 03:00+02:00, an hour later."""
    local = ["2022-03-27T00:00:00+01:00", "2022-03-27T01:00:00+01:00"]
    local += ["2022-03-27T03:00:00+02:00", "2022-03-27T04:00:00+02:00"]
    expected = pd.date_range("2022-03-26 23:00", periods=4, freq="h", tz="UTC")
    for source in (Weather(time=local, cloud_cover_pct=[0, 10, 20, 30]), {"time": local}):
        if isinstance(source, dict):
            source["ghi"] = [0, 0, 0, 5]
        frame = read_weather(source)
        assert frame.index.as_unit("ns").equals(expected.as_unit("ns"))


@pytest.mark.parametrize(
    "source",
    [
        pd.DataFrame({"time": ["2016-06-21T10:00:00", "2016-06-21T11:00:00"], "ghi": [1, 2]}),
        pd.DataFrame({"ghi": [1, 2]}, index=pd.date_range("2016-06-21", periods=2, freq="h")),
        {"time": ["2016-06-21T10:00:00+02:00", "2016-06-21T11:00:00"], "ghi": [1, 2]},
    ],
    ids=["naive strings", "naive index", "one naive among aware"],
)
def test_weather_with_naive_times_is_refused_with_the_reason(source):
    with pytest.raises(ValueError, match="naive"):
        read_weather(source)


def test_weather_without_irradiance_or_cloud_cover_or_times_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"ghi \(irradiance\) or cloud_cover"):
        read_weather({"time": LOCAL_TIMES, "temp_air_c": TEMP})
    with pytest.raises(ValueError, match="time index"):
        read_weather({"when": LOCAL_TIMES, "ghi": GHI})
    with pytest.raises(ValueError, match="no such file"):
        read_weather(tmp_path / "nothing.csv")
    with pytest.raises(ValueError, match="cannot be read from int"):
        read_weather(42)


# --- weather on quarter-hours ------------------------------------------------------------


def test_a_clear_hourly_forecast_stays_on_the_clear_sky_curve_at_every_quarter_hour():
    """GHI is interpolated as a clear-sky index: hourly clear-sky values give the clear sky of
    each quarter-hour (at its midpoint), sunrise and sunset included; zero at night."""
    hourly = pd.DataFrame({"ghi": pvlib_clear_ghi(HOURS_21)}, index=HOURS_21)
    slots = weather_on_slots(hourly, JUNE_21, PAYERNE, 15)
    reference = pvlib_clear_ghi(JUNE_21 + pd.Timedelta(minutes=7.5))
    assert slots["ghi"].notna().all()
    np.testing.assert_allclose(slots["ghi"], reference, rtol=1e-6, atol=1e-6)
    night = reference == 0
    assert night.sum() >= 20 and (slots["ghi"][night] == 0).all()
    # Linear interpolation in W/m² would cut the curve short at dawn: 04:00-05:00 UTC
    # climbs from ~7 to ~115 W/m², its quarter-hours follow the curve, not a straight line.
    assert slots["ghi"].iloc[16:20].round(0).tolist() == np.round(reference[16:20]).tolist()
    np.testing.assert_allclose(slots[["temp_air", "wind_speed"]].drop_duplicates(), [[20.0, 1.0]])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1100, allow_nan=False), min_size=25, max_size=25))
def test_any_hourly_ghi_gives_quarter_hours_within_the_clear_sky_envelope(hourly_ghi):
    hourly = pd.DataFrame({"ghi": hourly_ghi}, index=HOURS_21)
    ghi = weather_on_slots(hourly, JUNE_21, PAYERNE, 15)["ghi"].to_numpy()
    clear = pvlib_clear_ghi(JUNE_21 + pd.Timedelta(minutes=7.5))
    assert np.isfinite(ghi).all()
    assert (ghi >= 0).all() and (ghi[clear == 0] == 0).all()
    assert (ghi <= 1.5 * clear + 1e-9).all()


@pytest.mark.parametrize(("cover", "share"), [(0, 1.0), (50, 0.928951), (100, 0.25)])
def test_cloud_cover_gives_kasten_czeplak_ghi_on_each_quarter_hour(cover, share):
    hourly = pd.DataFrame({"cloud_cover": float(cover)}, index=HOURS_21)
    ghi = weather_on_slots(hourly, JUNE_21, PAYERNE, 15)["ghi"]
    clear = pvlib_clear_ghi(JUNE_21 + pd.Timedelta(minutes=7.5))
    np.testing.assert_allclose(ghi, share * clear, rtol=1e-5, atol=1e-9)


def test_pv_from_weather_is_nan_outside_the_forecast_and_lower_under_clouds():
    hours = pd.date_range("2016-06-21 06:00", "2016-06-21 18:00", freq="h", tz="UTC")
    clear_pv = pv_from_weather(
        pd.DataFrame({"cloud_cover": 0.0}, index=hours), JUNE_21, PAYERNE, [ROOF], 15
    )
    overcast = pv_from_weather(
        pd.DataFrame({"cloud_cover": 100.0}, index=hours), JUNE_21, PAYERNE, [ROOF], 15
    )
    inside = (hours[0] <= JUNE_21) & (JUNE_21 + pd.Timedelta(minutes=7.5) <= hours[-1])
    assert clear_pv[inside].notna().all() and clear_pv[~inside].isna().all()
    assert overcast[~inside].isna().all()
    assert (overcast[inside] < clear_pv[inside]).all()
    # Under a clear sky, the day's energy is the clear-sky PV's (split by Erbs, not Ineichen).
    clear_sky = clearsky_pv_kw(JUNE_21, PAYERNE, [ROOF], 15)[inside]
    assert clear_pv[inside].sum() == pytest.approx(clear_sky.sum(), rel=0.02)
    no_overlap = pd.DataFrame({"ghi": [100.0, 200.0]}, index=hours[:2] + pd.Timedelta(days=3))
    assert pv_from_weather(no_overlap, JUNE_21, PAYERNE, [ROOF], 15).isna().all()


def test_pv_from_weather_does_not_depend_on_the_resolution_of_the_times():
    """pandas stamps times in s, ms, us or ns; a forecast and slots in different units meet."""
    hourly = pd.DataFrame({"ghi": pvlib_clear_ghi(HOURS_21) * 0.7}, index=HOURS_21)
    reference = pv_from_weather(hourly, JUNE_21.as_unit("ns"), PAYERNE, [ROOF], 15)
    assert reference.notna().all() and reference.max() > 3
    for weather_unit, slot_unit in (("ns", "us"), ("s", "ns"), ("us", "s")):
        other = hourly.set_axis(HOURS_21.as_unit(weather_unit))
        power = pv_from_weather(other, JUNE_21.as_unit(slot_unit), PAYERNE, [ROOF], 15)
        np.testing.assert_allclose(power.to_numpy(), reference.to_numpy(), rtol=1e-9)


def test_warmer_forecast_gives_less_pv():
    hourly = pd.DataFrame({"ghi": pvlib_clear_ghi(HOURS_21)}, index=HOURS_21)
    mild = pv_from_weather(hourly.assign(temp_air=10.0), JUNE_21, PAYERNE, [ROOF], 15)
    hot = pv_from_weather(hourly.assign(temp_air=35.0), JUNE_21, PAYERNE, [ROOF], 15)
    day = mild > 1
    assert (hot[day] < mild[day]).all()
    assert hot.sum() / mild.sum() == pytest.approx(1 - 0.004 * 25, abs=0.02)


def test_pv_from_measured_irradiance_as_a_forecast_matches_the_pv_of_the_measurements():
    """BSRN Payerne, 20-21 June 2016, a steep east-facing array (the beam matters): the
    15-minute measured GHI, DNI and DHI given as a forecast give nearly the power computed
    from them directly, and closer than from their GHI alone (DNI and DHI are used)."""
    measured = bsrn_15min("2016-06-20", "2016-06-22")
    east = PVArray(id="east", kwp=10, tilt_deg=60, azimuth_deg=100)
    truth = pv_power_kw(
        measured[["ghi", "dni", "dhi"]].clip(lower=0),
        PAYERNE,
        [east],
        measured["temp_air"],
        interval_minutes=15,
    )
    forecast = read_weather(measured[["ghi", "dni", "dhi", "temp_air"]])
    full = pv_from_weather(forecast, measured.index, PAYERNE, [east], 15)
    ghi_only = pv_from_weather(forecast[["ghi", "temp_air"]], measured.index, PAYERNE, [east], 15)
    scored = full.notna()
    assert scored.sum() >= len(measured) - 1  # only the last slot's midpoint is past the end
    assert full[scored].sum() == pytest.approx(truth[scored].sum(), rel=0.01)
    error_full = (full - truth)[scored].abs().mean()
    error_ghi_only = (ghi_only - truth)[scored].abs().mean()
    assert error_full < 0.02 * east.kwp
    assert error_full < 0.8 * error_ghi_only
