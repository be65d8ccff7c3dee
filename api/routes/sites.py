"""Sites (energy managers): create, read, replace, delete; tune limits, read their history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from smartcharge.api.deps import CallerDep, ClockDep, DatabaseDep, PlannerDep, SiteDep
from smartcharge.api.errors import field_error
from smartcharge.api.site_document import (
    SiteDocument,
    compose_problem,
    merge,
    plan_start,
    validate_problem,
)
from smartcharge.api.store.sites import (
    SiteExists,
    create_site,
    delete_site,
    limit_history,
    list_sites,
    replace_document,
)
from smartcharge.api.store.tables import SiteRow
from smartcharge.optimizer.problem import (
    NonNegativeSiteA,
    NonNegativeSitePowerKw,
    NonNegativeSlotSeries,
    PositiveSiteA,
)

router = APIRouter(prefix="/v1/sites", tags=["sites"])


class SiteOut(BaseModel):
    id: str
    document: SiteDocument
    created_at: datetime
    updated_at: datetime


class CircuitLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit_kw: NonNegativeSitePowerKw | None = None
    phase_limit_a: NonNegativeSiteA | None = None


class LimitsPatch(BaseModel):
    """Only the limits given change; a circuit's limits are addressed by the circuit's id."""

    model_config = ConfigDict(extra="forbid")
    import_limit_kw: NonNegativeSlotSeries | None = None
    export_limit_kw: NonNegativeSlotSeries | None = None
    phase_limit_a: PositiveSiteA | None = None
    circuits: dict[str, CircuitLimits] = Field(default_factory=dict)
    changed_by: str | None = Field(default=None, max_length=200, description="default: the key")
    reason: str | None = Field(default=None, max_length=500)


class LimitChangeOut(BaseModel):
    changed_at: datetime
    changed_by: str
    field: str
    old: Any
    new: Any
    reason: str | None


def site_out(row: SiteRow) -> SiteOut:
    return SiteOut(
        id=row.site_id,
        document=SiteDocument.model_validate(row.document),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def checked_document(document: SiteDocument, now: datetime) -> dict[str, Any]:
    """The document as stored, after the checks a plan of it at `now` would meet (422
    otherwise)."""
    data = document.model_dump(mode="json", exclude_none=False)
    start = plan_start(now, document.horizon.step_minutes)
    validate_problem(compose_problem(data, [], start))
    return data


@router.post("", status_code=201, summary="Create a site", response_model=SiteOut)
def create(
    document: SiteDocument,
    database: DatabaseDep,
    caller: CallerDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> SiteOut:
    data = checked_document(document, clock.now())
    try:
        row = create_site(database, caller.tenant_id, data, caller.name)
    except SiteExists:
        raise HTTPException(409, f"site {document.site.id!r} exists: PUT replaces it") from None
    planner.request(row.pk)
    return site_out(row)


@router.get("", summary="The caller's sites", response_model=list[SiteOut])
def list_all(database: DatabaseDep, caller: CallerDep) -> list[SiteOut]:
    return [site_out(row) for row in list_sites(database, caller.tenant_id)]


@router.get("/{site_id}", summary="One site", response_model=SiteOut)
def read(site: SiteDep) -> SiteOut:
    return site_out(site)


@router.put("/{site_id}", summary="Replace a site's document", response_model=SiteOut)
def replace(
    site_id: str,
    document: SiteDocument,
    site: SiteDep,
    database: DatabaseDep,
    caller: CallerDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> SiteOut:
    if document.site.id != site_id:
        raise field_error(["site", "id"], f"must be the site's id {site_id!r}")
    row = replace_document(
        database, caller.tenant_id, site_id, checked_document(document, clock.now()), caller.name
    )
    if row is None:
        raise HTTPException(404, f"no site {site_id!r}")
    planner.request(row.pk)
    return site_out(row)


@router.delete("/{site_id}", status_code=204, summary="Delete a site and all it holds")
def remove(site_id: str, site: SiteDep, database: DatabaseDep, caller: CallerDep) -> Response:
    delete_site(database, caller.tenant_id, site_id)
    return Response(status_code=204)


@router.patch(
    "/{site_id}/limits", summary="Tune grid, phase and circuit limits", response_model=SiteOut
)
def patch_limits(
    site_id: str,
    patch: Annotated[LimitsPatch, Body()],
    site: SiteDep,
    database: DatabaseDep,
    caller: CallerDep,
    planner: PlannerDep,
    clock: ClockDep,
) -> SiteOut:
    grid = patch.model_dump(
        include={"import_limit_kw", "export_limit_kw", "phase_limit_a"}, exclude_none=True
    )
    known = {c["id"] for c in site.document["site"].get("circuits", [])}
    for circuit_id in patch.circuits:
        if circuit_id not in known:
            raise field_error(
                ["circuits", circuit_id],
                f"unknown circuit {circuit_id!r} (site has {sorted(known)})",
            )
    circuits = [
        {"id": circuit_id, **limits.model_dump(exclude_none=True)}
        for circuit_id, limits in patch.circuits.items()
    ]
    changes: dict[str, Any] = {"site": {"grid": grid}}
    if circuits:
        changes["site"]["circuits"] = circuits
    document = merge(site.document, changes)
    checked = checked_document(SiteDocument.model_validate(document), clock.now())
    row = replace_document(
        database, caller.tenant_id, site_id, checked, patch.changed_by or caller.name, patch.reason
    )
    if row is None:
        raise HTTPException(404, f"no site {site_id!r}")
    planner.request(row.pk)
    return site_out(row)


@router.get(
    "/{site_id}/limits/history",
    summary="Every limit change: who, when, old → new",
    response_model=list[LimitChangeOut],
)
def history(site: SiteDep, database: DatabaseDep) -> list[LimitChangeOut]:
    return [
        LimitChangeOut(
            changed_at=c.changed_at,
            changed_by=c.changed_by,
            field=c.field,
            old=c.old_value,
            new=c.new_value,
            reason=c.reason,
        )
        for c in limit_history(database, site.pk)
    ]
