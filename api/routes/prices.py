"""A site's price feed (SPEC §5): day-ahead auction results or a supplier's dynamic tariff,
upserted by time; every plan reads the prices of its own slots from it."""

from __future__ import annotations

import itertools
import statistics
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartcharge.api.deps import DatabaseDep, PlannerDep, SettingsDep, SiteDep
from smartcharge.api.store.prices import held_prices, upsert_prices
from smartcharge.optimizer.problem import SupportedTime

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["prices"])

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


class PricePointOut(BaseModel):
    time: datetime
    import_per_kwh: float
    export_per_kwh: float | None
    end: datetime | None = Field(
        description="when it stops holding: the next point or its own end (null: open)"
    )


class PricesOut(BaseModel):
    points: list[PricePointOut]


class PricesStored(BaseModel):
    stored: int
    end: datetime | None = Field(description="when the last point given stops holding")


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


@router.put("/prices", summary="Store prices (upsert by time)", response_model=PricesStored)
def put_prices(
    body: PricesIn,
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
    settings: SettingsDep,
) -> PricesStored:
    """Each point holds from its time until the next one. A time already stored is replaced;
    points not given stay as they are. Bad input stores nothing. The site re-plans (debounced),
    since the prices of its slots changed."""
    errors = feed_errors(body, settings.max_price_per_kwh)
    if errors:
        raise HTTPException(422, errors)
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
    stored = upsert_prices(database, site.pk, rows)
    planner.request(site.pk)
    return PricesStored(stored=stored, end=ends[-1])


@router.get("/prices", summary="The stored prices", response_model=PricesOut)
def get_prices(
    site: SiteDep,
    database: DatabaseDep,
    since: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="from this time (the point holding then included)"),
    ] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to", description="before this")] = None,
) -> PricesOut:
    """The points that hold at some time in [from, to), each with the time it stops holding."""
    if since is not None and until is not None and until <= since:
        raise HTTPException(
            422, [{"loc": ["query", "to"], "msg": "must be after from", "type": "value_error"}]
        )
    return PricesOut(
        points=[
            PricePointOut(
                time=p.time,
                import_per_kwh=p.import_per_kwh,
                export_per_kwh=p.export_per_kwh,
                end=p.end,
            )
            for p in held_prices(database, site.pk, since, until)
        ]
    )
