"""Tenants and their API keys, each with a role and optionally its own request rate.

A key is 32 random bytes shown once at creation; only its SHA-256 is stored. A fast hash is
enough (no bcrypt) because the key is random, not a password a person chose: there is nothing
to guess, and every request can check its key without a deliberate slowdown.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import ApiKey, Tenant, utc_now

KEY_PREFIX = "sck_"
ROLES = ("read", "ingest", "manage")


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the tenant, which of its keys, and what that key may do."""

    tenant_id: int
    tenant: str
    key_prefix: str
    label: str | None
    role: str = "manage"
    rate_limit_per_s: float | None = None

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.label or self.key_prefix}"


@dataclass(frozen=True)
class KeyInfo:
    tenant: str
    prefix: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    role: str = "manage"
    rate_limit_per_s: float | None = None


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once
    info: KeyInfo


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_key_fields(role: str, rate_limit_per_s: float | None) -> None:
    if role not in ROLES:
        raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if rate_limit_per_s is not None and not 0 < rate_limit_per_s <= 1e6:
        raise ValueError(f"rate-limit: {rate_limit_per_s:g} requests/s is not in (0, 1e6]")


def create_key(
    database: Database,
    tenant: str,
    label: str | None = None,
    role: str = "manage",
    rate_limit_per_s: float | None = None,
) -> str:
    """A new key for `tenant` (created if new); the only time the key itself is seen."""
    return new_key(database, tenant, label, role, rate_limit_per_s).key


def new_key(
    database: Database,
    tenant: str,
    label: str | None = None,
    role: str = "manage",
    rate_limit_per_s: float | None = None,
) -> NewKey:
    check_key_fields(role, rate_limit_per_s)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    for attempt in range(2):
        try:
            with database.transaction() as session:
                row = ApiKey(
                    tenant_id=_tenant_id(session, tenant),
                    key_hash=hash_key(key),
                    prefix=key[:12],
                    label=label,
                    role=role,
                    rate_limit_per_s=rate_limit_per_s,
                    created_at=utc_now(),
                )
                session.add(row)
            break
        except IntegrityError:
            # Another process created the same new tenant at the same moment: it exists now.
            if attempt:
                raise
    info = KeyInfo(tenant, row.prefix, label, row.created_at, None, role, rate_limit_per_s)
    return NewKey(key, info)


def _tenant_id(session: Session, tenant: str) -> int:
    found = session.scalar(select(Tenant.id).where(Tenant.name == tenant))
    if found is not None:
        return found
    row = Tenant(name=tenant)
    session.add(row)
    session.flush()
    return row.id


def list_keys(database: Database, tenant: str | None = None) -> list[KeyInfo]:
    query = select(ApiKey, Tenant).join(Tenant).order_by(Tenant.name, ApiKey.id)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    with database.transaction() as session:
        return [
            KeyInfo(
                t.name, k.prefix, k.label, k.created_at, k.revoked_at, k.role, k.rate_limit_per_s
            )
            for k, t in session.execute(query)
        ]


def revoke_key(database: Database, prefix: str, tenant: str | None = None) -> int:
    """Revoke every live key starting with `prefix` (of `tenant` only, if given); how many
    were revoked."""
    if len(prefix) < 8:
        raise ValueError("key prefix: give at least 8 characters so one key is meant")
    query = select(ApiKey).where(ApiKey.prefix.startswith(prefix[:12]), ApiKey.revoked_at.is_(None))
    if tenant is not None:
        query = query.join(Tenant).where(Tenant.name == tenant)
    with database.transaction() as session:
        keys = session.scalars(query).all()
        for key in keys:
            key.revoked_at = utc_now()
        return len(keys)


def caller_for_key(database: Database, key: str) -> Caller | None:
    query = (
        select(ApiKey, Tenant)
        .join(Tenant)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
    with database.transaction() as session:
        found = session.execute(query).first()
    if found is None:
        return None
    api_key, tenant = found
    return Caller(
        tenant.id,
        tenant.name,
        api_key.prefix,
        api_key.label,
        api_key.role,
        api_key.rate_limit_per_s,
    )


def tenant_id_by_name(database: Database, tenant: str) -> int | None:
    with database.transaction() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == tenant))
