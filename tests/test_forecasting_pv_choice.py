"""PV per lead-time band: the candidates (no look-ahead at any lead), the choice between them
(significance against the longer record), the learned weather correction, the adaptive spread,
and the plan's forecast — which must be exactly what the backtest's `auto` row scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.perturbed_weather import perturbed_forecast
from smartcharge.forecasting import backtest
from smartcharge.forecasting.clearsky_index import clearsky_index
from smartcharge.forecasting.pv import clearsky_pv_kw
from smartcharge.forecasting.pv_candidates import (
    BANDS,
    PERSISTENCE,
    PVSeries,
    band_forecasts,
    band_of,
    candidate_names,
    day_ahead_levels,
    local_day_codes,
)
from smartcharge.forecasting.pv_choice import choose_pv_methods, ranked
from smartcharge.forecasting.pv_forecast import forecast_pv
from smartcharge.forecasting.quantiles import QUANTILES, adaptive_spread, binned_error_quantiles
from smartcharge.forecasting.rolling import day_spans
from smartcharge.forecasting.weather import pv_from_weather
from smartcharge.forecasting.weather_correction import (
    corrected,
    correction_pairs,
    day_part,
    fit_correction,
)
from smartcharge.optimizer.problem import PVArray
from tests.forecasting_data import PAYERNE, bsrn_pv_kw

ZURICH = "Europe/Zurich"
STEP = pd.Timedelta(minutes=15)
SOUTH = PVArray(id="roof", kwp=10, tilt_deg=30, azimuth_deg=180)


def payerne_pv(array: PVArray = SOUTH):
    return bsrn_pv_kw("2016-06-01", "2016-07-01", array)


def payerne_series(with_weather: bool = False, array: PVArray = SOUTH) -> PVSeries:
    actual, measured = payerne_pv(array)
    clear = clearsky_pv_kw(actual.index, PAYERNE, [SOUTH], 15)
    weather_kw = None
    if with_weather:
        forecast = perturbed_forecast(measured, PAYERNE, ZURICH, seed=3)
        weather_kw = pv_from_weather(forecast, actual.index, PAYERNE, [SOUTH], 15)
    return PVSeries(actual, clear, ZURICH, STEP, weather_kw)


# --- bands and candidates ------------------------------------------------------------------


def test_a_slot_falls_in_the_band_of_its_lead():
    hour = pd.Timedelta(hours=1)
    assert [band_of(lead).name for lead in (0.25 * hour, 2 * hour, 2.25 * hour)] == [
        "0-2h",
        "0-2h",
        "2-6h",
    ]
    assert band_of(6 * hour).name == "2-6h" and band_of(30 * hour).name == "day-ahead"
    assert candidate_names(False, BANDS[-1]) == ["smart_persistence", "csi_ensemble"]
    assert len(candidate_names(True, BANDS[0])) == 1 + 4 + 4


@settings(max_examples=10, deadline=None)
@given(st.integers(30, 70), st.sampled_from([0, 1]))
def test_no_candidate_at_any_band_reads_a_measurement_less_than_its_lead_before(slot, band):
    """Measurements from `lead` before a slot on (and the future) scrambled: every candidate
    forecasts that slot the same."""
    series = payerne_series()
    lead = BANDS[band].scored_at
    day = pd.Timestamp("2016-06-22", tz=ZURICH)
    target = series.measured_kw.index[(series.measured_kw.index >= day)][slot]
    start = pd.Timestamp("2016-06-19", tz=ZURICH)
    reference = band_forecasts(series, day_ahead_levels(series, start), BANDS[band])
    scrambled = series.measured_kw.copy()
    late = scrambled.index > target - lead
    scrambled[late] = np.random.default_rng(slot).uniform(0, 10, late.sum())
    other = PVSeries(scrambled, series.clearsky_kw, ZURICH, STEP)
    again = band_forecasts(other, day_ahead_levels(other, start), BANDS[band])
    for name, forecast in reference.items():
        assert again[name][target] == pytest.approx(forecast[target], abs=1e-9), name


def test_persistence_carries_the_index_of_the_slot_a_lead_before():
    series = payerne_series()
    start = pd.Timestamp("2016-06-10", tz=ZURICH)
    forecasts = band_forecasts(series, day_ahead_levels(series, start), BANDS[1])
    noon = pd.Timestamp("2016-06-20 11:00", tz="UTC")
    index_before = clearsky_index(series.measured_kw, series.clearsky_kw)[
        noon - pd.Timedelta(hours=4)
    ]
    assert forecasts[PERSISTENCE][noon] == pytest.approx(
        index_before * series.clearsky_kw[noon], rel=1e-9
    )


# --- the choice ----------------------------------------------------------------------------


def _daily_errors(means: dict[str, list[float]], slots: int = 20):
    """abs errors (rows: `slots` per day) with the given daily means, and their day codes."""
    names = list(means)
    days = len(next(iter(means.values())))
    rng = np.random.default_rng(0)
    rows = []
    for name in names:
        per_day = np.repeat(means[name], slots) + rng.uniform(-0.01, 0.01, days * slots)
        rows.append(per_day)
    return np.column_stack(rows), np.repeat(np.arange(days), slots), names


def test_a_consistently_better_two_weeks_replace_the_records_winner():
    # a wins the first four weeks, b beats it by 0.2 kW on every one of the last 14 days.
    errors, days, names = _daily_errors({"a": [1.0] * 42, "b": [2.0] * 28 + [0.8] * 14})
    assert ranked(errors, days, names, today=42) == ["b", "a"]


def test_a_noisy_two_week_lead_does_not_replace_the_records_winner():
    """b is 0.1 kW better on average over the last 14 days, but by ±1 kW a day: noise. Over
    the record a is better: a stays."""
    rng = np.random.default_rng(1)
    noisy = list(1.0 + rng.choice([-1.0, 1.0], 14) - 0.1)
    errors, days, names = _daily_errors({"a": [1.0] * 42, "b": [1.5] * 28 + noisy})
    assert errors[days >= 28, 1].mean() < errors[days >= 28, 0].mean()
    assert ranked(errors, days, names, today=42)[0] == "a"


def test_a_candidate_known_on_under_three_days_is_left_out_and_nothing_known_is_empty():
    errors, days, names = _daily_errors({"a": [1.0] * 20, "weather": [0.1] * 20})
    errors[days < 18, 1] = np.nan  # a weather forecast stored two days ago
    assert ranked(errors, days, names, today=20) == ["a"]
    assert ranked(np.full((10, 2), np.nan), np.arange(10), ["a", "b"], today=10) == []


# --- the weather correction ------------------------------------------------------------------


def test_the_correction_learns_a_wrongly_declared_azimuth_and_leaves_a_right_forecast_alone():
    """The roof faces south-east but was declared south: the weather chain (fed the measured
    irradiance: a perfect weather forecast) misses the morning and overshoots the afternoon.
    Learnt on three weeks, the correction cuts its error on the next week by more than a
    quarter; on a right declaration it changes almost nothing."""
    south_east = PVArray(id="roof", kwp=10, tilt_deg=30, azimuth_deg=135)
    actual, measured = payerne_pv(south_east)
    clear = clearsky_pv_kw(actual.index, PAYERNE, [SOUTH], 15)
    declared = pv_from_weather(measured[["ghi", "dni", "dhi"]], actual.index, PAYERNE, [SOUTH], 15)
    split = pd.Timestamp("2016-06-22", tz=ZURICH)
    learn, test = actual.index < split, actual.index >= split
    pairs = correction_pairs(actual[learn], declared, clear, ZURICH)
    correction = fit_correction(pairs)
    fixed = corrected(correction, declared[test], clear, day_part(clear, ZURICH))
    raw_error = (declared[test] - actual[test]).abs().mean()
    assert (fixed - actual[test]).abs().mean() < 0.75 * raw_error
    assert correction.slope.min() > 0.5 and correction.intercept.std() > 0.02

    right, _ = payerne_pv(SOUTH)
    right_pairs = correction_pairs(right[learn], declared, clear, ZURICH)
    unchanged = corrected(
        fit_correction(right_pairs), declared[test], clear, day_part(clear, ZURICH)
    )
    assert (unchanged - declared[test]).abs().mean() < 0.01 * SOUTH.kwp
    too_short = correction_pairs(right[actual.index < "2016-06-03"], declared, clear, ZURICH)
    assert fit_correction(too_short) is None


# --- the spread ------------------------------------------------------------------------------


def test_the_adaptive_spread_covers_80_percent_and_widens_when_errors_grow():
    times = pd.date_range("2022-06-01", periods=48 * 90, freq="30min", tz="UTC")
    rng = np.random.default_rng(2)
    scale = np.full(len(times), 2.0)
    p50 = np.full(len(times), 1.0)
    size = np.where(times < pd.Timestamp("2022-07-15", tz="UTC"), 0.1, 0.3)
    actual = p50 + scale * size * rng.standard_normal(len(times))
    codes = local_day_codes(times, "UTC")
    spans = day_spans(times, "UTC", times[0], 14)
    spread = adaptive_spread(actual, p50, scale, np.ones(len(times), bool), codes, spans.windows())
    low, high = p50 + spread.low * scale, p50 + spread.high * scale
    inside = (actual >= low) & (actual <= high)
    late = times >= pd.Timestamp("2022-08-05", tz="UTC")
    early = (times >= pd.Timestamp("2022-06-15", tz="UTC")) & (
        times < pd.Timestamp("2022-07-15", tz="UTC")
    )
    assert 0.75 < inside[early].mean() < 0.85 and 0.75 < inside[late].mean() < 0.85
    assert (high - low)[late].mean() > 2.5 * (high - low)[early].mean()
    assert spread.next_day is not None and spread.levels[0] < spread.levels[1]


def test_errors_are_binned_by_the_sky_the_forecast_expects():
    """Clear forecasts err only downwards and little; broken ones both ways and much."""
    rng = np.random.default_rng(3)
    clear_index = np.full(500, 0.95)
    broken_index = np.full(500, 0.6)
    errors = np.concatenate([-np.abs(rng.normal(0, 0.05, 500)), rng.normal(0, 0.3, 500)])
    quantiles = binned_error_quantiles(errors, np.concatenate([clear_index, broken_index]))
    low, high = quantiles.at(np.array([0.95, 0.6]))
    assert high[0] <= 0.001 and high[1] > 0.3
    assert -0.1 < low[0] < 0 and low[1] < -0.3
    assert binned_error_quantiles(np.array([np.nan]), np.array([1.0])) is None
    assert QUANTILES == (0.1, 0.5, 0.9)


# --- the plan's forecast is the backtest's auto -----------------------------------------------


@pytest.mark.parametrize("with_weather", [False, True], ids=["measured only", "with weather"])
def test_the_plan_at_midnight_gets_exactly_what_the_backtests_auto_scored(with_weather):
    series = payerne_series(with_weather)
    test_start = pd.Timestamp("2016-06-15", tz=ZURICH)
    result = backtest.pv_backtest(
        series.measured_kw,
        series.clearsky_kw,
        ZURICH,
        test_start,
        10.0,
        weather_kw=series.weather_kw,
    )
    for day in (pd.Timestamp("2016-06-21", tz=ZURICH), pd.Timestamp("2016-06-28", tz=ZURICH)):
        times = pd.date_range(day, periods=96, freq="15min").tz_convert("UTC")
        history = series.measured_kw[series.measured_kw.index < day]
        before = PVSeries(history, series.clearsky_kw, ZURICH, STEP, series.weather_kw)
        choice = choose_pv_methods(before, day)
        plan = forecast_pv(choice, before, times, times[0])
        auto = result.bands[("auto", "day-ahead")].reindex(times)
        chosen = result.choices[("auto", "day-ahead")].reindex(times).iloc[-1]
        assert plan.methods["day-ahead"] == chosen
        later = times >= day + pd.Timedelta(hours=6)  # 6 h after midnight: the day-ahead band
        pd.testing.assert_frame_equal(
            plan.band[later], auto[later], check_freq=False, atol=1e-9, rtol=1e-9
        )
        if with_weather:
            assert chosen.startswith("weather")


def test_the_plan_moves_with_the_morning_and_stays_narrow_at_dawn():
    series = payerne_series()
    issued = pd.Timestamp("2016-06-24 10:00", tz=ZURICH).tz_convert("UTC")
    midnight = pd.Timestamp("2016-06-24", tz=ZURICH)
    history = series.measured_kw[series.measured_kw.index < issued]
    before = PVSeries(
        series.measured_kw[series.measured_kw.index < midnight], series.clearsky_kw, ZURICH, STEP
    )
    choice = choose_pv_methods(before, midnight)
    now = PVSeries(history, series.clearsky_kw, ZURICH, STEP)
    times = pd.date_range(issued, periods=96, freq="15min")
    plan = forecast_pv(choice, now, times, issued)
    assert set(plan.methods) == {"0-2h", "2-6h", "day-ahead"}
    names = set(candidate_names(False, BANDS[0]))
    assert all(set(m.split("+")) <= names for m in plan.methods.values())
    band = plan.band
    assert (band.p10 <= band.p50 + 1e-9).all() and (band.p50 <= band.p90 + 1e-9).all()
    clear = series.clearsky_kw.reindex(times)
    width = band.p90 - band.p10
    dawn = (clear > 0) & (clear < 0.1 * clear.max())
    assert width[dawn].max() < 0.3 * width.max()
    # An hour ahead, a plan an hour later (one more hour measured) differs from this one.
    later = issued + pd.Timedelta(hours=1)
    now_later = PVSeries(
        series.measured_kw[series.measured_kw.index < later], series.clearsky_kw, ZURICH, STEP
    )
    moved = forecast_pv(choice, now_later, times[4:], later)
    assert not np.allclose(moved.band.p50[:8], plan.band.p50[4:12])
