"""The latest plan of a stored site (versioned, with an ETag) and OCPP deltas since a version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smartcharge.api.deps import DatabaseDep, SiteDep
from smartcharge.api.ocpp.delta import profile_delta
from smartcharge.api.store.schedules import latest_schedule, profiles_sent, recorded_sent
from smartcharge.api.store.tables import Schedule

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["schedule"])


class Cleared(BaseModel):
    charger_id: str
    charging_profile_purpose: str
    profile_id: int


class ProfilesOut(BaseModel):
    site_id: str
    version: int
    since: int | None
    profiles: list[dict[str, Any]] = Field(
        description="OCPP messages (as in the answer's `ocpp`) whose effect changed since `since`"
    )
    cleared: list[Cleared] = Field(description="profiles of `since` no longer in the plan")
    unchanged: list[str] = Field(description="chargers whose profile stays as it is")


def _latest(database: DatabaseDep, site: SiteDep) -> Schedule:
    schedule = latest_schedule(database, site.pk)
    if schedule is None:
        raise HTTPException(404, f"site {site.site_id!r} has no plan yet: it is being planned")
    return schedule


@router.get(
    "/schedule",
    summary="The latest plan (SPEC answer) with its version",
    responses={304: {"description": "unchanged since the ETag given in If-None-Match"}},
)
def schedule(
    site: SiteDep,
    database: DatabaseDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    latest = _latest(database, site)
    etag = f'"{latest.etag}"'
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    body = {
        "site_id": site.site_id,
        "version": latest.version,
        "planned_at": latest.started_at.isoformat(),
        "horizon": latest.problem["horizon"],
        **latest.answer,
    }
    return JSONResponse(body, headers={"ETag": etag})


@router.get(
    "/profiles",
    summary="OCPP payloads that changed since a version (all without `since`)",
    response_model=ProfilesOut,
)
def profiles(
    site: SiteDep,
    database: DatabaseDep,
    since: Annotated[
        int | None, Query(ge=0, description="the version the CSMS last pushed")
    ] = None,
) -> ProfilesOut:
    latest = _latest(database, site)
    since_sent = None
    if since:
        since_sent = profiles_sent(database, site.pk, since)
        if since_sent is None:
            raise HTTPException(404, f"site {site.site_id!r} has no version {since}")
    latest_sent = recorded_sent(latest)
    delta = profile_delta(since_sent, latest.answer["ocpp"], latest_sent)
    return ProfilesOut(
        site_id=site.site_id,
        version=latest.version,
        since=since,
        profiles=delta.changed,
        cleared=[Cleared(**c) for c in delta.cleared],
        unchanged=delta.unchanged,
    )
