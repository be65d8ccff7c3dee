"""`smartcharge forecast backtest --kind pv|load --data FILE ...`: rolling-origin backtests."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from api.cli import fail

WARM_UP_DAYS = {"pv": 7, "load": 28}  # history a method needs before its first forecast


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("forecast", help="forecast tools (backtest)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    backtest = actions.add_parser(
        "backtest",
        help="rolling-origin day-ahead and 1 h-ahead backtest of PV or base-load forecasts",
        description="CSV (plain or .gz) with `time_utc` and either measured irradiance "
        "(ghi[, dni, dhi, temp_air]: PV is simulated for the array given) or `load_kw`.",
    )
    backtest.add_argument("--kind", choices=("pv", "load"), required=True)
    backtest.add_argument("--data", type=Path, required=True)
    backtest.add_argument("--latitude", type=float, default=46.815)
    backtest.add_argument("--longitude", type=float, default=6.944)
    backtest.add_argument("--altitude-m", type=float, default=491.0)
    backtest.add_argument("--kwp", type=float, default=10.0)
    backtest.add_argument("--tilt-deg", type=float, default=30.0)
    backtest.add_argument("--azimuth-deg", type=float, default=180.0)
    backtest.add_argument("--timezone", default="Europe/Amsterdam")
    backtest.add_argument("--horizon", choices=("day-ahead", "intraday", "both"), default="both")
    backtest.add_argument("--json", action="store_true", help="one JSON object per line")
    backtest.add_argument("--plot", type=Path, help="PNG of forecast vs actual")
    backtest.set_defaults(handler=run_backtest)


def run_backtest(args: argparse.Namespace) -> int:
    import pandas as pd

    from forecasting import backtest
    from forecasting.pv import clearsky_pv_kw, complete_irradiance, pv_power_kw
    from optimizer.problem import Location, PVArray

    if not args.data.exists():
        return fail(f"{args.data}: no such file")
    table = pd.read_csv(args.data)
    if "time_utc" not in table.columns:
        return fail(f"{args.data}: needs a time_utc column")
    index = pd.DatetimeIndex(pd.to_datetime(table.pop("time_utc"), utc=True))
    table.index = index
    table = table[~table.index.duplicated()].sort_index()
    horizons = ("day-ahead", "intraday") if args.horizon == "both" else (args.horizon,)
    progress = (
        (lambda text: None)
        if args.json
        else (lambda text: print(f"[backtest] {text}", file=sys.stderr))
    )

    if args.kind == "pv":
        if "ghi" not in table.columns:
            return fail(f"{args.data}: --kind pv needs a ghi column")
        weather = table.resample("15min").mean()
        location = Location(
            latitude=args.latitude, longitude=args.longitude, altitude_m=args.altitude_m
        )
        array = PVArray(
            id="array", kwp=args.kwp, tilt_deg=args.tilt_deg, azimuth_deg=args.azimuth_deg
        )
        irradiance = complete_irradiance(weather, location)
        actual = pv_power_kw(irradiance, location, [array], weather.get("temp_air", 20.0))
        clear = clearsky_pv_kw(actual.index, location, [array])
        methods = backtest.pv_methods(clear)
        extra = {"normaliser": args.kwp, "daylight": backtest.daylight_mask(clear), "scale": clear}
    else:
        if "load_kw" not in table.columns:
            return fail(f"{args.data}: --kind load needs a load_kw column")
        actual = table["load_kw"].resample("15min").mean()
        methods = backtest.load_methods(args.timezone)
        extra = {"normaliser": float(actual.mean())}
    warm_up = pd.Timedelta(days=WARM_UP_DAYS[args.kind] + backtest.CALIBRATION_DAYS)
    scores = backtest.score_all(
        actual,
        methods,
        args.kind,
        args.timezone,
        actual.index[0] + warm_up,
        horizons=horizons,
        progress=progress,
        **extra,
    )
    if args.json:
        for score in scores:
            print(
                json.dumps(
                    {
                        k: round(v, 3) if isinstance(v, float) else v
                        for k, v in asdict(score).items()
                    }
                )
            )
    else:
        print("| method | horizon | MAE kW | nMAE % | RMSE kW | skill % | pinball kW | P10-P90 % |")
        print("|---|---|---|---|---|---|---|---|")
        for s in scores:
            print(
                f"| {s.method} | {s.horizon} | {s.mae_kw:.3f} | {s.nmae_pct:.1f} | {s.rmse_kw:.3f} "
                f"| {s.skill_pct:.1f} | {s.pinball_kw:.3f} | {s.coverage_p10_p90_pct:.1f} |"
            )
    return 0
