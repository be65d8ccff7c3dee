"""The calling key itself (`/v1/me`), its tenant's keys, and the tenant's audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartcharge.api.access import allows
from smartcharge.api.deps import CallerDep, DatabaseDep
from smartcharge.api.store.audit import read_audit
from smartcharge.api.store.keys import KeyInfo, list_keys, new_key, revoke_key

router = APIRouter(prefix="/v1", tags=["keys and audit"])


class Me(BaseModel):
    tenant: str
    role: str = Field(description="read, ingest or manage")
    key_prefix: str
    label: str | None
    rate_limit_per_s: float = Field(description="this key's request rate, on average")
    may: dict[str, bool] = Field(
        description="what this key may do: change_sites (sites and limits), ingest "
        "(measurements, weather, sessions), manage_keys"
    )


class KeyOut(BaseModel):
    prefix: str
    label: str | None
    role: str
    rate_limit_per_s: float | None
    created_at: datetime
    revoked_at: datetime | None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["read", "ingest", "manage"]
    label: str | None = Field(default=None, max_length=200)
    rate_limit_per_s: float | None = Field(
        default=None, gt=0, le=1e6, description="default: the server's"
    )


class KeyCreated(KeyOut):
    key: str = Field(description="the key itself: shown this once, only its hash is stored")


class AuditOut(BaseModel):
    at: datetime
    actor: str
    key_prefix: str | None
    role: str | None
    method: str
    path: str
    site_id: str | None
    changes: list[str]


def key_out(info: KeyInfo) -> KeyOut:
    return KeyOut(
        prefix=info.prefix,
        label=info.label,
        role=info.role,
        rate_limit_per_s=info.rate_limit_per_s,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


@router.get("/me", summary="The calling key: tenant, role, prefix", response_model=Me)
def me(caller: CallerDep, request: Request) -> Me:
    return Me(
        tenant=caller.tenant,
        role=caller.role,
        key_prefix=caller.key_prefix,
        label=caller.label,
        rate_limit_per_s=caller.rate_limit_per_s or request.app.state.rate_limiter.rate_per_s,
        may={
            "change_sites": allows(caller.role, "PUT", "/v1/sites/{site_id}"),
            "ingest": allows(caller.role, "POST", "/v1/sites/{site_id}/sessions"),
            "manage_keys": allows(caller.role, "POST", "/v1/keys"),
        },
    )


@router.get("/keys", summary="The tenant's keys (prefixes only)", response_model=list[KeyOut])
def keys(caller: CallerDep, database: DatabaseDep) -> list[KeyOut]:
    return [key_out(k) for k in list_keys(database, caller.tenant)]


@router.post("/keys", status_code=201, summary="A new key of the tenant", response_model=KeyCreated)
def create(body: KeyIn, caller: CallerDep, database: DatabaseDep) -> KeyCreated:
    created = new_key(database, caller.tenant, body.label, body.role, body.rate_limit_per_s)
    return KeyCreated(key=created.key, **key_out(created.info).model_dump())


@router.delete("/keys/{prefix}", status_code=204, summary="Revoke a key of the tenant")
def revoke(prefix: str, caller: CallerDep, database: DatabaseDep) -> Response:
    if len(prefix) < 8:
        raise HTTPException(404, f"no live key {prefix!r}: give at least 8 characters")
    if revoke_key(database, prefix, tenant=caller.tenant) == 0:
        raise HTTPException(404, f"no live key {prefix!r}")
    return Response(status_code=204)


@router.get(
    "/audit",
    summary="Every change made with the tenant's keys, newest first",
    response_model=list[AuditOut],
)
def audit(
    caller: CallerDep,
    database: DatabaseDep,
    since: Annotated[AwareDatetime | None, Query(description="from this time on")] = None,
    site_id: Annotated[str | None, Query(description="changes of this site only")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    return [
        AuditOut(
            at=e.at,
            actor=e.actor,
            key_prefix=e.key_prefix,
            role=e.role,
            method=e.method,
            path=e.path,
            site_id=e.site_id,
            changes=e.changes,
        )
        for e in read_audit(database, caller.tenant_id, since, site_id, limit)
    ]
