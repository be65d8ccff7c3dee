"""`smartcharge keys create --tenant NAME [--role read|ingest|manage] [--label L]
[--rate-limit R] | list [--tenant NAME] | revoke PREFIX`, all with `[--db URL]` (default:
SMARTCHARGE_DATABASE_URL, else sqlite:///smartcharge.db)."""

from __future__ import annotations

import argparse
import os

from smartcharge.api.cli import database_extra, fail
from smartcharge.api.store import DEFAULT_URL


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="manage tenants' API keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="print a new key once (only its hash is stored)")
    create.add_argument("--tenant", required=True, help="the CPO the key belongs to")
    create.add_argument("--label", help="what the key is for (shown in list and history)")
    # Checked in `run`, not by argparse `choices`, so a bad value is one line and exit code 2.
    create.add_argument(
        "--role",
        default="manage",
        help="read (GETs, what-if), ingest (and measurements, weather, sessions: a CSMS), "
        "manage (and sites, limits, keys; the default)",
    )
    create.add_argument(
        "--rate-limit",
        help="this key's requests per second on average (default: SMARTCHARGE_RATE_LIMIT_PER_S)",
    )
    listing = actions.add_parser("list", help="keys by tenant (prefixes only)")
    listing.add_argument("--tenant")
    revoke = actions.add_parser("revoke", help="revoke the key(s) starting with PREFIX")
    revoke.add_argument("prefix", help="the key's first characters, as `keys list` shows them")
    for action in (create, listing, revoke):
        action.add_argument("--db", default=os.environ.get("SMARTCHARGE_DATABASE_URL", DEFAULT_URL))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    missing = database_extra(args.db, "smartcharge keys")
    if missing:
        return fail(missing)
    from sqlalchemy.exc import ArgumentError, OperationalError

    from smartcharge.api.store.database import open_database
    from smartcharge.api.store.keys import create_key, list_keys, revoke_key

    if args.action == "create":
        failed = _check_create(args)
        if failed is not None:
            return failed
    try:
        database = open_database(args.db)
    except (ArgumentError, OperationalError) as exc:
        return fail(f"--db {args.db}: {str(exc).splitlines()[0]}")
    try:
        if args.action == "create":
            print(create_key(database, args.tenant.strip(), args.label, args.role, args.rate_limit))
        elif args.action == "list":
            for key in list_keys(database, args.tenant):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                rate = f"{key.rate_limit_per_s:g}/s" if key.rate_limit_per_s else "default rate"
                print(
                    f"{key.tenant}\t{key.prefix}…\t{key.role}\t{key.label or '-'}\t{rate}\t{state}"
                )
        else:
            try:
                revoked = revoke_key(database, args.prefix)
            except ValueError as exc:
                return fail(str(exc))
            if revoked == 0:
                return fail(f"key prefix {args.prefix!r}: no live key starts with it")
            print(f"revoked {revoked} key(s)")
    finally:
        database.dispose()
    return 0


def _check_create(args: argparse.Namespace) -> int | None:
    """One line and exit code 2 for a bad --tenant, --role or --rate-limit; `args.rate_limit`
    becomes a number."""
    from smartcharge.api.store.keys import check_key_fields

    if not args.tenant.strip():
        return fail("--tenant: must not be empty")
    if args.rate_limit is not None:
        try:
            args.rate_limit = float(args.rate_limit)
        except ValueError:
            return fail(f"--rate-limit: {args.rate_limit!r} is not a number")
    try:
        check_key_fields(args.role, args.rate_limit)
    except ValueError as exc:
        return fail(f"--{exc}")
    return None
