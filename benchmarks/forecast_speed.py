"""A year of 15-minute base-load history fitted and forecast: how long a plan waits for it.

Side by side in one run, on the 25-household year shipped in `data/load/`:
- each candidate's fit on the whole year and its 24 h forecast;
- `load_quantiles` cold (the site's daily choice: every candidate scored on the last two weeks,
  the winner refitted on everything, the intraday update, the band) and warm (the same day's
  choice remembered, as every later re-plan of that day finds it);
- the PV forecast of a month of measured history (ensemble, band from a two-week backtest).

    python -m benchmarks.forecast_speed [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from smartcharge.forecasting import resolve
from smartcharge.forecasting.methods import LOAD_CANDIDATES, load_forecasters
from smartcharge.forecasting.pv import complete_irradiance, pv_power_kw
from smartcharge.optimizer.problem import parse_problem

DATA = Path(__file__).resolve().parent.parent / "data"
TIMEZONE = "Europe/Amsterdam"


def seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def household_year() -> pd.Series:
    table = pd.read_csv(DATA / "load/households25_15min_2022.csv.gz")
    return pd.Series(
        table["load_kw"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(table["time_utc"]))
    )


def payerne_pv() -> tuple[pd.Series, dict]:
    weather = pd.read_csv(DATA / "pv/bsrn_payerne_2016-06_1min.csv.gz", index_col="time_utc")
    weather.index = pd.DatetimeIndex(pd.to_datetime(weather.index, utc=True))
    weather = weather.resample("15min").mean().dropna(subset=["ghi"])
    site = {
        "id": "payerne",
        "timezone": "Europe/Zurich",
        "location": {"latitude": 46.815, "longitude": 6.944, "altitude_m": 491},
        "grid": {"import_limit_kw": 50},
        "chargers": [{"id": "c1", "max_current_a": 32}],
        "pv": [{"id": "roof", "kwp": 10, "tilt_deg": 0}],
    }
    problem = parse_problem(
        {
            "site": site,
            "horizon": {"start": "2016-06-30T00:00:00+02:00", "slots": 96},
            "base_load_kw": 0,
            "pv_kw": None,
        }
    )
    location, arrays = problem.site.location, problem.site.pv
    irradiance = complete_irradiance(weather, location, 15)
    measured = pv_power_kw(irradiance, location, arrays, weather["temp_air"], interval_minutes=15)
    return measured[measured.index < pd.Timestamp("2016-06-30", tz="Europe/Zurich")], problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    history = household_year()
    issued_at = history.index[-1] + pd.Timedelta(minutes=15)
    times = pd.date_range(issued_at, periods=96, freq="15min")
    print(f"base-load history: {len(history)} values, {history.index[0]} to {history.index[-1]}")
    print(f"| what | seconds (median of {args.repeat}) |")
    print("|---|---|")
    methods = load_forecasters(TIMEZONE, 15, "NL")
    for name in LOAD_CANDIDATES:
        method = methods[name]
        fit_s = seconds(lambda m=method: m.fit(history), args.repeat)
        state = method.fit(history)
        predict_s = seconds(lambda m=method, s=state: m.predict(s, history, times), args.repeat)
        print(f"| {name}: fit on the year | {fit_s:.2f} |")
        print(f"| {name}: forecast 24 h | {predict_s:.3f} |")

    def cold() -> pd.DataFrame:
        resolve._daily_choices.clear()
        return resolve.load_quantiles(history, times, TIMEZONE, 15, "NL")

    cold_s = seconds(cold, args.repeat)
    warm_s = seconds(lambda: resolve.load_quantiles(history, times, TIMEZONE, 15, "NL"), 10)
    chosen = resolve.load_quantiles(history, times, TIMEZONE, 15, "NL").attrs["method"]
    print(f"| load_quantiles, first plan of the day (chose {chosen}) | {cold_s:.2f} |")
    print(f"| load_quantiles, later plans that day | {warm_s:.3f} |")

    measured, problem = payerne_pv()
    pv_s = seconds(lambda: resolve.resolve_forecasts(problem, pv_history_kw=measured), args.repeat)
    print(f"| PV forecast from {len(measured) // 96} days of measured PV | {pv_s:.2f} |")


if __name__ == "__main__":
    main()
