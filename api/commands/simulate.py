"""`smartcharge simulate SITE.json SESSIONS.csv --strategy milp,edf,... [--days N]
[--ev-model ideal|taper] [--hide departure,energy,ev_max,phases] [--json]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smartcharge.api.cli import fail
from smartcharge.optimizer.ev_model import EV_MODELS
from smartcharge.optimizer.replay_view import HIDEABLE
from smartcharge.optimizer.session_table import SESSION_COLUMNS, read_sessions


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="replay sessions through time and compare strategies side by side"
    )
    parser.add_argument("site", type=Path, help="a SPEC problem without sessions")
    parser.add_argument("sessions", type=Path, help=f"CSV with {', '.join(SESSION_COLUMNS)}")
    parser.add_argument(
        "--strategy",
        default="milp,edf,llf,equal-share,uncontrolled,offline",
        help="any of milp, milp-naive (the MILP not learning from meter values), edf, llf, "
        "equal-share, uncontrolled, offline (perfect foresight)",
    )
    parser.add_argument(
        "--days",
        type=float,
        help="replay the sessions arriving within this many days, until they leave "
        "(default: the horizon)",
    )
    parser.add_argument(
        "--ev-model",
        choices=EV_MODELS,
        default="ideal",
        help="what the EVs draw: 'ideal' takes the offer up to the EV's maximum; 'taper' also "
        "takes linearly less above 80 %% of its battery (CSV column battery_kwh, default the "
        "need / 0.8)",
    )
    parser.add_argument(
        "--hide",
        default="",
        help=f"what the strategies are not told, comma-separated: {','.join(HIDEABLE)} "
        "(they see estimates and meter values instead; offline knows everything)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per strategy")
    parser.add_argument(
        "--plot", type=Path, help="PNG: grid import per strategy, cost and energy delivered"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from smartcharge.optimizer.problem import ProblemError
    from smartcharge.optimizer.replay import UnknownStrategyError, run_strategies

    try:
        site = json.loads(args.site.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return fail(f"{args.site}: {exc}")
    try:
        sessions = read_sessions(args.sessions)
    except ValueError as exc:
        return fail(str(exc))
    names = [n.strip() for n in args.strategy.split(",") if n.strip()]
    hide = tuple(n.strip() for n in args.hide.split(",") if n.strip())
    unknown = sorted(set(hide) - set(HIDEABLE))
    if unknown:
        return fail(f"--hide: cannot hide {', '.join(unknown)} (only {', '.join(HIDEABLE)})")
    step_minutes = site.get("horizon", {}).get("step_minutes", 15)
    slots = round(args.days * 24 * 60 / step_minutes) if args.days else site["horizon"]["slots"]
    try:
        results = run_strategies(
            site,
            sessions,
            names,
            slots,
            progress=not args.json,
            ev_model=args.ev_model,
            hide=hide,
        )
    except UnknownStrategyError as exc:
        return fail(f"--strategy: {exc}")
    except ProblemError as exc:
        return fail(f"{exc.errors[0]}")
    rows = [result.kpis() for result in results]
    if args.plot:
        from smartcharge.api.plots import plot_replay

        answers = {result.strategy: result.plan().to_answer() for result in results}
        plot_replay(answers, rows, args.plot)
    keys = (
        "strategy",
        "energy_requested_kwh",
        "energy_delivered_kwh",
        "sessions_fully_served_pct",
        "total_cost",
        "cost_per_kwh",
        "peak_import_kw",
        "offered_not_drawn_kwh",
        "violations",
        "replan_median_s",
    )
    if args.json:
        for row in rows:
            print(json.dumps({k: row[k] for k in keys}))
        return 0
    header = (
        "strategy",
        "delivered kWh",
        "% of requested",
        "fully served %",
        "cost",
        "cost/kWh",
        "demand charge",
        "peak kW",
        "PV self-use %",
        "offered, not drawn kWh",
        "violations (worst)",
        "re-plan median s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        cells = (
            r["strategy"],
            f"{r['energy_delivered_kwh']:.1f}",
            f"{r['energy_delivered_pct']:.1f}",
            f"{r['sessions_fully_served_pct']:.1f}",
            f"{r['total_cost']:.2f}",
            f"{r['cost_per_kwh']:.4f}",
            f"{r['demand_charge']:.2f}",
            f"{r['peak_import_kw']:.1f}",
            str(r["pv_self_consumption_pct"]),
            f"{r['offered_not_drawn_kwh']:.1f}",
            f"{r['violations']} ({r['worst_violation']})",
            str(r["replan_median_s"]),
        )
        print("| " + " | ".join(cells) + " |")
    return 0
