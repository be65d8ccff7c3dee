"""`smartcharge optimize problem.json [--out answer.json] [--plot schedule.png] [--verbose]`.

Imports stay inside the handler: registering the command (every `smartcharge` run does) costs
nothing, and planning with given forecasts loads neither pandas nor Pyomo nor the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smartcharge.api.cli import fail
from smartcharge.optimizer.problem import ProblemError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="plan one site: a SPEC problem JSON in, the answer with OCPP payloads out",
        description="Plan one site. Prints the answer JSON, or a summary with --out.",
    )
    parser.add_argument("problem", type=Path, help="problem JSON (SPEC §1)")
    parser.add_argument("--out", type=Path, help="write the answer JSON here")
    parser.add_argument("--plot", type=Path, help="write a PNG of the schedule here")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="write the solver's log to stderr (stdout carries only the answer)",
    )
    parser.set_defaults(handler=run)


def read_json(path: Path) -> dict | str:
    """The JSON object in `path`, or a one-line reason it cannot be read."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return f"{path}: no such file"
    except json.JSONDecodeError as exc:
        return f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if not isinstance(data, dict):
        return f"{path}: a problem is a JSON object, not a {type(data).__name__}"
    return data


def run(args: argparse.Namespace) -> int:
    from smartcharge.api.service import plan

    if args.verbose:
        from smartcharge.optimizer.highs_runs import log_solver_to

        log_solver_to(sys.stderr)

    data = read_json(args.problem)
    if isinstance(data, str):
        return fail(data)
    try:
        _, answer = plan(data)
    except ProblemError as exc:
        first = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return fail(f"{args.problem}: {first}{more}")
    if args.plot:
        from smartcharge.api.plots import plot_schedule

        plot_schedule(answer, args.plot)
    if args.out:
        args.out.write_text(json.dumps(answer, indent=2))
        kpis, solver = answer["kpis"], answer["solver"]
        print(
            f"{answer['status']}: {kpis['energy_delivered_kwh']:.1f} of "
            f"{kpis['energy_requested_kwh']:.1f} kWh, cost {kpis['total_cost']:.2f}, "
            f"peak {kpis['peak_import_kw']:.1f} kW, gap {solver['mip_gap']}, "
            f"{solver['total_s']:.2f} s -> {args.out}"
        )
        for warning in answer["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        json.dump(answer, sys.stdout, indent=2)
        print()
    return 0
