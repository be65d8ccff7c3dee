"""`smartcharge serve [--host 127.0.0.1 --port 8000 --db URL --solver-pool process|dask://HOST:PORT]`."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from smartcharge.api.cli import database_extra, fail, missing_extra


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--db",
        default=os.environ.get("SMARTCHARGE_DATABASE_URL"),
        help="sqlite:///FILE (default sqlite:///smartcharge.db) or postgresql://USER@HOST/DB",
    )
    parser.add_argument(
        "--solver-pool",
        default=os.environ.get("SMARTCHARGE_SOLVER_POOL"),
        help="process (default), thread, or dask://HOST:8786 to solve on a Dask cluster",
    )
    parser.add_argument(
        "--example",
        type=Path,
        help="store this example problem as site of tenant 'demo', print a key and curl lines",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    missing = database_extra(args.db, "smartcharge serve")
    if args.solver_pool and args.solver_pool.startswith("dask://"):
        missing = missing or missing_extra("distributed", "dask", "--solver-pool dask://")
    if missing:
        return fail(missing)
    import uvicorn
    from pydantic import ValidationError

    from smartcharge.api.app import create_app
    from smartcharge.api.settings import Settings

    overrides = {"database_url": args.db, "solver_pool": args.solver_pool}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v})
    except ValidationError as exc:
        return fail(str(exc).splitlines()[-1])
    base = f"http://{args.host}:{args.port}"
    if args.example:
        failed = _seed(settings.database_url, args.example, base)
        if failed is not None:
            return failed
    print(
        f"smartcharge API and console on {base}  (OpenAPI docs: {base}/docs, "
        f"database {settings.database_url})"
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _seed(database_url: str, example: Path, base: str) -> int | None:
    from smartcharge.api.console import MISSING_EXTRA, console_available
    from smartcharge.api.seed import seed_example
    from smartcharge.api.store.database import open_database

    if not example.is_file():
        return fail(f"--example {example}: no such file")
    database = open_database(database_url)
    try:
        seeded = seed_example(database, example)
    finally:
        database.dispose()
    auth = f"-H 'Authorization: Bearer {seeded.key}'"
    print(f"Sample site {seeded.site_id!r} of tenant 'demo' with {seeded.sessions} sessions.")
    print(f"API key (shown once): {seeded.key}")
    if console_available():
        print(f"The console, in a browser (sign in with this key): {base}/")
    else:
        print(MISSING_EXTRA)
    print("Its latest plan (re-planned on every event and every 15 minutes):")
    schedule = f"{base}/v1/sites/{seeded.site_id}/schedule"
    print(f"  curl -s {auth} {schedule} | python3 -m json.tool | head -40")
    print("Plan the example problem statelessly:")
    print(
        f"  curl -s -X POST {base}/v1/optimize {auth} -H 'Content-Type: application/json' "
        f"--data @{example} | python3 -m json.tool | head -40"
    )
    return None
