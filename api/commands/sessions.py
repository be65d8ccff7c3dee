"""`smartcharge sessions generate --site SITE.json --kind workplace|public|private --days N
--seed S [--out FILE.csv]`: seeded sessions for `smartcharge simulate`, from `data/ev/`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartcharge.api.cli import fail
from smartcharge.api.commands.optimize import read_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sessions", help="charging sessions for replays")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        help="sample sessions for a site's chargers from the ElaadNL distributions in data/ev/",
        description="Write a SESSIONS.csv for `smartcharge simulate`: arrival time, connection "
        "time and energy drawn from the ElaadNL-derived distributions (seeded); a charger never "
        "has two sessions at once.",
    )
    generate.add_argument(
        "--site", type=Path, required=True, help="a SPEC problem (sessions ignored)"
    )
    # Checked in `run`, not by argparse `choices`, so a bad value is one line and exit code 2.
    generate.add_argument("--kind", required=True, help="workplace, public or private")
    generate.add_argument("--days", type=str, required=True, help="days from the horizon start")
    generate.add_argument("--seed", type=str, default="0")
    generate.add_argument(
        "--sessions-per-day", type=str, help="mean arrivals per charger and weekday"
    )
    generate.add_argument("--one-phase-share", type=str, default="0.3", help="share of 1-phase EVs")
    generate.add_argument(
        "--priority-share", type=str, default="0", help="share of sessions with priority 1"
    )
    generate.add_argument("--out", type=Path, help="write the CSV here (default: stdout)")
    generate.set_defaults(handler=run)


def _number(
    name: str, text: str | None, kind: type, low: float, high: float, *, above: bool = False
) -> float | str:
    """`text` as a number in [low, high] (`above`: in (low, high]), or a one-line reason."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        return f"{name}: {text!r} is not {'an integer' if kind is int else 'a number'}"
    if not (low < value if above else low <= value) or value > high:
        return f"{name}: {value:g} is outside {'(' if above else '['}{low:g}, {high:g}]"
    return value


def run(args: argparse.Namespace) -> int:
    from smartcharge.optimizer.problem import ProblemError, parse_problem
    from smartcharge.optimizer.session_table import sessions_csv
    from smartcharge.optimizer.sessions_generator import KINDS, generate_sessions

    if args.kind not in KINDS:
        return fail(f"--kind: {args.kind!r} is not one of {', '.join(KINDS)}")
    checks = {
        "days": _number("--days", args.days, float, 0, 366, above=True),
        "seed": _number("--seed", args.seed, int, 0, 2**63 - 1),
        "one_phase_share": _number("--one-phase-share", args.one_phase_share, float, 0, 1),
        "priority_share": _number("--priority-share", args.priority_share, float, 0, 1),
    }
    if args.sessions_per_day is not None:
        checks["sessions_per_day"] = _number(
            "--sessions-per-day", args.sessions_per_day, float, 0, 96
        )
    for value in checks.values():
        if isinstance(value, str):
            return fail(value)
    doc = read_json(args.site)
    if isinstance(doc, str):
        return fail(doc)
    try:
        site = parse_problem({**doc, "sessions": []})
    except ProblemError as exc:
        return fail(f"{args.site}: {exc.errors[0]}")
    if not site.site.chargers:
        return fail(f"{args.site}: site.chargers: the site has no chargers")
    sessions = generate_sessions(site, args.kind, **checks)

    text = sessions_csv(sessions)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text)
    except OSError as exc:
        return fail(f"{args.out}: {exc.strerror}")
    print(
        f"{len(sessions)} sessions on {len(site.site.chargers)} chargers over {checks['days']:g} "
        f"days -> {args.out}",
        file=sys.stderr,
    )
    return 0
