"""Weather forecasts for a site's PV, from any provider the CPO backend uses: stored by time
(the newest forecast for a time wins), used by every plan and by the forecast endpoint.

A forecast is posted in the problem document's `weather` shape, or as the provider answered:
`?format=open-meteo` (the `/v1/forecast` JSON) or `?format=solcast` (a `forecasts` list); a
provider's period means are stored at the middle of their period (`forecasting.providers`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from smartcharge.api.deps import DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.store.weather import WEATHER_COLUMNS, read_weather_frame, upsert_weather
from smartcharge.forecasting.providers import ProviderFormatError, read_provider
from smartcharge.forecasting.weather import COLUMN_UNITS, to_weather_document
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


WeatherFormat = Literal["native", "open-meteo", "solcast"]


@router.post(
    "/weather",
    summary="Store a weather forecast",
    response_model=WeatherStored,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/WeatherIn"},
                            {"type": "object", "description": "an Open-Meteo or Solcast answer"},
                        ]
                    }
                }
            }
        }
    },
)
def post_weather(
    body: Annotated[dict[str, Any], Body()],
    site: SiteDep,
    database: DatabaseDep,
    planner: PlannerDep,
    format: Annotated[
        WeatherFormat,
        Query(description="the body's shape: SPEC §1 `weather`, or a provider's answer"),
    ] = "native",
) -> WeatherStored:
    """GHI (optionally with DNI and DHI) or only the cloud cover, at any resolution. A time
    already stored is replaced as a whole by the newer forecast; the same forecast posted twice
    is stored once. The site re-plans (debounced), since its PV forecast changes."""
    weather = _native(body) if format == "native" else _from_provider(body, format)
    columns = {name: getattr(weather, name) for name in WEATHER_COLUMNS}
    rows = [
        {"time_utc": time, **{name: v[i] for name, v in columns.items() if v is not None}}
        for i, time in enumerate(weather.time)
    ]
    stored = upsert_weather(database, site.pk, rows)
    planner.request(site.pk)
    return WeatherStored(stored=stored)


def _native(body: dict[str, Any]) -> WeatherIn:
    try:
        return WeatherIn.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def _from_provider(body: dict[str, Any], provider: Literal["open-meteo", "solcast"]) -> WeatherIn:
    """The provider's answer read and checked as SPEC §1 `weather`; a bad value is named by
    its place in the provider's document."""
    try:
        read = read_provider(body, provider)
    except ProviderFormatError as exc:
        raise field_error(exc.loc, exc.message) from None
    try:
        return WeatherIn.model_validate(to_weather_document(read.frame))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = list(error["loc"])
        units_to_ours = {units: name for name, units in COLUMN_UNITS.items()}
        if len(loc) == 2 and units_to_ours.get(loc[0]) in read.sources:
            loc = read.sources[units_to_ours[loc[0]]][loc[1]]
        raise field_error(loc, error["msg"]) from None


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
