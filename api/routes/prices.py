"""A site's price feed (SPEC §5): day-ahead auction results or a supplier's dynamic tariff,
upserted by time; every plan reads the prices of its own slots from it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field

from smartcharge.api.deps import DatabaseDep, PlannerDep, SettingsDep, SiteDep
from smartcharge.api.price_feed import FeedError, PricesIn, store_feed
from smartcharge.api.store.prices import held_prices

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["prices"])


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


@router.put("/prices", summary="Store prices (upsert by time)", response_model=PricesStored)
def put_prices(
    body: PricesIn,
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
    settings: SettingsDep,
) -> PricesStored:
    """Each point holds from its time until the next one. The points replace what was stored
    in the span they cover (from the first point to the end of the last); points outside it
    stay as they are. Bad input stores nothing. The site re-plans (debounced), since the
    prices of its slots changed."""
    try:
        stored, end = store_feed(database, site.pk, body, settings.max_price_per_kwh)
    except FeedError as exc:
        raise HTTPException(422, exc.errors) from None
    planner.request(site.pk)
    return PricesStored(stored=stored, end=end)


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
