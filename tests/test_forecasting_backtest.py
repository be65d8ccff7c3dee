"""Rolling-origin backtests (local days, no look-ahead, calibrated bands, the daily choice)
and the `smartcharge forecast backtest` command on the real data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from smartcharge.api.cli import main
from smartcharge.forecasting.backtest import (
    calibrated_band,
    local_days,
    rolling_day_ahead,
    select_daily,
)
from smartcharge.forecasting.methods import Forecaster
from smartcharge.forecasting.quantiles import MIN_CALIBRATION_DAYS
from tests.forecasting_data import AMSTERDAM, BSRN_CSV, DATA, household_load


def days_of(index: pd.DatetimeIndex, tz: str) -> pd.Index:
    return index.tz_convert(tz).normalize()


# --- rolling origin --------------------------------------------------------------------


def test_local_days_are_23_24_or_25_hours_long():
    index = pd.date_range("2022-03-26", "2022-03-29", freq="15min", tz=AMSTERDAM, inclusive="left")
    spring = local_days(index.tz_convert("UTC"), AMSTERDAM, index[0])
    assert [(end - start) / pd.Timedelta(hours=1) for start, end in spring] == [24, 23, 24]
    assert all(start.hour == 0 for start, _ in spring)
    index = pd.date_range("2022-10-29", "2022-11-01", freq="15min", tz=AMSTERDAM, inclusive="left")
    autumn = local_days(index.tz_convert("UTC"), AMSTERDAM, index[0])
    assert [(end - start) / pd.Timedelta(hours=1) for start, end in autumn] == [24, 25, 24]


def test_local_days_include_a_last_day_of_25_hours():
    index = pd.date_range("2022-10-30", "2022-10-31", freq="15min", tz=AMSTERDAM, inclusive="left")
    autumn = local_days(index.tz_convert("UTC"), AMSTERDAM, index[0])
    assert [(end - start) / pd.Timedelta(hours=1) for start, end in autumn] == [25]


class Recorder:
    """A forecaster that remembers the latest time of every history it was given."""

    def __init__(self, refit_days: int = 1, min_days: int = 0):
        self.fits: list[pd.Timestamp] = []
        self.predictions: list[tuple[pd.Timestamp, pd.DatetimeIndex]] = []
        self.min_days = min_days
        self.forecaster = Forecaster("recorder", self.fit, self.predict, refit_days)

    def fit(self, history: pd.Series) -> pd.Timestamp:
        if history.index[-1] - history.index[0] < pd.Timedelta(days=self.min_days):
            raise ValueError("too short")
        self.fits.append(history.index.max())
        return history.index.max()

    def predict(self, state, history: pd.Series, times: pd.DatetimeIndex) -> pd.Series:
        self.predictions.append((history.index.max(), times))
        return pd.Series(float(history.iloc[-1]), index=times)


def test_rolling_day_ahead_never_sees_the_day_it_forecasts_or_later():
    """Across the spring DST change, each local day is forecast from what came before its
    midnight only (the 27th has 92 quarter-hours)."""
    actual = household_load("2022-03-20", 12)
    recorder = Recorder()
    start = pd.Timestamp("2022-03-23", tz=AMSTERDAM)
    forecast = rolling_day_ahead(actual, recorder.forecaster, AMSTERDAM, start)
    assert forecast.index.equals(actual.index[actual.index >= start])
    for seen, times in recorder.predictions:
        midnight = times[0].tz_convert(AMSTERDAM).normalize()
        assert times[0] == midnight and days_of(times, AMSTERDAM).nunique() == 1
        assert seen < midnight and seen == midnight - pd.Timedelta(minutes=15)
    assert sorted(len(t) for _, t in recorder.predictions)[0] == 92
    assert all(earlier < later for earlier, later in itertools.pairwise(recorder.fits))


def test_rolling_day_ahead_refits_every_refit_days_and_skips_days_it_cannot_fit():
    actual = household_load("2022-01-01", 12).tz_convert("UTC")
    start = pd.Timestamp("2022-01-02", tz="UTC")
    every_third = Recorder(refit_days=3)
    rolling_day_ahead(actual, every_third.forecaster, "UTC", start)
    assert [t.day for t in every_third.fits] == [1, 4, 7, 10]  # the last slot seen, days 2, 5 …
    needs_history = Recorder(min_days=4)
    forecast = rolling_day_ahead(actual, needs_history.forecaster, "UTC", start)
    # The history starts on 31 December 23:00 UTC: four days of it by 5 January.
    assert forecast.index[0] == pd.Timestamp("2022-01-05", tz="UTC")


def test_a_daily_refit_happens_on_every_local_day_dst_included():
    actual = household_load("2022-03-24", 7)
    recorder = Recorder(refit_days=1)
    rolling_day_ahead(
        actual, recorder.forecaster, AMSTERDAM, pd.Timestamp("2022-03-25", tz=AMSTERDAM)
    )
    assert len(recorder.fits) == len(recorder.predictions) == 6


# --- calibrated bands ------------------------------------------------------------------


def noisy(days: int, tz: str, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    start = pd.Timestamp("2022-06-01", tz=tz)
    index = pd.date_range(start, periods=96 * days, freq="15min").tz_convert("UTC")
    forecast = pd.Series(10.0, index=index)
    return forecast + np.random.default_rng(seed).normal(size=len(index)), forecast


def test_calibrated_band_waits_for_three_days_of_errors_then_covers_80_percent():
    actual, forecast = noisy(30, "UTC")
    band = calibrated_band(actual, forecast, "UTC")
    first = band["p10"].dropna().index[0]
    assert first == forecast.index[0] + pd.Timedelta(days=MIN_CALIBRATION_DAYS)
    assert band["p90"].dropna().index[0] == first
    pd.testing.assert_series_equal(band["p50"], forecast, check_names=False)
    calibrated = band.dropna()
    assert (calibrated.p10 <= calibrated.p50).all() and (calibrated.p50 <= calibrated.p90).all()
    inside = (actual[calibrated.index] >= calibrated.p10) & (
        actual[calibrated.index] <= calibrated.p90
    )
    assert 75 < 100 * inside.mean() < 85
    # Standard normal errors: P10/P90 near ∓1.28.
    assert (calibrated.p90 - calibrated.p50).mean() == pytest.approx(1.28, abs=0.1)


def test_calibrated_band_counts_local_days_of_errors():
    actual, forecast = noisy(8, AMSTERDAM)
    first = calibrated_band(actual, forecast, AMSTERDAM)["p10"].dropna().index[0]
    assert first == pd.Timestamp("2022-06-01", tz=AMSTERDAM) + pd.Timedelta(
        days=MIN_CALIBRATION_DAYS
    )


def test_a_band_relative_to_a_scale_is_never_below_zero():
    actual, forecast = noisy(6, "UTC")
    scale = pd.Series(np.linspace(0, 2, len(forecast)), index=forecast.index)
    band = calibrated_band(actual - 10, forecast - 9.5, "UTC", scale).dropna()
    assert (band >= 0).all().all() and len(band) > 96


# --- the daily choice ------------------------------------------------------------------


def test_select_daily_picks_the_method_with_the_least_error_over_the_days_before():
    """a is 1 kW off for three days, then 10 kW; b is always 3 kW off. On day 4 a's mean
    error of the days before is (3 x 1 + 10) / 4 = 3.25 > 3."""
    index = pd.date_range("2022-06-01", periods=96 * 7, freq="15min", tz="UTC")
    actual = pd.Series(20.0, index=index)
    day = (index - index[0]).days
    forecasts = {"a": actual + np.where(day < 3, 1.0, 10.0), "b": actual + 3.0}
    chosen, names = select_daily(forecasts, actual, "UTC")
    per_day = names.groupby(names.index.normalize()).agg(lambda n: n.unique().tolist())
    assert per_day.tolist() == [["a"]] * 4 + [["b"]] * 3
    picked = np.where(names == "a", forecasts["a"], forecasts["b"])
    np.testing.assert_array_equal(chosen, picked)


# --- the command -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("pv", "pv/bsrn_payerne_2016-06_1min.csv.gz"),
        ("load", "load/households25_15min_2022.csv.gz"),
    ],
)
def test_backtest_cli_prints_one_json_object_per_method_and_horizon(kind, data, capsys):
    path = DATA / data
    command = ["forecast", "backtest", "--kind", kind, "--data", str(path), "--json"]
    assert main([*command, "--test-days", "7"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    keys = {
        "method",
        "horizon",
        "mae_kw",
        "nmae_pct",
        "rmse_kw",
        "skill_pct",
        "pinball_kw",
        "coverage_p10_p90_pct",
    }
    assert rows and all(set(row) == keys for row in rows)
    horizons = {"pv": {"day-ahead", "2-6h", "0-2h"}, "load": {"day-ahead", "intraday"}}[kind]
    assert {row["horizon"] for row in rows} == horizons
    chosen_daily = horizons if kind == "pv" else {"day-ahead"}
    assert {row["horizon"] for row in rows if row["method"] == "auto"} == chosen_daily
    assert all(0 < row["nmae_pct"] < 40 and 50 < row["coverage_p10_p90_pct"] <= 100 for row in rows)
    # Skill is measured against one baseline per horizon, whose own skill is 0.
    baselines = {
        "pv": {"smart_persistence", "csi_persistence"},
        "load": {"yesterday", "persistence"},
    }[kind]
    assert {row["method"] for row in rows if row["skill_pct"] == 0} >= baselines


def test_backtest_cli_test_days_and_plot(tmp_path, capsys):
    plot = tmp_path / "backtest.png"
    command = ["forecast", "backtest", "--kind", "pv", "--data", str(BSRN_CSV)]
    assert main([*command, "--test-days", "3", "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # June 2016 starts on the 1st; 14 days of calibration: the test is 15-17 June.
    assert lines[0].startswith("test 2016-06-15 to 2016-06-17 (Europe/Amsterdam)")
    assert lines[1].startswith("| method | horizon | MAE kW |")
    # 0-2h and 2-6h: persistence, smart persistence and the ensemble with and without the
    # update, auto; day-ahead: smart persistence, the ensemble, auto.
    assert len([line for line in lines[3:] if line.startswith("| ")]) == 6 + 6 + 3
    chose = [line for line in lines if " chose " in line]
    assert [line.split(" chose ")[0] for line in chose] == [
        "auto 0-2h",
        "auto 2-6h",
        "auto day-ahead",
    ]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {plot}" in err


def _short_load(tmp_path):
    times = pd.date_range("2022-01-01", periods=96 * 10, freq="15min", tz="UTC")
    path = tmp_path / "short.csv"
    pd.DataFrame({"time_utc": times.strftime("%Y-%m-%dT%H:%MZ"), "load_kw": 1.0}).to_csv(
        path, index=False
    )
    return path


BAD_INPUTS = {
    "missing file": ("load", lambda tmp: tmp / "nothing.csv", [], "no such file"),
    "no time_utc": ("load", lambda tmp: _text(tmp, "when,load_kw\n1,2\n"), [], "time_utc column"),
    "unparseable time": (
        "load",
        lambda tmp: _text(tmp, "time_utc,load_kw\n2022-01-01T00:00Z,1\nyesterday,2\n"),
        [],
        "time_utc of data row 2 is not a time",
    ),
    "no load_kw": (
        "load",
        lambda tmp: _text(tmp, "time_utc,kw\n2022-01-01T00:00Z,1\n"),
        [],
        "load_kw",
    ),
    "no ghi": (
        "pv",
        lambda tmp: _text(tmp, "time_utc,dni\n2022-01-01T00:00Z,1\n"),
        [],
        "ghi column",
    ),
    "unknown timezone": ("load", _short_load, ["--timezone", "Mars/Olympus"], "unknown time zone"),
    "bad country": ("load", _short_load, ["--country", "nl"], "ISO 3166"),
    "bad step": ("load", _short_load, ["--step-minutes", "7"], "--step-minutes"),
    "too short": ("load", _short_load, [], "too short"),
}


def _text(tmp_path, content: str):
    path = tmp_path / "data.csv"
    path.write_text(content)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_backtest_cli_refuses_bad_input_in_one_line(case, tmp_path, capsys):
    kind, make, extra, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    code = main(["forecast", "backtest", "--kind", kind, "--data", str(path), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartcharge: error: ")
    assert expected in lines[0] and str(path) in lines[0]


@pytest.mark.parametrize(
    "content", ["time_utc,load_kw\n", "time_utc,load_kw\n2022-01-01T00:00Z,\n"]
)
def test_backtest_cli_refuses_a_file_without_measurements(content, tmp_path, capsys):
    path = _text(tmp_path, content)
    assert main(["forecast", "backtest", "--kind", "load", "--data", str(path)]) == 2
    assert "smartcharge: error:" in capsys.readouterr().err


def test_backtest_cli_scores_a_stored_weather_forecast(tmp_path, capsys):
    """A perturbed-truth Open-Meteo forecast of the Payerne month: the weather methods and
    `auto_no_weather` join the rows; with the forecast, `auto` beats it day-ahead."""
    from benchmarks.perturbed_weather import main as write_forecast

    forecast = tmp_path / "payerne.json"
    assert write_forecast(["--climate", "payerne", "--out", str(forecast)]) == 0
    capsys.readouterr()
    command = ["forecast", "backtest", "--kind", "pv", "--data", str(BSRN_CSV), "--json"]
    command += ["--timezone", "Europe/Zurich", "--tilt-deg", "30", "--test-days", "5"]
    assert main([*command, "--weather", str(forecast)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {(r["method"], r["horizon"]): r for r in map(json.loads, lines)}
    assert {("weather", "day-ahead"), ("weather_corrected_updated", "2-6h")} <= set(rows)
    assert ("auto_no_weather", "0-2h") in rows
    assert rows[("auto", "day-ahead")]["mae_kw"] < rows[("auto_no_weather", "day-ahead")]["mae_kw"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"hourly": {"time": ["2016-06-01T00:00"], "cloud_cover": [1]}}', "at least two times"),
        (
            '{"utc_offset_seconds": 0, "hourly": {"time": ["2030-01-01T00:00", "2030-01-01T01:00"],'
            ' "shortwave_radiation": [0, 0]}}',
            "none of the measured times",
        ),
        ("not json", "--weather"),
    ],
    ids=["too short", "elsewhere in time", "not json"],
)
def test_backtest_cli_refuses_a_weather_file_it_cannot_use(content, words, tmp_path, capsys):
    path = tmp_path / "weather.json"
    path.write_text(content)
    command = ["forecast", "backtest", "--kind", "pv", "--data", str(BSRN_CSV)]
    assert main([*command, "--weather", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and str(path) in err[0]
