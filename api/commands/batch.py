"""`smartcharge batch PROBLEMS... | --manifest FILE [--scheduler tcp://HOST:8786] [--out DIR]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smartcharge.api.cli import fail, missing_extra


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="plan many sites in parallel on a Dask cluster (a local one by default)",
        description="Plan many SPEC problems in parallel; answers are written as they finish.",
    )
    parser.add_argument("problems", nargs="*", type=Path, help="problem JSON files")
    parser.add_argument("--manifest", type=Path, help="a text file with one problem path per line")
    parser.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--workers", type=int, default=2, help="local workers without one")
    parser.add_argument("--out", type=Path, default=Path("answers"), help="folder for answers")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=run)


def problem_paths(args: argparse.Namespace) -> list[Path] | str:
    paths = list(args.problems)
    if args.manifest:
        if not args.manifest.exists():
            return f"{args.manifest}: no such file"
        base = args.manifest.parent
        for line in args.manifest.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                path = Path(line.strip())
                paths.append(path if path.is_absolute() else base / path)
    if not paths:
        return "give problem files or --manifest FILE"
    missing = [p for p in paths if not p.exists()]
    if missing:
        return f"{missing[0]}: no such file"
    return paths


def run(args: argparse.Namespace) -> int:
    missing = missing_extra("distributed", "dask", "smartcharge batch")
    if missing:
        return fail(missing)
    from smartcharge.api.batch import local_client, plan_many, summary

    paths = problem_paths(args)
    if isinstance(paths, str):
        return fail(paths)
    problems = []
    for path in paths:
        try:
            problems.append((path.stem, json.loads(path.read_text())))
        except json.JSONDecodeError as exc:
            return fail(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})")
    if args.scheduler:
        from dask.distributed import Client

        from smartcharge.api.solver_pool import preload_on_workers

        client = Client(args.scheduler)
        preload_on_workers(client)
    else:
        client = local_client(args.workers)
    try:
        results = plan_many(problems, client, args.out, progress=not args.no_progress)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not args.scheduler:
            cluster.close()
    print(summary(results))
    print(f"answers in {args.out}/")
    return 0 if all(r.status not in ("error", "invalid") for r in results) else 1
