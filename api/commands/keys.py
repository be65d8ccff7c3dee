"""`smartcharge keys create --tenant NAME [--label L] | list [--tenant NAME] | revoke PREFIX`,
all with `[--db URL]` (default: SMARTCHARGE_DATABASE_URL, else sqlite:///smartcharge.db)."""

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

    try:
        database = open_database(args.db)
    except (ArgumentError, OperationalError) as exc:
        return fail(f"--db {args.db}: {str(exc).splitlines()[0]}")
    try:
        if args.action == "create":
            if not args.tenant.strip():
                return fail("--tenant: must not be empty")
            print(create_key(database, args.tenant.strip(), args.label))
        elif args.action == "list":
            for key in list_keys(database, args.tenant):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                print(f"{key.tenant}\t{key.prefix}…\t{key.label or '-'}\t{state}")
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
