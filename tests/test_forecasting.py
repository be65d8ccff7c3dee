"""Forecasting: pvlib chain against a hand computation, time zones and DST, messy history,
and the hook that fills a problem's null base load and PV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.load import clean_history, profile_forecast, seasonal_naive
from forecasting.pv import clearsky_pv_kw, ghi_from_cloud_cover, pv_power_kw, require_aware
from forecasting.resolve import horizon_times, resolve_forecasts
from optimizer.problem import Location, PVArray, parse_problem
from tests.builders import charger, problem, session

PAYERNE = Location(latitude=46.815, longitude=6.944, altitude_m=491)


def test_naive_times_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="naive"):
        require_aware(pd.date_range("2016-06-01", periods=3, freq="h"))
    with pytest.raises(ValueError, match="naive"):
        clean_history(pd.Series([1.0, 2.0], index=pd.date_range("2022-01-01", periods=2, freq="h")))


def test_horizontal_array_at_1000_w_matches_a_hand_computation():
    """Tilt 0: plane irradiance = GHI = 1000 W/m^2. Faiman: Tcell = 25 + 1000 / (25 + 6.84 x 1)
    = 56.41 C; PVWatts: 10 kWp x (1 - 0.004 x 31.41) = 8.744 kW DC; 14 % losses: 7.520 kW."""
    noon = pd.DatetimeIndex([pd.Timestamp("2016-06-21 11:30", tz="UTC")])
    import pvlib

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


def test_clear_sky_pv_is_zero_at_night_scales_with_kwp_and_clips_at_the_inverter():
    times = pd.date_range("2016-06-21 00:00", periods=96, freq="15min", tz="UTC")
    small = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=10)])
    large = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=20)])
    clipped = clearsky_pv_kw(times, PAYERNE, [PVArray(id="a", kwp=20, inverter_kw=9)])
    assert small.iloc[0] == 0 and small.max() > 5
    np.testing.assert_allclose(large, 2 * small, rtol=1e-9)
    assert clipped.max() == pytest.approx(9)


def test_cloud_cover_model_on_scalars_and_series():
    clear = pd.Series([800.0, 800.0, 800.0])
    np.testing.assert_allclose(
        ghi_from_cloud_cover(clear, pd.Series([0, 50, 100])),
        [800, 800 * (1 - 0.75 * 0.5**3.4), 200],
    )


def test_history_duplicates_are_averaged_and_gaps_kept():
    index = pd.DatetimeIndex(["2022-01-01 00:00", "2022-01-01 00:00", "2022-01-01 00:30"], tz="UTC")
    cleaned = clean_history(pd.Series([1.0, 3.0, 5.0], index=index))
    assert cleaned.iloc[0] == 2.0
    assert np.isnan(cleaned.iloc[1])
    assert cleaned.iloc[2] == 5.0


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


def site_with_pv(**fields) -> dict:
    doc = problem([charger("c1")], [session("s1", "c1", 5.0)], slots=96, **fields)
    doc["site"]["location"] = {"latitude": 52.37, "longitude": 4.9, "altitude_m": 2}
    doc["site"]["pv"] = [{"id": "roof", "kwp": 50, "tilt_deg": 15, "azimuth_deg": 180}]
    doc["base_load_kw"] = None
    doc["pv_kw"] = None
    return doc


def household_history(end: pd.Timestamp, days: int = 42) -> pd.Series:
    from pathlib import Path

    path = Path(__file__).parent.parent / "data" / "load" / "households25_15min_2022.csv.gz"
    table = pd.read_csv(path).tail(96 * days)
    index = pd.date_range(end=end - pd.Timedelta("15min"), periods=len(table), freq="15min")
    return pd.Series(table["load_kw"].to_numpy(), index=index)


def test_null_forecasts_without_history_are_zero_load_and_climatological_pv():
    forecasts = resolve_forecasts(parse_problem(site_with_pv()))
    assert (forecasts.base_load_kw == 0).all()
    assert forecasts.pv_kw.max() > 0 and forecasts.pv_kw.min() == 0
    assert any("no base-load history" in w for w in forecasts.warnings)


@pytest.mark.parametrize("risk", ["p50", "p90"])
def test_quantiles_are_ordered_and_risk_picks_the_pessimistic_side(risk):
    doc = site_with_pv(options={"risk": risk})
    parsed = parse_problem(doc)
    history = household_history(horizon_times(parsed)[0])
    forecasts = resolve_forecasts(parsed, load_history_kw=history)
    load, pv = forecasts.quantiles["base_load"], forecasts.quantiles["pv"]
    assert load.attrs["method"] in {"yesterday", "profile", "smoothed_blend"}  # by backtest
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


def test_metrics_on_hand_arrays():
    from forecasting import metrics

    actual = pd.Series([1.0, 2.0, 3.0, 4.0])
    forecast = pd.Series([1.0, 3.0, 2.0, 4.0])
    assert metrics.mae(actual, forecast) == 0.5
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(0.5))
    assert metrics.skill_pct(0.5, 1.0) == 50.0
    # pinball at q=0.9: under-forecast by 1 costs 0.9, over-forecast by 1 costs 0.1
    assert metrics.pinball(pd.Series([2.0, 1.0]), pd.Series([1.0, 2.0]), 0.9) == pytest.approx(0.5)
    band = pd.DataFrame({"p10": [0.0, 2.5, 0, 5], "p50": forecast, "p90": [2.0, 3.0, 4, 6]})
    assert metrics.coverage_pct(actual, band) == 50.0


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("pv", "pv/bsrn_payerne_2016-06_1min.csv.gz"),
        ("load", "load/households25_15min_2022.csv.gz"),
    ],
)
def test_backtest_cli_prints_one_json_object_per_method_and_horizon(kind, data, capsys):
    import json
    from pathlib import Path

    from api.cli import main

    path = Path(__file__).parent.parent / "data" / data
    assert main(["forecast", "backtest", "--kind", kind, "--data", str(path), "--json"]) == 0
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
    assert {row["horizon"] for row in rows} == {"day-ahead", "intraday"}
    assert all(0 < row["nmae_pct"] < 40 and 50 < row["coverage_p10_p90_pct"] <= 100 for row in rows)


def test_backtest_cli_bad_input_is_exit_code_2(tmp_path, capsys):
    from api.cli import main

    path = tmp_path / "x.csv"
    path.write_text("when,load_kw\n1,2\n")
    assert main(["forecast", "backtest", "--kind", "load", "--data", str(path)]) == 2
    assert "time_utc" in capsys.readouterr().err
