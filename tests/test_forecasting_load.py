"""Base load: aware times and clean history, the local calendar (DST days have 92 or 100
quarter-hours, public holidays are Sundays), the naive methods, the scale-free lag features,
the lag regression against an independent least-squares fit, and gradient boosting on the
real household data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smartcharge.forecasting.calendar import (
    SUNDAY,
    DayMatrix,
    country_of_timezone,
    day_matrix,
    day_types,
    local_day_and_slot,
    slots_per_day,
)
from smartcharge.forecasting.load import profile_forecast, seasonal_naive, smoothed_blend_row
from smartcharge.forecasting.load_boosting import MIN_TRAINING_DAYS as BOOSTING_MIN_DAYS
from smartcharge.forecasting.load_boosting import fit_boosted_load
from smartcharge.forecasting.load_features import (
    LEVEL_DAYS,
    REGRESSION_FEATURES,
    LoadFeatures,
    forecast_day_by_day,
    lag_features,
    smooth_within_days,
)
from smartcharge.forecasting.load_regression import MIN_TRAINING_DAYS, fit_lag_regression
from smartcharge.forecasting.timeseries import clean_history, require_aware
from tests.forecasting_data import AMSTERDAM, household_load


def local_day(day: str, tz: str = AMSTERDAM, step: str = "15min") -> pd.DatetimeIndex:
    """The slot starts of one local calendar day, in UTC."""
    start = pd.Timestamp(day, tz=tz)
    return pd.date_range(
        start, start + pd.DateOffset(days=1), freq=step, inclusive="left"
    ).tz_convert("UTC")


# --- aware times and clean history -----------------------------------------------------


def test_naive_times_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="naive"):
        require_aware(pd.date_range("2016-06-01", periods=3, freq="h"))
    with pytest.raises(ValueError, match="naive"):
        clean_history(pd.Series([1.0, 2.0], index=pd.date_range("2022-01-01", periods=2, freq="h")))


def test_the_refusal_names_the_times_and_how_to_give_them():
    with pytest.raises(ValueError) as refused:
        require_aware(pd.date_range("2016-06-01", periods=3, freq="h"), "meter times")
    message = str(refused.value)
    assert message.startswith("meter times are naive") and "UTC offset" in message
    aware = require_aware([pd.Timestamp("2016-06-01T12:00:00+02:00")])
    assert isinstance(aware, pd.DatetimeIndex) and str(aware.tz) == "UTC+02:00"


def test_history_duplicates_are_averaged_and_gaps_kept():
    index = pd.DatetimeIndex(["2022-01-01 00:00", "2022-01-01 00:00", "2022-01-01 00:30"], tz="UTC")
    cleaned = clean_history(pd.Series([1.0, 3.0, 5.0], index=index))
    assert cleaned.iloc[0] == 2.0
    assert np.isnan(cleaned.iloc[1])
    assert cleaned.iloc[2] == 5.0


def test_clean_history_sorts_and_averages_finer_readings_to_the_step():
    five_minutes = pd.date_range("2022-01-01", periods=9, freq="5min", tz="UTC")
    history = pd.Series(np.arange(9.0), index=five_minutes).iloc[::-1]
    cleaned = clean_history(history)
    assert cleaned.index.equals(pd.date_range("2022-01-01", periods=3, freq="15min", tz="UTC"))
    np.testing.assert_allclose(cleaned, [1.0, 4.0, 7.0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=40),
    st.randoms(use_true_random=False),
)
def test_reordered_and_repeated_readings_clean_to_the_same_history(values, random):
    times = pd.date_range("2022-03-27", periods=len(values), freq="15min", tz=AMSTERDAM)
    history = pd.Series(values, index=times)
    repeated = [random.randrange(len(values)) for _ in range(len(values) // 2)]
    messy = pd.concat([history, history.iloc[repeated]])
    messy = messy.iloc[random.sample(range(len(messy)), len(messy))]
    pd.testing.assert_series_equal(clean_history(messy), clean_history(history))


# --- the local calendar ----------------------------------------------------------------


def test_slots_per_day():
    assert (slots_per_day(15), slots_per_day(60), slots_per_day(7)) == (96, 24, 206)


def test_spring_dst_day_has_92_quarter_hours_and_no_2_oclock():
    times = local_day("2022-03-27")
    assert len(times) == 92
    days, slots = local_day_and_slot(times, AMSTERDAM, 15)
    assert set(days) == {np.datetime64("2022-03-27")}
    assert sorted(slots) == [s for s in range(96) if not 8 <= s < 12]
    matrix = day_matrix(pd.Series(np.arange(92.0), index=times), AMSTERDAM, 15)
    assert matrix.values.shape == (1, 96)
    assert np.isnan(matrix.values[0, 8:12]).all()
    np.testing.assert_array_equal(matrix.values[0, :8], np.arange(8.0))
    np.testing.assert_array_equal(matrix.values[0, 12:], np.arange(8.0, 92.0))


def test_autumn_dst_day_has_100_quarter_hours_and_averages_the_repeated_hour():
    times = local_day("2022-10-30")
    assert len(times) == 100
    days, slots = local_day_and_slot(times, AMSTERDAM, 15)
    assert set(days) == {np.datetime64("2022-10-30")}
    assert np.bincount(slots).tolist() == [1] * 8 + [2] * 4 + [1] * 84
    matrix = day_matrix(pd.Series(np.arange(100.0), index=times), AMSTERDAM, 15)
    # 02:00-02:45 happens at 8..11 (summer time) and again at 12..15 (winter time).
    np.testing.assert_array_equal(matrix.values[0, 8:12], [10.0, 11.0, 12.0, 13.0])
    np.testing.assert_array_equal(matrix.values[0, 12:], np.arange(16.0, 100.0))


def test_day_matrix_at_gives_back_the_series_on_any_day():
    times = local_day("2022-03-26").append(local_day("2022-03-27")).append(local_day("2022-03-28"))
    rng = np.random.default_rng(0)
    series = pd.Series(rng.normal(size=len(times)), index=times)
    matrix = day_matrix(series.iloc[::-1], AMSTERDAM, 15)  # any order
    assert matrix.values.shape == (3, 96)
    assert (
        matrix.days.tolist()
        == np.arange("2022-03-26", "2022-03-29", dtype="datetime64[D]").tolist()
    )
    np.testing.assert_array_equal(matrix.at(times), series.to_numpy())
    autumn = local_day("2022-10-30")
    values = np.arange(100.0)
    round_trip = day_matrix(pd.Series(values, index=autumn), AMSTERDAM, 15).at(autumn)
    expected = values.copy()
    expected[8:12] = expected[12:16] = (values[8:12] + values[12:16]) / 2
    np.testing.assert_array_equal(round_trip, expected)
    outside = local_day("2022-03-29")
    assert np.isnan(matrix.at(outside)).all()


def test_day_matrix_extends_with_unknown_days_and_refuses_empty_or_naive_series():
    matrix = day_matrix(pd.Series(1.0, index=local_day("2022-01-10")), AMSTERDAM, 15)
    longer = matrix.extended_to(np.datetime64("2022-01-12"))
    assert longer.values.shape == (3, 96) and np.isnan(longer.values[1:]).all()
    assert matrix.extended_to(np.datetime64("2022-01-09")) is matrix
    with pytest.raises(ValueError, match="no measured values"):
        day_matrix(pd.Series([np.nan], index=local_day("2022-01-10")[:1]), AMSTERDAM, 15)
    with pytest.raises(ValueError, match="naive"):
        day_matrix(pd.Series([1.0], index=pd.DatetimeIndex(["2022-01-10"])), AMSTERDAM, 15)


def test_country_of_timezone():
    assert country_of_timezone("Europe/Amsterdam") == "NL"
    assert country_of_timezone("Europe/Zurich") == "CH"
    assert country_of_timezone("UTC") is None
    assert country_of_timezone("Etc/GMT-1") is None


def test_public_holidays_are_sundays_where_the_country_is_known():
    days = np.array(["2022-04-26", "2022-04-27", "2022-12-26", "2022-12-27"], dtype="datetime64[D]")
    # Tuesday, King's Day (a Wednesday), Second Day of Christmas (a Monday), Tuesday.
    assert day_types(days, None).tolist() == [1, 2, 0, 1]
    assert day_types(days, "NL").tolist() == [1, SUNDAY, SUNDAY, 1]
    assert day_types(days, "XX").tolist() == [1, 2, 0, 1]  # not known to `holidays`
    assert day_types(days, "DE").tolist() == [1, 2, SUNDAY, 1]  # no King's Day there


# --- naive methods ---------------------------------------------------------------------


def test_profile_follows_local_time_across_a_dst_day():
    """2022-03-27 in Amsterdam has 92 quarter-hours; each still maps to its wall-clock hour."""
    tz = "Europe/Amsterdam"
    history_times = pd.date_range("2022-03-06", "2022-03-27", freq="15min", tz=tz, inclusive="left")
    history = pd.Series(
        history_times.hour.to_numpy(dtype=float), index=history_times.tz_convert("UTC")
    )
    day = pd.date_range("2022-03-27", "2022-03-28", freq="15min", tz=tz, inclusive="left")
    assert len(day) == 92
    forecast = profile_forecast(history, day.tz_convert("UTC"), tz)
    np.testing.assert_allclose(forecast.to_numpy(), day.hour.to_numpy())
    yesterday = seasonal_naive(history, history_times[-4:].tz_convert("UTC") + pd.Timedelta("1D"))
    np.testing.assert_allclose(yesterday.to_numpy(), history.iloc[-4:].to_numpy())


def test_profile_gives_a_public_holiday_the_sunday_profile():
    """Four weeks before Monday 26 December 2022 (a Dutch public holiday) hold no weekday
    holiday: Sundays at 1 kW, every other day at 5 kW."""
    times = pd.date_range("2022-11-28", "2022-12-26", freq="15min", tz=AMSTERDAM, inclusive="left")
    history = pd.Series(np.where(times.day_of_week == 6, 1.0, 5.0), index=times.tz_convert("UTC"))
    two_days = local_day("2022-12-26").append(local_day("2022-12-27"))
    holiday = profile_forecast(history, two_days, AMSTERDAM, country="NL")
    ordinary = profile_forecast(history, two_days, AMSTERDAM, country=None)
    assert (holiday.iloc[:96] == 1.0).all() and (holiday.iloc[96:] == 5.0).all()
    assert (ordinary == 5.0).all()


def test_profile_uses_the_time_of_day_alone_for_a_day_type_not_seen():
    times = pd.date_range("2022-01-03", "2022-01-08", freq="15min", tz="UTC", inclusive="left")
    history = pd.Series(times.day_of_week.to_numpy(dtype=float) + 1, index=times)  # Mon 1 … Fri 5
    saturday = profile_forecast(history, local_day("2022-01-08", "UTC"), "UTC")
    assert (saturday == 3.0).all()  # the median of Monday … Friday
    assert profile_forecast(history.iloc[:0], local_day("2022-01-08", "UTC"), "UTC").isna().all()
    with pytest.raises(ValueError, match="naive"):
        profile_forecast(history.tz_localize(None), local_day("2022-01-08", "UTC"), "UTC")


def test_seasonal_naive_is_the_value_one_lag_earlier_missing_stays_missing():
    history = household_load("2022-01-03", 8)
    tomorrow = history.index[-96:] + pd.Timedelta(days=1)
    np.testing.assert_array_equal(seasonal_naive(history, tomorrow), history.iloc[-96:])
    np.testing.assert_array_equal(
        seasonal_naive(history, tomorrow, "7D"), history.iloc[-96 * 7 : -96 * 6]
    )
    gappy = history.copy()
    gappy.iloc[-20] = np.nan
    gappy = gappy.drop(gappy.index[-10:])
    forecast = seasonal_naive(gappy, tomorrow)
    assert forecast.iloc[-10:].isna().all() and np.isnan(forecast.iloc[-20])
    assert forecast.iloc[:-20].notna().all()


def test_seasonal_naive_averages_duplicated_readings_and_refuses_naive_history():
    times = pd.date_range("2022-01-03", periods=4, freq="15min", tz="UTC")
    history = pd.Series([1.0, 2.0, 3.0, 4.0, 6.0], index=times.append(times[-1:]))
    forecast = seasonal_naive(history, times + pd.Timedelta(days=1))
    np.testing.assert_array_equal(forecast, [1.0, 2.0, 3.0, 5.0])
    with pytest.raises(ValueError, match="naive"):
        seasonal_naive(history.tz_localize(None), times + pd.Timedelta(days=1))


def test_smoothed_blend_is_half_the_week_half_yesterday_with_gaps_from_the_week():
    values = np.zeros((2, 4, 2))
    values[1, :, 0] = [1.0, np.nan, 3.0, 4.0]  # yesterday
    values[1, :, 1] = [2.0, 2.0, 2.0, 6.0]  # week_mean
    features = LoadFeatures(
        days=np.array(["2022-01-01", "2022-01-02"], dtype="datetime64[D]"),
        names=("yesterday", "week_mean"),
        values=values,
        target=np.zeros((2, 4)),
        level_kw=np.ones(2),
    )
    np.testing.assert_allclose(smoothed_blend_row(features, 1), [1.5, 2.0, 2.5, 5.0])


# --- scale-free lag features -----------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 30)),
        elements=st.one_of(st.floats(-1e3, 1e3), st.just(np.nan)),
    ),
    st.integers(1, 12),
)
def test_smoothing_is_a_centred_rolling_mean_within_each_day(values, window):
    reference = (
        pd.DataFrame(values).T.rolling(window, center=True, min_periods=1).mean().T.to_numpy()
    )
    np.testing.assert_allclose(
        smooth_within_days(values, window), reference, rtol=1e-9, atol=1e-9, equal_nan=True
    )


def january_matrix(days: int = 21) -> DayMatrix:
    return day_matrix(household_load("2022-01-01", days), AMSTERDAM, 15)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_features_of_a_day_use_only_the_days_before_it(day, seed):
    matrix = january_matrix()
    rng = np.random.default_rng(seed)
    changed = matrix.values.copy()
    changed[day:] = rng.uniform(0, 100, size=changed[day:].shape)
    changed[day:][rng.random(changed[day:].shape) < 0.1] = np.nan
    before = lag_features(matrix)
    after = lag_features(DayMatrix(matrix.first_day, changed, AMSTERDAM, 15))
    np.testing.assert_array_equal(after.values[: day + 1], before.values[: day + 1])
    np.testing.assert_array_equal(after.level_kw[: day + 1], before.level_kw[: day + 1])
    assert not np.array_equal(after.target[day], before.target[day], equal_nan=True)


def test_level_is_the_mean_of_the_seven_days_before_and_everything_is_a_ratio_to_it():
    history = household_load("2022-01-01", 21)
    features = lag_features(day_matrix(history, AMSTERDAM, 15))
    daily = history.tz_convert(AMSTERDAM).resample("D").mean()
    reference = daily.rolling(LEVEL_DAYS).mean().shift(1).to_numpy()
    np.testing.assert_allclose(features.level_kw[LEVEL_DAYS:], reference[LEVEL_DAYS:], rtol=1e-12)
    assert np.isnan(features.level_kw[0])
    measured = day_matrix(history, AMSTERDAM, 15).values
    np.testing.assert_allclose(
        features.target[LEVEL_DAYS:] * features.level_kw[LEVEL_DAYS:, None],
        measured[LEVEL_DAYS:],
        rtol=1e-12,
    )
    yesterday = features.select(("yesterday",))[10, :, 0] * features.level_kw[10]
    np.testing.assert_allclose(yesterday, smooth_within_days(measured, 8)[9], rtol=1e-12)
    ones = features.select(("one",))
    assert (ones == 1).all()


def test_day_by_day_fills_the_unmeasured_day_before_forecasting_the_next():
    """Ten days at 10 kW; each forecast day is twice its level. Day 1: 20 kW. Day 2's level
    holds day 1's forecast: (6 x 10 + 20) / 7, so day 2 is 2 x 80 / 7 kW."""
    times = pd.date_range("2022-01-01", "2022-01-11", freq="15min", tz="UTC", inclusive="left")
    matrix = day_matrix(pd.Series(10.0, index=times), "UTC", 15)
    seen_yesterday = []

    def twice_the_level(features: LoadFeatures, row: int) -> np.ndarray:
        yesterday = features.select(("yesterday",))[row, :, 0] * features.level_kw[row]
        seen_yesterday.append(yesterday)
        return np.full(96, 2.0)

    horizon = local_day("2022-01-11", "UTC").append(local_day("2022-01-12", "UTC"))
    forecast = forecast_day_by_day(matrix, horizon, twice_the_level)
    np.testing.assert_allclose(forecast.iloc[:96], 20.0)
    np.testing.assert_allclose(forecast.iloc[96:], 2 * 80 / 7)
    np.testing.assert_allclose(seen_yesterday[1], 20.0)  # day 1's forecast, not a gap


# --- the lag regression ----------------------------------------------------------------

TRUE_COEFFICIENTS = np.array([0.45, 0.35, 0.1, 0.05, 0.03, 0.08])  # REGRESSION_FEATURES


def synthetic(features: LoadFeatures, target: np.ndarray) -> LoadFeatures:
    return LoadFeatures(features.days, features.names, features.values, target, features.level_kw)


@pytest.fixture(scope="module")
def winter_features() -> LoadFeatures:
    """The household data's real features over 60 winter days; targets replaced at will."""
    return lag_features(day_matrix(household_load("2022-01-01", 60), AMSTERDAM, 15))


def test_lag_regression_recovers_a_known_linear_model(winter_features):
    x = winter_features.select(REGRESSION_FEATURES)
    exact = synthetic(winter_features, x @ TRUE_COEFFICIENTS)
    model = fit_lag_regression(exact)
    rows = np.isfinite(x).all(axis=(1, 2))
    # The reference: ordinary least squares over the same rows, every slot pooled.
    reference = np.linalg.lstsq(
        x[rows].reshape(-1, x.shape[-1]), (x @ TRUE_COEFFICIENTS)[rows].ravel(), rcond=None
    )[0]
    np.testing.assert_allclose(reference, TRUE_COEFFICIENTS, atol=1e-9)
    np.testing.assert_allclose(model.coefficients, np.tile(reference, (96, 1)), atol=0.01)
    last = len(exact.days) - 1
    np.testing.assert_allclose(model.predict_row(exact, last), exact.target[last], rtol=1e-3)


def test_least_absolute_deviations_ignore_a_few_huge_outliers(winter_features):
    x = winter_features.select(REGRESSION_FEATURES)
    clean = x @ TRUE_COEFFICIENTS
    rows = np.flatnonzero(np.isfinite(x).all(axis=(1, 2)))
    spoiled = clean.copy()
    spoiled[rows[[5, 17, 30, 44]]] += 20.0  # four days at 20 x their level
    model = fit_lag_regression(synthetic(winter_features, spoiled))
    predicted = np.einsum("dsp,sp->ds", x[rows], model.coefficients)
    assert np.abs(predicted - clean[rows]).max() < 0.05
    squares = np.linalg.lstsq(x[rows].reshape(-1, x.shape[-1]), spoiled[rows].ravel(), rcond=None)[
        0
    ]
    assert np.abs(x[rows] @ squares - clean[rows]).max() > 1.0  # least squares is pulled


def test_lag_regression_needs_two_weeks_of_days_and_says_how_many_it_has():
    features = lag_features(day_matrix(household_load("2022-01-01", 10), AMSTERDAM, 15))
    with pytest.raises(ValueError, match=f"needs {MIN_TRAINING_DAYS} days") as refused:
        fit_lag_regression(features)
    has = int(re.search(r"this history has (\d+)", str(refused.value)).group(1))
    assert 0 < has < MIN_TRAINING_DAYS


# --- gradient boosting -----------------------------------------------------------------


def test_gradient_boosting_fits_the_household_data_and_predicts_finite_ratios():
    history = household_load("2022-05-01", 31)
    matrix = day_matrix(history, AMSTERDAM, 15)
    features = lag_features(matrix.extended_to(matrix.days[-1] + np.timedelta64(1, "D")))
    model = fit_boosted_load(features, "NL")
    assert model.country == "NL"
    tomorrow = model.predict_row(features, len(features.days) - 1)
    assert tomorrow.shape == (96,) and np.isfinite(tomorrow).all()
    assert tomorrow.min() > 0.2 and tomorrow.max() < 3.0
    in_sample = np.array([model.predict_row(features, row) for row in range(20, 30)])
    naive = np.nanmean(np.abs(features.target[20:30] - 1.0))  # the flat level itself
    assert np.nanmean(np.abs(features.target[20:30] - in_sample)) < naive


def test_gradient_boosting_refuses_too_short_a_history():
    features = lag_features(day_matrix(household_load("2022-05-01", 20), AMSTERDAM, 15))
    with pytest.raises(ValueError, match=f"needs {BOOSTING_MIN_DAYS} days"):
        fit_boosted_load(features, "NL")
