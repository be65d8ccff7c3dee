"""`smartcharge prices import FILE --site ID`: a day-ahead price export of the ENTSO-E
Transparency Platform (CSV, either layout: see `api.entsoe`) into a stored site's price feed.

By default through the running service (`--url`, `--key`, or SMARTCHARGE_URL and
SMARTCHARGE_KEY), which re-plans the site at once; with `--db URL --tenant NAME` straight into
the database (set-up, or a service that is down: plans pick the prices up at the next tick).
Wholesale prices per MWh become prices per kWh the site pays: (price / 1000 + markup) × (1 +
VAT); export follows the wholesale price only with `--export-spot`, else the site's document
prices export.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from smartcharge.api.cli import fail

DEFAULT_URL = "http://127.0.0.1:8000"
POINTS_PER_REQUEST = 10_000
EXIT_UNREACHABLE = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prices", help="a stored site's price feed")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    imported = actions.add_parser(
        "import", help="store the prices of an ENTSO-E day-ahead CSV export for a site"
    )
    imported.add_argument("file", type=Path, help="the CSV as the transparency platform exports it")
    imported.add_argument("--site", required=True, help="the stored site's id")
    imported.add_argument(
        "--area", help="the bidding zone (e.g. 'BZN|NL') when the file holds several"
    )
    imported.add_argument(
        "--markup-per-kwh",
        type=float,
        default=0.0,
        help="added to each wholesale price per kWh: supplier margin, grid fee, energy tax",
    )
    imported.add_argument("--vat-pct", type=float, default=0.0, help="VAT on the import price")
    imported.add_argument(
        "--export-spot",
        action="store_true",
        help="export is paid the wholesale price (plus --export-markup-per-kwh)",
    )
    imported.add_argument("--export-markup-per-kwh", type=float, default=0.0)
    imported.add_argument(
        "--url", default=os.environ.get("SMARTCHARGE_URL", DEFAULT_URL), help="the service"
    )
    imported.add_argument(
        "--key", default=os.environ.get("SMARTCHARGE_KEY"), help="an API key of the site's tenant"
    )
    imported.add_argument("--db", help="write to this database instead of through the service")
    imported.add_argument("--tenant", help="with --db: the tenant the site belongs to")
    imported.add_argument(
        "--dry-run", action="store_true", help="read and convert, print, store nothing"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from smartcharge.api.entsoe import EntsoeFormatError, read_day_ahead_csv

    if not args.file.is_file():
        return fail(f"{args.file}: no such file")
    try:
        prices = read_day_ahead_csv(args.file, area=args.area)
    except EntsoeFormatError as exc:
        return fail(f"{args.file}: {exc}")
    if not 0 <= args.vat_pct <= 100:
        return fail(f"--vat-pct {args.vat_pct:g}: must lie within 0 to 100")
    bodies = feed_bodies(prices, args)
    points = sum(len(b["points"]) for b in bodies)
    summary = (
        f"{points} prices ({prices.currency}, {prices.area or 'area not named'}) from "
        f"{prices.start_utc[0].isoformat()} to {prices.end_utc[-1].isoformat()}"
    )
    if args.dry_run:
        print(json.dumps(bodies[0]["points"][:3], indent=1))
        print(f"would store {summary} for site {args.site!r}")
        return 0
    if args.db:
        return _into_database(args, bodies, prices.currency, summary)
    return _through_service(args, bodies, prices.currency, summary)


def feed_bodies(prices: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """`PUT …/prices` bodies: one per run of contiguous intervals (a gap in the file stays a
    gap: the document's tariff applies there), cut into requests of POINTS_PER_REQUEST."""
    import numpy as np

    per_kwh = prices.per_mwh / 1000
    import_per_kwh = np.round((per_kwh + args.markup_per_kwh) * (1 + args.vat_pct / 100), 6)
    export_per_kwh = np.round(per_kwh + args.export_markup_per_kwh, 6)
    starts, ends = prices.start_utc, prices.end_utc
    breaks = [0, *(np.flatnonzero(starts[1:] > ends[:-1]) + 1).tolist(), len(starts)]
    bodies = []
    for first, stop in itertools.pairwise(breaks):
        for chunk in range(first, stop, POINTS_PER_REQUEST):
            last = min(chunk + POINTS_PER_REQUEST, stop)
            points = []
            for i in range(chunk, last):
                point = {"time": starts[i].isoformat(), "import_per_kwh": float(import_per_kwh[i])}
                if args.export_spot:
                    point["export_per_kwh"] = float(export_per_kwh[i])
                points.append(point)
            end = ends[last - 1] if last == stop else starts[last]
            bodies.append({"points": points, "end": end.isoformat()})
    return bodies


def _currency_error(site_currency: str, file_currency: str, site_id: str) -> str | None:
    if site_currency != file_currency:
        return (
            f"the file's prices are in {file_currency}, site {site_id!r} bills in "
            f"{site_currency}: convert the file first"
        )
    return None


def _into_database(
    args: argparse.Namespace, bodies: list[dict], currency: str, summary: str
) -> int:
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, OperationalError

    from smartcharge.api.price_feed import FeedError, PricesIn, check_feed, store_feed
    from smartcharge.api.settings import Settings
    from smartcharge.api.store.database import open_database
    from smartcharge.api.store.keys import tenant_id_by_name
    from smartcharge.api.store.sites import get_site

    if not args.tenant:
        return fail("--tenant: give the site's tenant with --db")
    try:
        database = open_database(args.db)
    except (ArgumentError, OperationalError) as exc:
        return fail(f"--db {args.db}: {str(exc).splitlines()[0]}")
    try:
        tenant_id = tenant_id_by_name(database, args.tenant)
        site = get_site(database, tenant_id, args.site) if tenant_id is not None else None
        if site is None:
            return fail(f"--site {args.site}: tenant {args.tenant!r} has no such site")
        wrong = _currency_error(site.document["tariff"].get("currency", "EUR"), currency, args.site)
        if wrong:
            return fail(f"{args.file}: {wrong}")
        max_price = Settings().max_price_per_kwh
        try:
            # Checked whole before any is stored: a bad file stores nothing.
            feeds = [PricesIn.model_validate(body) for body in bodies]
            for feed in feeds:
                check_feed(feed, max_price)
        except FeedError as exc:
            return fail(f"{args.file}: {exc}")
        except ValidationError as exc:
            return fail(f"{args.file}: {exc.errors()[0]['msg']}")
        for feed in feeds:
            store_feed(database, site.pk, feed, max_price)
    finally:
        database.dispose()
    print(f"stored {summary} for site {args.site!r}; the service re-plans at its next tick")
    return 0


def _through_service(
    args: argparse.Namespace, bodies: list[dict], currency: str, summary: str
) -> int:
    if not args.key:
        return fail("--key: give an API key of the site's tenant (or set SMARTCHARGE_KEY)")
    base = args.url.rstrip("/")
    site_url = f"{base}/v1/sites/{urllib.parse.quote(args.site, safe='')}"
    try:
        status, site = _request("GET", site_url, args.key)
        if status == 200:
            wrong = _currency_error(
                site["document"]["tariff"].get("currency", "EUR"), currency, args.site
            )
            if wrong:
                return fail(f"{args.file}: {wrong}")
        for body in bodies:
            if status != 200:
                break
            status, answer = _request("PUT", f"{site_url}/prices", args.key, body)
    except (urllib.error.URLError, OSError) as exc:
        print(f"smartcharge: error: --url {base}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if status == 200:
        print(f"stored {summary} for site {args.site!r}; the site re-plans")
        return 0
    if status == 401:
        return fail("--key: unknown or revoked API key")
    if status == 404:
        return fail(f"--site {args.site}: no such site for this key")
    if status == 422:
        first = answer["detail"][0] if isinstance(answer.get("detail"), list) else answer
        return fail(f"{args.file}: refused by the service: {_describe(first)}")
    return fail(f"the service answered {status}: {answer}")


def _describe(error: dict[str, Any]) -> str:
    from smartcharge.api.price_feed import format_loc

    return f"{format_loc(error.get('loc', []))}: {error.get('msg', error)}"


def _request(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null") or {}
        except json.JSONDecodeError:
            return exc.code, {}
