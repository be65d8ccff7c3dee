"""Weather forecasts for a site's PV, from any provider the CPO backend uses: stored by time
(the newest forecast for a time wins), used by every plan and by the forecast endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from smartcharge.api.deps import DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.store.weather import WEATHER_COLUMNS, read_weather_frame, upsert_weather
from smartcharge.optimizer.problem import SupportedTime, Weather

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["weather"])

MAX_WEATHER_TIMES = 20_000  # two weeks of minutes, or two years of hours


class WeatherIn(Weather):
    """SPEC §1 `weather`, as a problem document carries it (the same checks and field paths),
    of at most MAX_WEATHER_TIMES times."""

    time: list[SupportedTime] = Field(min_length=2, max_length=MAX_WEATHER_TIMES)


class WeatherStored(BaseModel):
    stored: int


class WeatherOut(BaseModel):
    """The stored rows in the shape of SPEC §1 `weather`: a column appears when any row has a
    value in it, null where a row has none (rows from forecasts with other columns)."""

    time: list[datetime]
    ghi_w_m2: list[float | None] | None = None
    dni_w_m2: list[float | None] | None = None
    dhi_w_m2: list[float | None] | None = None
    temp_air_c: list[float | None] | None = None
    wind_speed_m_s: list[float | None] | None = None
    cloud_cover_pct: list[float | None] | None = None


@router.post("/weather", summary="Store a weather forecast", response_model=WeatherStored)
def post_weather(
    body: WeatherIn, site: SiteDep, database: DatabaseDep, planner: PlannerDep
) -> WeatherStored:
    """GHI (optionally with DNI and DHI) or only the cloud cover, at any resolution. A time
    already stored is replaced as a whole by the newer forecast; the same forecast posted twice
    is stored once. The site re-plans (debounced), since its PV forecast changes."""
    columns = {name: getattr(body, name) for name in WEATHER_COLUMNS}
    rows = [
        {"time_utc": time, **{name: v[i] for name, v in columns.items() if v is not None}}
        for i, time in enumerate(body.time)
    ]
    stored = upsert_weather(database, site.pk, rows)
    planner.request(site.pk)
    return WeatherStored(stored=stored)


@router.get(
    "/weather",
    summary="The stored weather forecast",
    response_model=WeatherOut,
    response_model_exclude_none=True,
)
def get_weather(
    site: SiteDep,
    database: DatabaseDep,
    since: Annotated[AwareDatetime | None, Query(description="from this time (inclusive)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
) -> WeatherOut:
    frame = read_weather_frame(database, site.pk, since=since, until=until)
    frame = frame.dropna(axis="columns", how="all").astype(object)
    frame = frame.where(frame.notna(), None)
    return WeatherOut(
        time=list(frame.index.to_pydatetime()),
        **{name: frame[name].tolist() for name in frame.columns},
    )
