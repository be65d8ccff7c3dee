"""The clear-sky index (weighted quantiles against a brute-force expansion, local days, the
recent-days ensemble) and the intraday update (a known persistence recovered, geometric
decay, nothing from the future)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.forecasting.clearsky_index import (
    CLIMATOLOGICAL_INDEX,
    MAX_INDEX,
    clearsky_index,
    daily_index,
    index_ensemble_quantiles,
    mean_daily_index,
    weighted_quantiles,
)
from smartcharge.forecasting.intraday import (
    DEFAULT_GAIN_1H,
    MIN_PAIRS,
    LatestError,
    hour_ahead,
    latest_error,
    relative_errors,
    update_gain_1h,
    updated,
)
from smartcharge.forecasting.pv import clearsky_pv_kw
from smartcharge.optimizer.problem import PVArray
from tests.forecasting_data import AMSTERDAM, PAYERNE

STEP = pd.Timedelta(minutes=15)
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def quarter_hours(start: str, days: float, tz: str = "UTC") -> pd.DatetimeIndex:
    first = pd.Timestamp(start, tz=tz)
    return pd.date_range(first, periods=round(96 * days), freq="15min").tz_convert("UTC")


# --- the clear-sky index ---------------------------------------------------------------


def test_clearsky_index_is_measured_over_clear_sky_in_daylight_only():
    times = quarter_hours("2016-06-21", 1)
    clear = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=10)], 15)
    measured = 0.5 * clear
    measured.iloc[48] = 3 * clear.iloc[48]  # a cloud-edge spike
    index = clearsky_index(measured, clear)
    daylight = clear > 0.05 * clear.max()
    assert index[~daylight].isna().all()
    np.testing.assert_allclose(index[daylight].drop(times[48]), 0.5)
    assert index.iloc[48] == MAX_INDEX


def test_daily_index_is_taken_over_local_days():
    """A constant clear sky around the clock; measured at 0.2, 0.4 and 0.8 of it on three
    Amsterdam days: in June their midnights are at 22:00 UTC, not 00:00."""
    start = pd.Timestamp("2022-06-10", tz=AMSTERDAM)
    times = pd.date_range(start, start + pd.DateOffset(days=3), freq="15min", inclusive="left")
    clear = pd.Series(2.0, index=times.tz_convert("UTC"))
    share = np.select([times.day == 10, times.day == 11], [0.2, 0.4], default=0.8)
    measured = clear * share
    local = daily_index(measured, clear, AMSTERDAM)
    assert [d.date().isoformat() for d in local.index] == ["2022-06-10", "2022-06-11", "2022-06-12"]
    np.testing.assert_allclose(local, [0.2, 0.4, 0.8])
    in_utc = daily_index(measured, clear, "UTC")
    assert not np.allclose(in_utc.to_numpy()[: len(local)], local.to_numpy())
    assert mean_daily_index(measured, clear, 2, AMSTERDAM) == pytest.approx(0.6)
    assert mean_daily_index(measured, clear, 1, AMSTERDAM) == pytest.approx(0.8)
    empty = measured.iloc[:0]
    assert mean_daily_index(empty, clear, 7, AMSTERDAM) == CLIMATOLOGICAL_INDEX


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-10, 10, allow_nan=False), st.integers(0, 6)), min_size=1, max_size=25
    )
)
def test_weighted_quantiles_equal_those_of_the_values_repeated_by_their_weights(pairs):
    values = np.array([value for value, _ in pairs])
    weights = np.array([weight for _, weight in pairs], dtype=float)
    ours = weighted_quantiles(values, weights, QUANTILES)
    if weights.sum() == 0:
        assert np.isnan(ours).all()
        return
    expanded = np.repeat(values, weights.astype(int))
    np.testing.assert_array_equal(ours, np.quantile(expanded, QUANTILES, method="inverted_cdf"))


def test_weighted_quantiles_skip_unknown_values_and_empty_input_is_nan():
    assert np.isnan(weighted_quantiles(np.array([]), np.array([]), (0.1, 0.5))).all()
    values = np.array([1.0, np.nan, 3.0, 100.0])
    weights = np.array([1.0, 5.0, 1.0, np.nan])
    np.testing.assert_array_equal(weighted_quantiles(values, weights, (0.5, 1.0)), [1.0, 3.0])


def test_the_ensemble_weighs_recent_days_more_and_ignores_what_comes_after_it_is_issued():
    """Three overcast days (index 0.3) then two clear ones (1.0): an unweighted median says
    0.3, the two-day half-life says 1.0."""
    times = quarter_hours("2016-06-16", 5)
    clear = clearsky_pv_kw(
        times.append(quarter_hours("2016-06-21", 1)), PAYERNE, [PVArray(id="a", kwp=10)], 15
    )
    index = np.where(times < pd.Timestamp("2016-06-19", tz="UTC"), 0.3, 1.0)
    measured = clear.reindex(times) * index
    issued = pd.Timestamp("2016-06-21", tz="UTC")
    p10, p50, p90 = index_ensemble_quantiles(measured, clear, issued)
    assert p50 == pytest.approx(1.0) and p10 == pytest.approx(0.3) and p90 == pytest.approx(1.0)
    flat = index_ensemble_quantiles(measured, clear, issued, half_life_days=1e6)
    assert flat[1] == pytest.approx(0.3)
    later = pd.concat([measured, 0.0 * clear.reindex(quarter_hours("2016-06-21", 1))])
    np.testing.assert_array_equal(index_ensemble_quantiles(later, clear, issued), [p10, p50, p90])
    nothing = index_ensemble_quantiles(measured, clear, pd.Timestamp("2016-06-16", tz="UTC"))
    assert np.isnan(nothing).all()


# --- the intraday update ---------------------------------------------------------------


def persistent_errors(gain: float, seed: int, days: int = 7) -> pd.Series:
    """e(t) = gain x (mean error of the hour ending an hour before t, that day) + a jump now
    and then (a cloud coming or going): the model update_gain_1h fits, with a known gain."""
    rng = np.random.default_rng(seed)
    jumps = rng.normal(size=(days, 96)) * (rng.random((days, 96)) < 0.2)
    errors = np.zeros((days, 96))
    for slot in range(96):
        before = errors[:, max(0, slot - 7) : slot - 3]
        errors[:, slot] = (gain * before.mean(axis=1) if slot >= 4 else 0.0) + jumps[:, slot]
    return pd.Series(errors.ravel(), index=quarter_hours("2022-06-01", days))


@pytest.mark.parametrize("gain", [0.3, 0.6, 0.9])
def test_update_gain_recovers_a_known_persistence(gain):
    errors = persistent_errors(gain, seed=int(gain * 10))
    assert update_gain_1h(errors, STEP, "UTC") == pytest.approx(gain, abs=0.021)
    weights = pd.Series(np.random.default_rng(1).uniform(0.5, 1.5, len(errors)), errors.index)
    assert update_gain_1h(errors, STEP, "UTC", weights) == pytest.approx(gain, abs=0.021)


def test_update_gain_without_enough_pairs_is_the_default():
    errors = persistent_errors(0.3, seed=0)
    assert update_gain_1h(errors.iloc[: MIN_PAIRS // 2], STEP, "UTC") == DEFAULT_GAIN_1H
    assert update_gain_1h(errors.iloc[:0], STEP, "UTC") == DEFAULT_GAIN_1H


def test_relative_errors_divide_by_a_positive_scale_only():
    times = quarter_hours("2022-06-01", 4 / 96)
    actual = pd.Series([2.0, 3.0, 4.0, 5.0], times)
    forecast = pd.Series([1.0, 1.0, 1.0, 1.0], times)
    np.testing.assert_array_equal(relative_errors(actual, forecast), [1.0, 2.0, 3.0, 4.0])
    scale = pd.Series([2.0, 0.0, -1.0, 4.0], times)
    expected = [0.5, np.nan, np.nan, 1.0]
    np.testing.assert_array_equal(relative_errors(actual, forecast, scale), expected)


def test_latest_error_is_the_mean_of_the_last_measured_hour_of_the_day():
    times = quarter_hours("2022-06-01", 2, AMSTERDAM)
    errors = pd.Series(np.arange(192.0), times)
    errors.iloc[40:96] = np.nan  # nothing measured after 10:00 on the first day
    issued = times[48]
    latest = latest_error(errors, issued, STEP, AMSTERDAM)
    assert latest.value == pytest.approx(np.mean([36, 37, 38, 39]))
    assert latest.at == times[39] + STEP / 2
    # A slot counts once it has ended: at 09:50 the 09:45 slot is not measured yet.
    early = latest_error(errors, times[39] + pd.Timedelta(minutes=5), STEP, AMSTERDAM)
    assert early.value == pytest.approx(np.mean([35, 36, 37, 38]))
    assert latest_error(errors, times[0], STEP, AMSTERDAM) == LatestError(0.0, times[0])
    # Only the errors since the local midnight count: at 00:10, yesterday's say nothing.
    just_after_midnight = times[96] + pd.Timedelta(minutes=10)
    assert latest_error(errors.fillna(1.0), just_after_midnight, STEP, AMSTERDAM).value == 0.0
    assert latest_error(errors, times[97], STEP, AMSTERDAM) == LatestError(
        96.0, times[96] + STEP / 2
    )


def test_updated_shift_decays_as_the_gain_to_the_power_of_the_hours_after_the_error():
    times = quarter_hours("2022-06-01", 0.5)
    forecast = pd.Series(10.0, index=times)
    at = times[0] - STEP / 2  # the midpoint of the slot just before the forecast
    moved = updated(forecast, LatestError(3.0, at), 0.6, STEP)
    lead_hours = ((times + STEP / 2) - at).total_seconds() / 3600
    np.testing.assert_allclose(moved - forecast, 3.0 * 0.6**lead_hours)
    assert (np.diff(moved.to_numpy()) < 0).all()
    assert moved.iloc[3] - 10 == pytest.approx(3.0 * 0.6)  # one hour on: the gain itself
    pd.testing.assert_series_equal(updated(forecast, LatestError(0.0, at), 0.6, STEP), forecast)
    scale = pd.Series(np.linspace(0, 2, len(times)), index=times)
    scaled = updated(forecast, LatestError(3.0, at), 0.6, STEP, scale)
    np.testing.assert_allclose(scaled - forecast, 3.0 * 0.6**lead_hours * scale)


def test_hour_ahead_moves_each_slot_by_the_gain_times_the_hour_before_the_last_hour():
    times = quarter_hours("2022-06-01", 1)
    rng = np.random.default_rng(3)
    day_ahead = pd.Series(rng.uniform(5, 10, 96), times)
    actual = day_ahead + rng.normal(size=96)
    moved = hour_ahead(day_ahead, actual, 0.7, STEP, "UTC")
    errors = actual - day_ahead
    for slot in (10, 50, 95):
        # Errors of the four slots starting 1 h 45 min to 1 h before the slot.
        expected = day_ahead.iloc[slot] + 0.7 * errors.iloc[slot - 7 : slot - 3].mean()
        assert moved.iloc[slot] == pytest.approx(expected)
    assert moved.iloc[5] == pytest.approx(day_ahead.iloc[5] + 0.7 * errors.iloc[:2].mean())
    assert moved.iloc[3] == day_ahead.iloc[3]  # nothing measured that day an hour before


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 95), st.integers(0, 2**32 - 1))
def test_hour_ahead_uses_only_errors_of_the_day_from_an_hour_before_each_slot(slot, seed):
    times = quarter_hours("2022-06-01", 2, AMSTERDAM)
    today = 96 + slot
    rng = np.random.default_rng(seed)
    day_ahead = pd.Series(rng.uniform(5, 10, len(times)), times)
    actual = day_ahead + rng.normal(size=len(times))
    scale = pd.Series(rng.uniform(1, 2, len(times)), times)
    moved = hour_ahead(day_ahead, actual, 0.8, STEP, AMSTERDAM, scale)
    other = actual.copy()
    unused = (times > times[today] - pd.Timedelta(hours=1)) | (times < times[96])
    other[unused] = rng.uniform(-100, 100, unused.sum())
    assert (
        hour_ahead(day_ahead, other, 0.8, STEP, AMSTERDAM, scale).iloc[today] == moved.iloc[today]
    )
    # The slot that starts exactly one hour before does count.
    boundary = actual.copy()
    boundary.iloc[today - 4] += 10.0
    changed = hour_ahead(day_ahead, boundary, 0.8, STEP, AMSTERDAM, scale).iloc[today]
    assert changed != moved.iloc[today]
