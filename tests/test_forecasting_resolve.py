"""The hook that fills a problem's null base load and PV (history, weather, risk, the daily
choice and its cache), the methods by name, quantile bands and error metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smartcharge.forecasting import metrics, resolve
from smartcharge.forecasting.clearsky_index import CLIMATOLOGICAL_INDEX
from smartcharge.forecasting.methods import (
    LOAD_CANDIDATES,
    ensemble_pv_quantiles,
    load_forecasters,
    pv_forecasters,
)
from smartcharge.forecasting.pv import clearsky_irradiance, clearsky_pv_kw
from smartcharge.forecasting.quantiles import UNCALIBRATED_SPREAD, quantile_band, relative_band
from smartcharge.forecasting.resolve import horizon_times, load_quantiles, resolve_forecasts
from smartcharge.forecasting.weather import pv_from_weather, read_weather
from smartcharge.optimizer.problem import Location, PVArray, parse_problem
from tests.forecasting_data import (
    AMSTERDAM,
    PAYERNE,
    bsrn_pv_kw,
    household_history,
    household_load,
    site_with_pv,
)

AMSTERDAM_SITE = Location(latitude=52.37, longitude=4.9, altitude_m=2)


# --- resolve_forecasts -----------------------------------------------------------------


def test_null_forecasts_without_history_are_zero_load_and_climatological_pv():
    forecasts = resolve_forecasts(parse_problem(site_with_pv()))
    assert (forecasts.base_load_kw == 0).all()
    assert forecasts.pv_kw.max() > 0 and forecasts.pv_kw.min() == 0
    assert any("no base-load history" in w for w in forecasts.warnings)
    assert forecasts.quantiles["pv"].attrs["method"] == "climatology"
    assert "base_load" not in forecasts.quantiles


@pytest.mark.parametrize("risk", ["p50", "p90"])
def test_quantiles_are_ordered_and_risk_picks_the_pessimistic_side(risk):
    doc = site_with_pv(options={"risk": risk})
    parsed = parse_problem(doc)
    history = household_history(horizon_times(parsed)[0])
    forecasts = resolve_forecasts(parsed, load_history_kw=history)
    load, pv = forecasts.quantiles["base_load"], forecasts.quantiles["pv"]
    assert load.attrs["method"] in {"smoothed_blend", "lag_regression", "gradient_boosting"}
    assert (load.p10 <= load.p50 + 1e-9).all() and (load.p50 <= load.p90 + 1e-9).all()
    assert (pv.p10 <= pv.p50 + 1e-9).all() and (pv.p50 <= pv.p90 + 1e-9).all()
    if risk == "p90":
        np.testing.assert_allclose(forecasts.base_load_kw, load.p90)
        np.testing.assert_allclose(forecasts.pv_kw, pv.p10)
    else:
        np.testing.assert_allclose(forecasts.base_load_kw, load.p50)


def test_given_values_pass_through():
    doc = site_with_pv()
    doc["base_load_kw"], doc["pv_kw"] = 7.0, [1.0] * 96
    forecasts = resolve_forecasts(parse_problem(doc))
    assert (forecasts.base_load_kw == 7.0).all() and (forecasts.pv_kw == 1.0).all()
    assert forecasts.quantiles == {} and forecasts.warnings == []


def test_horizon_times_count_the_quarter_hours_of_a_dst_day():
    doc = site_with_pv()
    doc["horizon"] = {"start": "2022-10-30T00:00:00+02:00", "step_minutes": 15, "slots": 100}
    times = horizon_times(parse_problem(doc))
    assert times[0] == pd.Timestamp("2022-10-29 22:00", tz="UTC")
    assert times[-1].tz_convert(AMSTERDAM) == pd.Timestamp("2022-10-30 23:45", tz=AMSTERDAM)


def hourly_weather(doc: dict, **columns) -> dict:
    """A weather field of hourly values covering the problem's horizon (and an hour more)."""
    times = horizon_times(parse_problem(doc))
    hours = pd.date_range(times[0] - pd.Timedelta("1h"), times[-1] + pd.Timedelta("2h"), freq="h")
    weather = {"time": [t.isoformat() for t in hours]}
    for name, value in columns.items():
        weather[name] = list(value(hours)) if callable(value) else [value] * len(hours)
    return weather


def test_a_weather_forecast_in_the_problem_drives_the_pv():
    results = {}
    for cover in (0, 100):
        doc = site_with_pv()
        doc["weather"] = hourly_weather(doc, cloud_cover_pct=cover)
        forecasts = resolve_forecasts(parse_problem(doc))
        band = forecasts.quantiles["pv"]
        assert band.attrs["method"] == "weather"
        assert (band.p10 <= band.p50).all() and (band.p50 <= band.p90).all()
        results[cover] = forecasts.pv_kw
    assert results[0].sum() > 3 * results[100].sum() > 0
    day = results[0] > 1
    assert (results[100][day] < results[0][day]).all()


def test_an_hourly_ghi_forecast_covers_every_slot_of_the_horizon():
    doc = site_with_pv()
    doc["weather"] = hourly_weather(
        doc,
        ghi_w_m2=lambda hours: clearsky_irradiance(hours, AMSTERDAM_SITE)["ghi"].round(1),
        temp_air_c=5.0,
    )
    parsed = parse_problem(doc)
    forecasts = resolve_forecasts(parsed)
    band = forecasts.quantiles["pv"]
    assert band.attrs["method"] == "weather" and band.notna().all().all()
    direct = pv_from_weather(
        read_weather(parsed.weather), horizon_times(parsed), AMSTERDAM_SITE, parsed.site.pv, 15
    )
    np.testing.assert_allclose(forecasts.pv_kw, direct.to_numpy())
    assert forecasts.pv_kw.max() > 5 and forecasts.pv_kw.min() == 0


def test_a_weather_forecast_that_covers_part_of_the_horizon_is_completed():
    doc = site_with_pv()
    weather = hourly_weather(doc, cloud_cover_pct=0)
    weather = {name: values[:8] for name, values in weather.items()}  # 04:00-11:00 UTC
    doc["weather"] = weather
    forecasts = resolve_forecasts(parse_problem(doc))
    assert forecasts.quantiles["pv"].attrs["method"] == "weather+climatology"
    elsewhere = site_with_pv()
    elsewhere["weather"] = {"time": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"]}
    elsewhere["weather"]["cloud_cover_pct"] = [0, 0]
    forecasts = resolve_forecasts(parse_problem(elsewhere))
    assert forecasts.quantiles["pv"].attrs["method"] == "climatology"
    assert any("does not cover the horizon" in w for w in forecasts.warnings)


def test_messy_history_forecasts_like_the_clean_one():
    """Readings out of order, some sent twice: the same forecast. Six hours lost: still one."""
    parsed = parse_problem(site_with_pv())
    history = household_history(horizon_times(parsed)[0], days=30)
    clean = resolve_forecasts(parsed, load_history_kw=history).quantiles["base_load"]
    rng = np.random.default_rng(0)
    messy = pd.concat([history, history.iloc[rng.choice(len(history), 200)]])
    messy = messy.iloc[rng.permutation(len(messy))]
    again = resolve_forecasts(parsed, load_history_kw=messy).quantiles["base_load"]
    pd.testing.assert_frame_equal(again, clean)
    gappy = history.drop(history.index[-300:-276])
    gappy.iloc[100:110] = np.nan
    band = resolve_forecasts(parsed, load_history_kw=gappy).quantiles["base_load"]
    assert band.notna().all().all() and (band.p10 <= band.p90).all()


def test_a_naive_history_is_refused_with_the_reason():
    parsed = parse_problem(site_with_pv())
    history = household_history(horizon_times(parsed)[0], days=20)
    with pytest.raises(ValueError, match="naive"):
        resolve_forecasts(parsed, load_history_kw=history.tz_localize(None))


def test_the_daily_choice_is_remembered_until_a_past_value_changes():
    history = household_load("2022-02-01", 35)
    times = pd.date_range(history.index[-1] + pd.Timedelta("15min"), periods=48, freq="15min")
    known = set(resolve._daily_choices)
    first = load_quantiles(history, times, AMSTERDAM, 15, "NL")
    added = set(resolve._daily_choices) - known
    assert len(added) == 1
    (key,) = added
    choice = resolve._daily_choices[key]
    assert choice.method == first.attrs["method"] and choice.method in LOAD_CANDIDATES
    second = load_quantiles(history, times, AMSTERDAM, 15, "NL")
    pd.testing.assert_frame_equal(second, first)
    assert set(resolve._daily_choices) - known == {key}
    assert resolve._daily_choices[key] is choice
    corrected = history.copy()
    corrected.iloc[-500] += 50.0  # a meter value corrected a few days back
    load_quantiles(corrected, times, AMSTERDAM, 15, "NL")
    (other,) = set(resolve._daily_choices) - known - {key}
    assert not resolve._daily_choices[other].residuals.equals(choice.residuals)


# --- the methods by name ---------------------------------------------------------------


def test_every_load_method_forecasts_the_next_day_from_the_history_before_it():
    history = household_load("2022-02-01", 35)
    tomorrow = pd.date_range(history.index[-1] + pd.Timedelta("15min"), periods=96, freq="15min")
    methods = load_forecasters(AMSTERDAM, 15, "NL")
    assert set(LOAD_CANDIDATES) <= set(methods) and {"yesterday", "profile"} <= set(methods)
    for name, method in methods.items():
        forecast = method.forecast(history, tomorrow)
        assert forecast.index.equals(tomorrow), name
        assert forecast.notna().all() and forecast.between(0, 10 * history.max()).all(), name
    np.testing.assert_array_equal(methods["yesterday"].forecast(history, tomorrow), history[-96:])
    np.testing.assert_array_equal(
        methods["last_week"].forecast(history, tomorrow), history[-7 * 96 : -6 * 96]
    )


def test_smart_persistence_is_yesterdays_clear_sky_index_times_the_clear_sky():
    array = PVArray(id="a", kwp=10)
    times = pd.date_range("2016-06-18", "2016-06-22", freq="15min", tz="UTC", inclusive="left")
    clear = clearsky_pv_kw(times, PAYERNE, [array], 15)
    index = np.select([times.day == 19, times.day == 20], [0.9, 0.4], default=0.7)
    history = (clear * index)[times < pd.Timestamp("2016-06-21", tz="UTC")]
    tomorrow = times[times >= pd.Timestamp("2016-06-21", tz="UTC")]
    methods = pv_forecasters(clear, "UTC")
    smart = methods["smart_persistence"].forecast(history, tomorrow)
    np.testing.assert_allclose(smart, 0.4 * clear[tomorrow], atol=1e-9)


def test_the_pv_ensemble_band_is_ordered_and_falls_back_on_climatology():
    array = PVArray(id="a", kwp=10)
    times = pd.date_range("2016-06-10", "2016-06-22", freq="15min", tz="UTC", inclusive="left")
    clear = clearsky_pv_kw(times, PAYERNE, [array], 15)
    rng = np.random.default_rng(0)
    index = np.repeat(rng.choice([0.3, 0.6, 1.0], 12), 96)
    tomorrow = times[-96:]
    history = (clear * index)[:-96]
    step = pd.Timedelta("15min")
    band = ensemble_pv_quantiles(history, tomorrow, clear, step)
    assert (band.p10 <= band.p50 + 1e-12).all() and (band.p50 <= band.p90 + 1e-12).all()
    assert (band >= 0).all().all() and band.p90.max() > 0
    empty = ensemble_pv_quantiles(history.iloc[:0], tomorrow, clear, step)
    np.testing.assert_allclose(empty.p50, CLIMATOLOGICAL_INDEX * clear[tomorrow])


# --- quantile bands --------------------------------------------------------------------


def test_quantile_band_adds_the_residual_quantiles_and_never_narrows_past_the_p50():
    p50 = pd.Series([10.0, 20.0, -5.0])
    uncalibrated = quantile_band(p50, pd.Series(dtype=float), floor=None)
    np.testing.assert_allclose(uncalibrated.p10, p50 - UNCALIBRATED_SPREAD * p50.abs())
    np.testing.assert_allclose(uncalibrated.p90, p50 + UNCALIBRATED_SPREAD * p50.abs())
    residuals = pd.Series(np.arange(-10.0, 11.0))  # 10 % and 90 % at -8 and +8
    band = quantile_band(p50, residuals, floor=None)
    np.testing.assert_allclose(band.p10, p50 - 8)
    np.testing.assert_allclose(band.p90, p50 + 8)
    one_sided = quantile_band(p50, pd.Series([1.0, 2.0, 3.0]), floor=None)
    np.testing.assert_allclose(one_sided.p10, p50)  # low quantile > 0: the P10 stays at the P50
    floored = quantile_band(p50, residuals)
    assert (floored >= 0).all().all() and floored.p50.iloc[2] == 0


def test_relative_band_scales_the_quantiles_and_stays_above_zero():
    p50 = pd.Series([0.0, 2.0, 5.0])
    scale = pd.Series([0.0, 4.0, 10.0])
    band = relative_band(p50, scale, (-0.25, 0.1))
    np.testing.assert_allclose(band.p10, [0.0, 1.0, 2.5])
    np.testing.assert_allclose(band.p90, [0.0, 2.4, 6.0])
    skewed = relative_band(p50, scale, (0.05, 0.2))  # both above zero: the P10 is the P50
    np.testing.assert_allclose(skewed.p10, p50)


# --- error metrics ---------------------------------------------------------------------


def test_metrics_on_hand_arrays():
    actual = pd.Series([1.0, 2.0, 3.0, 4.0])
    forecast = pd.Series([1.0, 3.0, 2.0, 4.0])
    assert metrics.mae(actual, forecast) == 0.5
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(0.5))
    assert metrics.skill_pct(0.5, 1.0) == 50.0
    # pinball at q=0.9: under-forecast by 1 costs 0.9, over-forecast by 1 costs 0.1
    assert metrics.pinball(pd.Series([2.0, 1.0]), pd.Series([1.0, 2.0]), 0.9) == pytest.approx(0.5)
    band = pd.DataFrame({"p10": [0.0, 2.5, 0, 5], "p50": forecast, "p90": [2.0, 3.0, 4, 6]})
    assert metrics.coverage_pct(actual, band) == 50.0


def test_metrics_leave_out_missing_pairs_and_align_on_times():
    times = pd.date_range("2022-01-01", periods=4, freq="15min", tz="UTC")
    actual = pd.Series([1.0, np.nan, 3.0, 4.0], times)
    forecast = pd.Series([2.0, 100.0, np.nan], times[:3])
    assert metrics.mae(actual, forecast) == 1.0 and metrics.rmse(actual, forecast) == 1.0
    assert np.isnan(metrics.skill_pct(1.0, 0.0))
    band = pd.DataFrame({"p10": [0.0], "p50": [1.0], "p90": [2.0]}, index=times[:1])
    assert metrics.coverage_pct(actual, band) == 100.0
    assert np.isnan(metrics.coverage_pct(actual.iloc[1:2], band))
    # Mean pinball of a band: (0.1 x 1 + 0.5 x 1 + 0.1 x 2) / 3 for an actual of 1 at p10 0,
    # p50 2, p90 3.
    wide = pd.DataFrame({"p10": [0.0], "p50": [2.0], "p90": [3.0]}, index=times[:1])
    assert metrics.mean_pinball(actual, wide) == pytest.approx((0.1 + 0.5 + 0.2) / 3)


# --- PV from the site's own backtest, per band --------------------------------------------


def payerne_problem(start: str, **fields) -> dict:
    """A site at Payerne with a south roof, its PV to forecast from `start` for a day."""
    doc = site_with_pv(**fields)
    doc["site"]["timezone"] = "Europe/Zurich"
    doc["site"]["location"] = {"latitude": 46.815, "longitude": 6.944, "altitude_m": 491}
    doc["site"]["pv"] = [{"id": "roof", "kwp": 10, "tilt_deg": 30, "azimuth_deg": 180}]
    doc["horizon"] = {"start": start, "step_minutes": 15, "slots": 96}
    return doc


def payerne_measured_pv() -> tuple[pd.Series, pd.DataFrame]:
    roof = PVArray(id="roof", kwp=10, tilt_deg=30, azimuth_deg=180)
    return bsrn_pv_kw("2016-06-01", "2016-07-01", roof)


def test_pv_with_history_reports_the_method_of_each_band():
    actual, _ = payerne_measured_pv()
    parsed = parse_problem(payerne_problem("2016-06-24T10:00:00+02:00"))
    start = horizon_times(parsed)[0]
    forecasts = resolve_forecasts(parsed, pv_history_kw=actual[actual.index < start])
    band = forecasts.quantiles["pv"]
    assert set(band.attrs["methods"]) == {"0-2h", "2-6h", "day-ahead"}
    names = {"csi_persistence", "smart_persistence", "csi_ensemble"}
    names |= {f"{n}_updated" for n in names - {"csi_persistence"}}
    for method in band.attrs["methods"].values():
        assert method in names
    assert set(band.attrs["method"].split("+")) == set(band.attrs["methods"].values())
    assert (band.p10 <= band.p50 + 1e-9).all() and (band.p50 <= band.p90 + 1e-9).all()
    assert not any("PV" in w or "weather" in w for w in forecasts.warnings)


def test_a_weather_forecast_with_a_past_to_score_is_chosen_where_it_wins():
    """The weather forecast is the measured irradiance itself (a perfect one, stored for the
    past weeks and the day ahead): the site's backtest picks it beyond the next hours."""
    actual, measured = payerne_measured_pv()
    parsed = parse_problem(payerne_problem("2016-06-24T00:00:00+02:00"))
    start = horizon_times(parsed)[0]
    perfect = read_weather(measured[["ghi", "dni", "dhi", "temp_air"]].shift(freq="7.5min"))
    forecasts = resolve_forecasts(
        parsed, pv_history_kw=actual[actual.index < start], weather=perfect
    )
    methods = forecasts.quantiles["pv"].attrs["methods"]
    assert methods["day-ahead"].startswith("weather")
    assert methods["2-6h"].startswith("weather")
    truth = actual.reindex(horizon_times(parsed))
    assert np.abs(forecasts.pv_kw - truth.to_numpy()).mean() < 0.1


def test_a_weather_forecast_without_a_past_is_trusted_beyond_two_hours_with_a_warning():
    actual, measured = payerne_measured_pv()
    parsed = parse_problem(payerne_problem("2016-06-24T10:00:00+02:00"))
    times = horizon_times(parsed)
    future = measured[["ghi"]][measured.index >= times[0] - pd.Timedelta("1h")]
    forecasts = resolve_forecasts(
        parsed, pv_history_kw=actual[actual.index < times[0]], weather=read_weather(future)
    )
    methods = forecasts.quantiles["pv"].attrs["methods"]
    assert methods["day-ahead"].startswith("weather") and methods["2-6h"].startswith("weather")
    assert not methods["0-2h"].startswith("weather")
    assert any("no past days to be scored" in w for w in forecasts.warnings)


@pytest.mark.parametrize("days", [1, 2, 5])
def test_a_short_pv_history_falls_back_on_the_ensemble_until_it_can_be_scored(days):
    actual, _ = payerne_measured_pv()
    parsed = parse_problem(payerne_problem("2016-06-24T10:00:00+02:00"))
    start = horizon_times(parsed)[0]
    history = actual[(actual.index < start) & (actual.index >= start - pd.Timedelta(days=days))]
    band = resolve_forecasts(parsed, pv_history_kw=history).quantiles["pv"]
    if days < 5:
        assert set(band.attrs["methods"].values()) == {"csi_ensemble"}
    assert band.notna().all().all() and (band.p10 <= band.p90 + 1e-9).all()
    assert band.p50.max() > 1


def test_plans_through_the_day_share_one_choice_although_their_history_window_slides():
    # The service reads a fixed span back from each plan's start (api.stored_problem), so the
    # first, partial day of the history is a little shorter at every re-plan.
    history = household_load("2022-02-01", 40)
    midnight = pd.Timestamp("2022-03-10", tz=AMSTERDAM)
    known = set(resolve._daily_choices)
    for minutes in (0, 15, 30, 615):
        issued_at = midnight + pd.Timedelta(minutes=minutes)
        since = issued_at - pd.Timedelta(days=30)
        window = history[(history.index >= since) & (history.index < issued_at)]
        times = pd.date_range(issued_at.tz_convert("UTC"), periods=8, freq="15min")
        load_quantiles(window, times, AMSTERDAM, 15, "NL")
    # 00:00 reads whole days; every later plan of the day drops the same partial first day.
    assert len(set(resolve._daily_choices) - known) == 2
