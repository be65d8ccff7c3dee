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
