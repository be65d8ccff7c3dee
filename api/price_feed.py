"""A price feed as the service takes it (SPEC §5 `PUT …/prices`): the request's shape, the
checks no field validator can make, and how long each point holds. Shared by the route and by
`smartcharge prices import --db`, so a feed is refused or stored the same way by either."""

from __future__ import annotations

import itertools
import statistics
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartcharge.api.store.database import Database
from smartcharge.api.store.prices import upsert_prices
from smartcharge.optimizer.problem import SupportedTime

MAX_PRICE_POINTS = 50_000  # over a year of quarter-hours in one request


class PricePointIn(BaseModel):
    """The price from `time` on, until the next point."""

    model_config = ConfigDict(extra="forbid")
    time: SupportedTime
    import_per_kwh: float = Field(
        allow_inf_nan=False, description="per kWh in the site's currency; may be negative"
    )
    export_per_kwh: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="null: the document's export price applies (the feed prices import only)",
    )


class PricesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[PricePointIn] = Field(
        min_length=1, max_length=MAX_PRICE_POINTS, description="strictly increasing times"
    )
    end: SupportedTime | None = Field(
        default=None,
        description="when the last point stops holding. Default: after the points' usual "
        "spacing (a day-ahead feed's last hour holds one hour, then the document's tariff "
        "applies again); a lone point without `end` holds until a later point arrives, and "
        "one that replaces a stored point keeps that point's end.",
    )


def feed_errors(body: PricesIn, max_price_per_kwh: float) -> list[dict[str, Any]]:
    """Errors FastAPI's validation cannot see: times out of order, prices out of range."""
    errors = []

    def error(loc: list[str | int], msg: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": "value_error"})

    for i, (before, point) in enumerate(itertools.pairwise(body.points), 1):
        if point.time == before.time:
            error(["points", i, "time"], f"duplicates points[{i - 1}].time")
        elif point.time < before.time:
            error(["points", i, "time"], f"is before points[{i - 1}].time: sort the points")
    for i, point in enumerate(body.points):
        for name in ("import_per_kwh", "export_per_kwh"):
            value = getattr(point, name)
            if value is not None and abs(value) > max_price_per_kwh:
                error(
                    ["points", i, name],
                    f"{value} is beyond ±{max_price_per_kwh:g} per kWh: a price per MWh? "
                    "(divide by 1000)",
                )
    if body.end is not None and body.end <= body.points[-1].time:
        error(["end"], "must be after the last point's time")
    return errors


def point_ends(body: PricesIn) -> list[datetime | None]:
    """Each point's end: the next point; the last one's `end`, else the median spacing."""
    times = [p.time for p in body.points]
    if body.end is not None or len(times) == 1:
        last_end = body.end
    else:
        last_end = times[-1] + statistics.median(b - a for a, b in itertools.pairwise(times))
    return [*times[1:], last_end]


class FeedError(ValueError):
    """A feed refused whole; `errors` in FastAPI's 422 shape (loc, msg, type)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{format_loc(e['loc'])}: {e['msg']}" for e in errors))
        self.errors = errors


def format_loc(loc: list[str | int]) -> str:
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def check_feed(body: PricesIn, max_price_per_kwh: float) -> None:
    """Raise FeedError naming every bad field of the feed."""
    errors = feed_errors(body, max_price_per_kwh)
    if errors:
        raise FeedError(errors)


def store_feed(
    database: Database, site_pk: int, body: PricesIn, max_price_per_kwh: float
) -> tuple[int, datetime | None]:
    """Check the feed and upsert it: the number of points stored and when the last one stops
    holding. Raises FeedError (and stores nothing) when any point is bad."""
    check_feed(body, max_price_per_kwh)
    ends = point_ends(body)
    rows = [
        {
            "time_utc": point.time,
            "import_per_kwh": point.import_per_kwh,
            "export_per_kwh": point.export_per_kwh,
            "end_utc": end,
        }
        for point, end in zip(body.points, ends, strict=True)
    ]
    span = (body.points[0].time, ends[-1]) if ends[-1] is not None else None
    return upsert_prices(database, site_pk, rows, replaces=span), ends[-1]
