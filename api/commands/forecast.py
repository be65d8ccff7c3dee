"""`smartcharge forecast backtest --kind pv|load --data FILE ...`: rolling-origin backtests."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartcharge.api.cli import fail

# History a method needs before its first scored forecast, besides the calibration days: the
# PV methods start from one day; gradient boosting needs four weeks of load.
PAYERNE = {"latitude": 46.815, "longitude": 6.944, "altitude_m": 491.0}

# `forecasting.providers.PROVIDER_FORMATS`, written out: reading it would load pandas into
# every command (tests/test_cli.py checks the two agree).
WEATHER_FORMATS = ("open-meteo", "solcast")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("forecast", help="forecast tools (backtest)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    backtest = actions.add_parser(
        "backtest",
        help="rolling-origin day-ahead and 1 h-ahead backtest of PV or base-load forecasts",
        description="CSV (plain or .gz) with `time_utc` and either measured irradiance "
        "(ghi[, dni, dhi, temp_air, wind_speed]: PV is simulated for the array given) or "
        "`load_kw`, at any resolution (averaged to --step-minutes).",
    )
    backtest.add_argument("--kind", choices=("pv", "load"), required=True)
    backtest.add_argument("--data", type=Path, required=True)
    backtest.add_argument("--step-minutes", type=int, default=15)
    backtest.add_argument("--timezone", default="Europe/Amsterdam", help="days start here")
    backtest.add_argument(
        "--country", help="ISO code for public holidays (default: the time zone's country)"
    )
    pv = backtest.add_argument_group("PV array (default: 10 kWp at BSRN Payerne)")
    pv.add_argument("--latitude", type=float, default=PAYERNE["latitude"])
    pv.add_argument("--longitude", type=float, default=PAYERNE["longitude"])
    pv.add_argument("--altitude-m", type=float, default=PAYERNE["altitude_m"])
    pv.add_argument("--kwp", type=float, default=10.0)
    pv.add_argument(
        "--tilt-deg",
        type=float,
        default=0.0,
        help="default 0: the plane the station measures, so the simulated actual PV carries "
        "no transposition model",
    )
    pv.add_argument("--azimuth-deg", type=float, default=180.0)
    pv.add_argument(
        "--weather",
        type=Path,
        help="a stored weather forecast to score beside the measured-PV methods: Open-Meteo or "
        "Solcast JSON (recognised), or a table/JSON in the problem document's `weather` shape",
    )
    pv.add_argument(
        "--weather-format",
        choices=WEATHER_FORMATS,
        help="read --weather as this provider's JSON (default: recognised from its keys)",
    )
    backtest.add_argument("--horizon", choices=("day-ahead", "intraday", "both"), default="both")
    backtest.add_argument("--test-days", type=int, help="score only this many days")
    backtest.add_argument("--json", action="store_true", help="one JSON object per line")
    backtest.add_argument("--plot", type=Path, help="PNG of forecast vs actual")
    backtest.set_defaults(handler=run_backtest)


def run_backtest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        actual, extra = _actual_series(args)
    except (ValueError, ValidationError) as exc:
        return fail(f"{args.data}: {_one_line(exc)}")
    except FileNotFoundError:
        return fail(f"{args.data}: no such file")
    return _report(args, actual, extra)


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc).splitlines()[0]


def _read_table(path: Path, step_minutes: int):
    import pandas as pd

    table = pd.read_csv(path)
    if "time_utc" not in table.columns:
        raise ValueError("needs a time_utc column")
    times = pd.to_datetime(table.pop("time_utc"), utc=True, errors="coerce")
    if times.isna().any():
        row = int(times.isna().to_numpy().argmax())
        raise ValueError(f"time_utc of data row {row + 1} is not a time")
    table.index = pd.DatetimeIndex(times)
    table = table.apply(pd.to_numeric, errors="coerce")
    # Duplicated timestamps are averaged; missing values stay missing (never invented).
    table = table.groupby(level=0).mean()
    return table.resample(f"{step_minutes}min").mean()


def _actual_series(args: argparse.Namespace):
    from smartcharge.forecasting.calendar import country_of_timezone
    from smartcharge.forecasting.pv import clearsky_pv_kw, metered_pv_kw
    from smartcharge.optimizer.problem import Location, PVArray

    if args.step_minutes < 1 or 1440 % args.step_minutes:
        raise ValueError("--step-minutes must divide a day (1, 5, 15, 30, 60, …)")
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone: unknown time zone '{args.timezone}'") from None
    if args.country is not None and not re.fullmatch("[A-Z]{2}", args.country):
        raise ValueError(f"--country: '{args.country}' is not an ISO 3166 code such as NL")
    table = _read_table(args.data, args.step_minutes)
    if args.kind == "load":
        if "load_kw" not in table.columns:
            raise ValueError("--kind load needs a load_kw column")
        country = args.country or country_of_timezone(args.timezone)
        return table["load_kw"], {"country": country}
    if "ghi" not in table.columns:
        raise ValueError("--kind pv needs a ghi column")
    location = Location(
        latitude=args.latitude, longitude=args.longitude, altitude_m=args.altitude_m
    )
    array = PVArray(id="array", kwp=args.kwp, tilt_deg=args.tilt_deg, azimuth_deg=args.azimuth_deg)
    actual = metered_pv_kw(table, location, [array], args.step_minutes)
    clear = clearsky_pv_kw(table.index, location, [array], args.step_minutes)
    extra = {"clearsky_kw": clear, "kwp": args.kwp, "weather_kw": None}
    if args.weather is not None:
        extra["weather_kw"] = _weather_pv_kw(args, table.index, location, array)
    return actual, extra


def _weather_pv_kw(args: argparse.Namespace, times, location, array):
    """PV of the array from the --weather forecast at every slot (NaN where it does not
    reach); a ValueError naming the file when it cannot be read or does not overlap."""
    from smartcharge.forecasting.weather import pv_from_weather, read_weather

    try:
        weather = read_weather(args.weather, args.weather_format)
    except ValueError as exc:
        raise ValueError(f"--weather {args.weather}: {_one_line(exc)}") from None
    power = pv_from_weather(weather, times, location, [array], args.step_minutes)
    if power.isna().all():
        raise ValueError(
            f"--weather {args.weather}: covers {weather.index[0]} to {weather.index[-1]}, "
            "none of the measured times"
        )
    return power


def _report(args: argparse.Namespace, actual, extra: dict) -> int:
    import pandas as pd

    from smartcharge.forecasting import backtest

    horizons = backtest.HORIZONS if args.horizon == "both" else (args.horizon,)
    try:
        test_start = backtest.default_test_start(actual, args.timezone, args.kind)
    except ValueError as exc:
        return fail(f"{args.data}: {exc}")
    if args.test_days is not None:
        actual = actual[actual.index < test_start + pd.Timedelta(days=args.test_days)]
    progress = (
        (lambda _: None)
        if args.json
        else (lambda text: print(f"[backtest] {text}", file=sys.stderr))
    )
    step = args.step_minutes
    if args.kind == "pv":
        result = backtest.pv_backtest(
            actual,
            extra["clearsky_kw"],
            args.timezone,
            test_start,
            extra["kwp"],
            step,
            horizons,
            progress,
            extra["weather_kw"],
        )
    else:
        result = backtest.load_backtest(
            actual, args.timezone, test_start, step, extra["country"], horizons, progress
        )
    if args.json:
        for score in result.scores:
            row = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(score).items()}
            print(json.dumps(row))
    else:
        test_end = actual.index[-1].tz_convert(args.timezone).date()
        print(
            f"test {test_start.date()} to {test_end} ({args.timezone}); "
            + ("nMAE over daylight / kWp" if args.kind == "pv" else "nMAE = MAE / mean load")
        )
        print("| method | horizon | MAE kW | nMAE % | RMSE kW | skill % | pinball kW | P10-P90 % |")
        print("|---|---|---|---|---|---|---|---|")
        for s in result.scores:
            print(
                f"| {s.method} | {s.horizon} | {s.mae_kw:.3f} | {s.nmae_pct:.1f} | {s.rmse_kw:.3f} "
                f"| {s.skill_pct:.1f} | {s.pinball_kw:.3f} | {s.coverage_p10_p90_pct:.1f} |"
            )
        for (auto, horizon), names in result.choices.items():
            days = names[names.index >= test_start].groupby(level=0).first()
            shares = days.value_counts(normalize=True)
            chosen = ", ".join(f"{name} {100 * share:.0f} %" for name, share in shares.items())
            print(f"{auto} {horizon} chose (share of test slots): {chosen}")
    if args.plot is not None:
        from smartcharge.api.plots import plot_backtest

        plot_backtest(result, test_start, args.plot)
        if not args.json:
            print(f"plot: {args.plot}", file=sys.stderr)
    return 0
