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
    parser.add_argument("--version", action="version", version=f"smartcharge {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"smartcharge.api.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def installed_version() -> str:
    """The version of pyproject.toml, as installed (the one place it is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smartcharge")
    except PackageNotFoundError:
        return "0+unknown"


def missing_extra(module: str, extra: str, feature: str) -> str | None:
    """None when `module` imports, else the one line that names the extra to install."""
    try:
        importlib.import_module(module)
    except ImportError:
        return f"{feature} needs the '{extra}' extra: pip install 'smartcharge[{extra}]'"
    return None


def database_extra(url: str | None, feature: str) -> str | None:
    """PostgreSQL URLs need psycopg (the `postgres` extra); SQLite is built in."""
    if url and url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        return missing_extra("psycopg", "postgres", f"{feature} on PostgreSQL")
    return None


def fail(message: str) -> int:
    """Print one line naming what is wrong and return the bad-input exit code."""
    print(f"smartcharge: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
