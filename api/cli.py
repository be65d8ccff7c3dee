"""`smartcharge` — the command line: optimize, serve, forecast, simulate, sessions, batch, keys,
prices.

Each command lives in `api/commands/<name>.py` and exposes `register(subparsers)`, which adds its
parser and sets `handler(args) -> int`. Bad input prints one line naming the field and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("optimize", "serve", "forecast", "simulate", "sessions", "batch", "keys", "prices")

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartcharge",
        description="Smart-charging schedules for charging sites: MILP plans, forecasts, OCPP.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"smartcharge.api.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def fail(message: str) -> int:
    """Print one line naming what is wrong and return the bad-input exit code."""
    print(f"smartcharge: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
