"""PV forecasts backtested on every shipped climate, resolution and array, side by side.

    python -m benchmarks.pv_climates [--climate NAME ...] [--quick] [--write-weather DIR]

For each climate of `data/pv/` (see its README), each resolution it has and a horizontal and
a 30° equator-facing array (10 kWp), the rolling-origin backtest of `smartcharge forecast
backtest --kind pv` runs twice: on the measured PV alone, and with a perturbed-truth day-ahead
weather forecast (`benchmarks.perturbed_weather`, seeded). Printed: nMAE (% of kWp, daylight)
and P10–P90 coverage of the baselines, the best single method and `auto` (the daily choice a
plan makes) at each band, then the issue-18 targets checked on every row. `--write-weather DIR`
also writes each perturbed forecast as an Open-Meteo response, so that any row can be re-run
with `smartcharge forecast backtest --weather FILE`. Sand Point (Alaska) was kept out of the
development of the methods: it is run last, as a held-out climate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.perturbed_weather import OTHER_DAY_WEIGHT, perturbed_forecast, to_open_meteo
from smartcharge.datasets import PV_STATIONS, irradiance
from smartcharge.forecasting import backtest, metrics
from smartcharge.forecasting.pv import clearsky_pv_kw, metered_pv_kw
from smartcharge.forecasting.weather import pv_from_weather, read_weather
from smartcharge.optimizer.problem import Location, PVArray

KWP = 10.0
TILTED_DEG = 30.0


@dataclass(frozen=True)
class Climate:
    """A shipped station (`smartcharge.datasets.PV_STATIONS`) and the steps it is scored at."""

    name: str
    location: Location
    timezone: str
    steps: tuple[int, ...]
    what: str

    def array(self, tilt_deg: float) -> PVArray:
        equator = 180.0 if self.location.latitude >= 0 else 0.0
        return PVArray(id="roof", kwp=KWP, tilt_deg=tilt_deg, azimuth_deg=equator)


STEPS = {"payerne": (15, 30, 60), "greensboro": (60,), "colorado": (30, 60), "sand_point": (60,)}
CLIMATES = {
    name: Climate(
        name,
        Location(**station.location),
        station.timezone,
        STEPS[name],
        station.what + (" — held out" if name == "sand_point" else ""),
    )
    for name, station in PV_STATIONS.items()
}


def measured_irradiance(climate: Climate, step_minutes: int) -> pd.DataFrame:
    """The climate's irradiance and weather as `step_minutes` means stamped with their start."""
    return irradiance(climate.name, step_minutes)


def measured_pv_kw(
    measured: pd.DataFrame, climate: Climate, array: PVArray, step_minutes: int
) -> pd.Series:
    """The array's AC power under the measured irradiance (the PV a site would meter)."""
    return metered_pv_kw(measured, climate.location, [array], step_minutes)


@dataclass
class Run:
    climate: str
    step_minutes: int
    tilt_deg: float
    result: backtest.BacktestResult
    weather_rrmse_pct: float
    weather_rmae_pct: float
    seconds: float

    def nmae(self, method: str, horizon: str) -> float:
        return next(
            s.nmae_pct for s in self.result.scores if s.method == method and s.horizon == horizon
        )

    def coverage(self, method: str, horizon: str) -> float:
        return next(
            s.coverage_p10_p90_pct
            for s in self.result.scores
            if s.method == method and s.horizon == horizon
        )


def run(
    climate: Climate,
    step_minutes: int,
    tilt_deg: float,
    write_weather: Path | None,
    other_day_weight: float = OTHER_DAY_WEIGHT,
) -> Run:
    began = time.perf_counter()
    measured = measured_irradiance(climate, step_minutes)
    array = climate.array(tilt_deg)
    actual = measured_pv_kw(measured, climate, array, step_minutes)
    clear = clearsky_pv_kw(measured.index, climate.location, [array], step_minutes)
    forecast = perturbed_forecast(
        measured, climate.location, climate.timezone, other_day_weight=other_day_weight
    )
    document = to_open_meteo(forecast, climate.location, climate.timezone)
    if write_weather is not None:
        path = write_weather / f"{climate.name}_{step_minutes}min_tilt{tilt_deg:.0f}.json"
        path.write_text(json.dumps(document, ensure_ascii=False))
    weather = read_weather(document)  # through the Open-Meteo reader, as the CLI would
    weather_kw = pv_from_weather(weather, measured.index, climate.location, [array], step_minutes)
    first_day = actual.dropna().index[0].tz_convert(climate.timezone).normalize()
    test_start = first_day + pd.Timedelta(days=backtest.CALIBRATION_DAYS)
    result = backtest.pv_backtest(
        actual, clear, climate.timezone, test_start, KWP, step_minutes, weather_kw=weather_kw
    )
    rrmse, rmae = _weather_error(measured, forecast, test_start)
    return Run(
        climate.name, step_minutes, tilt_deg, result, rrmse, rmae, time.perf_counter() - began
    )


def _weather_error(
    measured: pd.DataFrame, forecast: pd.DataFrame, test_start: pd.Timestamp
) -> tuple[float, float]:
    """RMSE and MAE of the forecast's hourly GHI, % of the mean measured GHI over daylight."""
    truth = measured["ghi"].resample("1h").mean()
    scored = (truth.index >= test_start) & (truth > 0).to_numpy()
    truth, guess = truth[scored], forecast["ghi"].reindex(truth.index[scored])
    mean = float(truth.mean())
    return (
        100 * metrics.rmse(truth, guess) / mean,
        100 * metrics.mae(truth, guess) / mean,
    )


BASELINES = {"0-2h": "csi_persistence", "2-6h": "csi_persistence", "day-ahead": "smart_persistence"}


def print_runs(runs: list[Run]) -> None:
    print(
        "| climate | step | tilt | band | baseline | best single (no weather) | auto_no_weather "
        "| auto with weather | coverage auto_no_weather / auto % | weather GHI rRMSE / rMAE % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        for band, baseline in BASELINES.items():
            singles = [
                s
                for s in r.result.scores
                if s.horizon == band and not s.method.startswith(("auto", "weather"))
            ]
            best = min(singles, key=lambda s: s.mae_kw)
            print(
                f"| {r.climate} | {r.step_minutes} | {r.tilt_deg:.0f} | {band} "
                f"| {r.nmae(baseline, band):.2f} | {best.method} {best.nmae_pct:.2f} "
                f"| {r.nmae('auto_no_weather', band):.2f} | {r.nmae('auto', band):.2f} "
                f"| {r.coverage('auto_no_weather', band):.1f} / {r.coverage('auto', band):.1f} "
                f"| {r.weather_rrmse_pct:.0f} / {r.weather_rmae_pct:.0f} |"
            )


def print_targets(runs: list[Run]) -> None:
    """The issue-18 targets, row by row (skill = error saved against the baseline)."""

    def skill(r: Run, method: str, band: str) -> float:
        return metrics.skill_pct(r.nmae(method, band), r.nmae(BASELINES[band], band))

    print()
    print(
        "| climate | step | tilt | 1 h skill, no weather | 1 h skill, weather "
        "| day-ahead skill, no weather | day-ahead skill, weather | P10–P90 coverage |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        cover = [r.coverage(a, b) for a in ("auto", "auto_no_weather") for b in BASELINES]
        print(
            f"| {r.climate} | {r.step_minutes} | {r.tilt_deg:.0f} "
            f"| {skill(r, 'auto_no_weather', '0-2h'):+.1f} | {skill(r, 'auto', '0-2h'):+.1f} "
            f"| {skill(r, 'auto_no_weather', 'day-ahead'):+.1f} "
            f"| {skill(r, 'auto', 'day-ahead'):+.1f} | {min(cover):.1f}–{max(cover):.1f} |"
        )
    hour = [skill(r, "auto_no_weather", "0-2h") for r in runs]
    climates_5pct = {r.climate for r, s in zip(runs, hour, strict=True) if s >= 5}
    day = [skill(r, "auto_no_weather", "day-ahead") for r in runs]
    weather = [skill(r, "auto", "day-ahead") for r in runs]
    coverages = [
        r.coverage(auto, band)
        for r in runs
        for auto in ("auto", "auto_no_weather")
        for band in BASELINES
    ]
    print()
    print("| target | worst row | met |")
    print("|---|---|---|")
    print(
        f"| 1 h: auto never worse than csi_persistence | {min(hour):+.1f} % "
        f"| {'yes' if min(hour) >= 0 else 'NO'} |"
    )
    with_weather = {r.climate for r in runs if skill(r, "auto", "0-2h") >= 5}
    better = ", ".join(sorted(climates_5pct)) or "-"
    print(
        f"| 1 h: ≥ 5 % better on ≥ 2 climates | on {len(climates_5pct)}: {better} "
        f"(with weather, on some row of: {', '.join(sorted(with_weather)) or '-'}) "
        f"| {'yes' if len(climates_5pct) >= 2 else 'NO'} |"
    )
    print(
        f"| day-ahead without weather: never worse than smart persistence | {min(day):+.1f} % "
        f"| {'yes' if min(day) >= 0 else 'NO'} |"
    )
    print(
        f"| day-ahead with weather: ≥ 25 % better than smart persistence | {min(weather):+.1f} % "
        f"| {'yes' if min(weather) >= 25 else 'NO'} |"
    )
    print(
        f"| P10–P90 coverage 75–85 % | {min(coverages):.1f} – {max(coverages):.1f} % "
        f"| {'yes' if min(coverages) >= 75 and max(coverages) <= 85 else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--climate", action="append", choices=list(CLIMATES))
    parser.add_argument("--quick", action="store_true", help="the first resolution only")
    parser.add_argument("--tilt", action="append", type=float, help="default: 0 and 30")
    parser.add_argument("--write-weather", type=Path)
    parser.add_argument(
        "--other-day-weight",
        type=float,
        default=OTHER_DAY_WEIGHT,
        help="the size of the weather forecast's errors (see benchmarks.perturbed_weather)",
    )
    args = parser.parse_args(argv)
    if args.write_weather is not None:
        args.write_weather.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in args.climate or list(CLIMATES):
        climate = CLIMATES[name]
        for step in climate.steps[:1] if args.quick else climate.steps:
            for tilt in args.tilt or (0.0, TILTED_DEG):
                r = run(climate, step, tilt, args.write_weather, args.other_day_weight)
                print(
                    f"[pv_climates] {name} {step} min tilt {tilt:.0f}: {r.seconds:.0f} s",
                    file=sys.stderr,
                )
                runs.append(r)
    print_runs(runs)
    print_targets(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
