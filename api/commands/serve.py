"""`smartcharge serve [--host 127.0.0.1 --port 8000]`: the HTTP API."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--example", type=Path, help="print a curl line that posts this problem once serving"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    base = f"http://{args.host}:{args.port}"
    print(f"smartcharge API on {base}  (OpenAPI docs: {base}/docs)")
    if args.example:
        print("Plan the sample site:")
        print(
            f"  curl -s -X POST {base}/v1/optimize -H 'Content-Type: application/json' "
            f"--data @{args.example} | python3 -m json.tool | head -40"
        )
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0
