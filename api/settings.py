"""Service settings, read once at start-up from the environment (prefix `SMARTCHARGE_`)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcharge.api.store import DEFAULT_URL

# A billing month's peak is read from the measurements since the 1st: retention never cuts them.
MIN_RETENTION_DAYS = 35


def _default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCHARGE_")

    database_url: str = Field(
        default=DEFAULT_URL, description="SQLAlchemy URL: sqlite:///FILE or postgresql://..."
    )
    solver_pool: str = Field(
        default="process", description="process, thread, or dask://HOST:PORT (a Dask scheduler)"
    )
    solver_workers: int = Field(
        default=max(1, (os.cpu_count() or 2) - 1), ge=1, description="local solver processes"
    )
    max_session_slots: int = Field(
        default=200_000,
        description="Largest problem one request may pose, as sessions x slots (413 above).",
    )
    max_time_limit_s: float = Field(
        default=30.0, gt=0, description="Cap on a request's options.time_limit_s."
    )
    debounce_s: float = Field(
        default=1.0, ge=0, description="A site re-plans once it has been quiet this long."
    )
    max_wait_s: float = Field(
        default=10.0, ge=0, description="... but never later than this after the first event."
    )
    tick_s: float = Field(
        default=900.0, ge=0, description="Every site re-plans at this period (0: no tick)."
    )
    lease_ttl_s: float = Field(
        default=300.0, gt=0, description="A re-plan lease expires after this (a crashed process)."
    )
    lease_retry_s: float = Field(default=0.25, gt=0)
    request_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A request not answered by then gets 503 with Retry-After, whatever it "
        "waits for (a database that does not answer, a solve).",
    )
    db_lock_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a request waits for SQLite's write lock, a PostgreSQL connection "
        "or a free pooled connection before it is answered 503.",
    )
    health_probe_s: float = Field(
        default=1.0, gt=0, description="How often the database is probed for /healthz, /readyz."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Request bodies larger than this are refused with 413 before they are read.",
    )
    rate_limit_per_s: float = Field(
        default=100.0,
        gt=0,
        description="Requests a second each key may make on average (a key's own limit, "
        "`keys create --rate-limit`, wins); past it 429 with Retry-After.",
    )
    rate_limit_burst: float = Field(
        default=1000.0, ge=1, description="Requests a key may make at once before the rate counts."
    )
    solve_retries: int = Field(
        default=2, ge=0, description="Times a solve is retried when its worker process dies."
    )
    solve_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="A solve still running twice its time limit after it started, and at least "
        "this long past the limit, is abandoned: its worker is killed, the fallback answered.",
    )
    instance: str = Field(
        default_factory=_default_instance, description="This process's name in leases and plans"
    )
    retention_days: int = Field(
        default=400,
        ge=0,
        description="Measurements, weather forecasts and prices older than this are pruned at "
        f"each tick (0: keep everything; else at least {MIN_RETENTION_DAYS}, a billing month).",
    )
    retention_batch_rows: int = Field(
        default=5000, ge=1, description="Rows one pruning transaction deletes at most."
    )
    max_price_per_kwh: float = Field(
        default=50.0,
        gt=0,
        description="Prices (per kWh, in the site's currency) beyond ± this are refused as "
        "typos: 12 x the day-ahead coupling's cap of 4 EUR/kWh, room for fees and for "
        "currencies such as SEK or NOK; raise it for a currency of smaller units.",
    )

    @field_validator("retention_days")
    @classmethod
    def _keeps_a_billing_month(cls, days: int) -> int:
        if 0 < days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"must be 0 (keep everything) or at least {MIN_RETENTION_DAYS}: the billing "
                "month's peak is read from the stored measurements"
            )
        return days
