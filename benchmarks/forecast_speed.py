"""A year of 15-minute base-load history fitted and forecast: how long a plan waits for it.

Side by side in one run, on the 25-household year shipped in `data/load/`:
- each candidate's fit on the whole year and its 24 h forecast;
- `load_quantiles` cold (the site's daily choice: every candidate scored on the last two weeks,
  the winner refitted on everything, the intraday update, the band) and warm (the same day's
  choice remembered, as every later re-plan of that day finds it);
- the PV forecast a plan gets from the 63 days of measured PV a stored site keeps (Colorado,
  30 minutes), without and with a stored weather forecast: cold (the day's choice: every
  candidate at every band backtested on the site's last six weeks) and warm (later plans).

    python -m benchmarks.forecast_speed [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmarks.perturbed_weather import perturbed_forecast
from benchmarks.pv_climates import CLIMATES, measured_irradiance, measured_pv_kw
from smartcharge.forecasting import pv_choice, resolve
from smartcharge.forecasting.methods import LOAD_CANDIDATES, load_forecasters
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


def colorado_pv() -> tuple[pd.Series, pd.DataFrame, object]:
    """63 days of measured PV before 20 June 2017 10:00 (Denver), a weather forecast of the
    whole year (perturbed truth) and the problem of a plan issued then."""
    climate = CLIMATES["colorado"]
    measured = measured_irradiance(climate, 30)
    array = climate.array(30.0)
    actual = measured_pv_kw(measured, climate, array, 30)
    issued = pd.Timestamp("2017-06-20 10:00", tz=climate.timezone)
    history = actual[(actual.index < issued) & (actual.index >= issued - pd.Timedelta(days=63))]
    weather = perturbed_forecast(measured, climate.location, climate.timezone)
    location = climate.location.model_dump()
    site = {
        "id": "colorado",
        "timezone": climate.timezone,
        "location": location,
        "grid": {"import_limit_kw": 50},
        "chargers": [{"id": "c1", "max_current_a": 32}],
        "pv": [array.model_dump()],
    }
    horizon = {"start": issued.isoformat(), "step_minutes": 30, "slots": 48}
    problem = parse_problem({"site": site, "horizon": horizon, "base_load_kw": 0, "pv_kw": None})
    return history, weather, problem


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

    history, weather, problem = colorado_pv()
    for label, given in (("", None), (" and a weather forecast", weather)):

        def plan(given=given) -> object:
            return resolve.resolve_forecasts(problem, pv_history_kw=history, weather=given)

        def first_of_day(plan=plan) -> object:
            pv_choice._daily_choices.clear()
            return plan()

        cold_s, warm_s = seconds(first_of_day, args.repeat), seconds(plan, args.repeat)
        print(f"| PV, 63 days of 30-min history{label}: first plan of the day | {cold_s:.2f} |")
        print(f"| PV, 63 days of 30-min history{label}: later plans that day | {warm_s:.2f} |")


if __name__ == "__main__":
    main()
