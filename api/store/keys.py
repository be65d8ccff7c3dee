"""Tenants and their API keys.

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

from smartcharge.api.store.database import Database
from smartcharge.api.store.tables import ApiKey, Tenant, utc_now

KEY_PREFIX = "sck_"


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the tenant and which of its keys."""

    tenant_id: int
    tenant: str
    key_prefix: str
    label: str | None

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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(database: Database, tenant: str, label: str | None = None) -> str:
    """A new key for `tenant` (created if new); the only time the key itself is seen."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with database.transaction() as session:
        row = session.scalar(select(Tenant).where(Tenant.name == tenant))
        if row is None:
            row = Tenant(name=tenant)
            session.add(row)
            session.flush()
        session.add(ApiKey(tenant_id=row.id, key_hash=hash_key(key), prefix=key[:12], label=label))
    return key


def list_keys(database: Database, tenant: str | None = None) -> list[KeyInfo]:
    query = select(ApiKey, Tenant).join(Tenant).order_by(Tenant.name, ApiKey.id)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    with database.transaction() as session:
        return [
            KeyInfo(t.name, k.prefix, k.label, k.created_at, k.revoked_at)
            for k, t in session.execute(query)
        ]


def revoke_key(database: Database, prefix: str) -> int:
    """Revoke every live key starting with `prefix`; how many were revoked."""
    if len(prefix) < 8:
        raise ValueError("key prefix: give at least 8 characters so one key is meant")
    with database.transaction() as session:
        keys = session.scalars(
            select(ApiKey).where(ApiKey.prefix.startswith(prefix[:12]), ApiKey.revoked_at.is_(None))
        ).all()
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
    return Caller(tenant.id, tenant.name, api_key.prefix, api_key.label)


def tenant_id_by_name(database: Database, tenant: str) -> int | None:
    with database.transaction() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == tenant))
