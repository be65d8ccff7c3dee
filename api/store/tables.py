"""The tables: tenants and their API keys, sites, limit history, measurements, weather forecasts,
price points, grid-operator windows, sessions and their meter values, schedules.

Timestamps are stored as naive UTC (`UtcDateTime`) so SQLite and PostgreSQL compare them the same
way; every value read back is timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store only takes timezone-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What the key may do (`api.access.Role`) and its own request rate (null: the default).
    role: Mapped[str] = mapped_column(String(10), default="manage", server_default="manage")
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float)


class SiteRow(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "site_id", name="uq_sites_tenant_site"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # The re-plan lease: whoever holds it until `lease_until` is the only one planning this site,
    # across every API process sharing the database.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LimitChange(Base):
    __tablename__ = "limit_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("sites.pk", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    changed_by: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(300))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500))


class Measurement(Base):
    __tablename__ = "measurements"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    base_load_kw: Mapped[float | None] = mapped_column(Float)
    pv_kw: Mapped[float | None] = mapped_column(Float)
    import_kw: Mapped[float | None] = mapped_column(Float)
    export_kw: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class BatterySoc(Base):
    """A stationary battery's measured state of charge at a time (SPEC §4 `batteries`, §5
    measurements): the next plan of its site starts from the latest one."""

    __tablename__ = "battery_soc"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    # (site, time, battery): retention and "the latest before" walk the key by time.
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    battery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    soc_kwh: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class WeatherForecast(Base):
    """A site's weather forecast for one time (SPEC §1 `weather`, one row per time): a newer
    forecast for the same time replaces the whole row."""

    __tablename__ = "weather_forecasts"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    ghi_w_m2: Mapped[float | None] = mapped_column(Float)
    dni_w_m2: Mapped[float | None] = mapped_column(Float)
    dhi_w_m2: Mapped[float | None] = mapped_column(Float)
    temp_air_c: Mapped[float | None] = mapped_column(Float)
    wind_speed_m_s: Mapped[float | None] = mapped_column(Float)
    cloud_cover_pct: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class PricePoint(Base):
    """A site's price from `time_utc` on (SPEC §5 `PUT …/prices`): it holds until the next
    point, and at the latest until `end_utc` (null: until the next point, however far)."""

    __tablename__ = "price_points"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    import_per_kwh: Mapped[float] = mapped_column(Float)
    export_per_kwh: Mapped[float | None] = mapped_column(Float)
    end_utc: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class GridLimitWindow(Base):
    """A grid operator's cap on the site's connection in [start_utc, end_utc) (SPEC §5
    `POST …/grid-limits`). Cancelling stamps `cancelled_at`; the row stays as history."""

    __tablename__ = "grid_limit_windows"
    __table_args__ = (Index("ix_grid_limit_windows_site_end", "site_pk", "end_utc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("sites.pk", ondelete="CASCADE"))
    start_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    end_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    import_limit_kw: Mapped[float | None] = mapped_column(Float)
    export_limit_kw: Mapped[float | None] = mapped_column(Float)
    phase_limit_a: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    created_by: Mapped[str] = mapped_column(String(200))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(200))


class SessionRow(Base):
    __tablename__ = "sessions"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    charger_id: Mapped[str] = mapped_column(String(200))
    transaction_id: Mapped[str | None] = mapped_column(String(200))
    arrival: Mapped[datetime] = mapped_column(UtcDateTime)
    # Null: not told (OCPP 1.6); every plan estimates it (SPEC §6).
    departure: Mapped[datetime | None] = mapped_column(UtcDateTime)
    energy_kwh: Mapped[float | None] = mapped_column(Float)
    energy_delivered_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    max_current_a: Mapped[float | None] = mapped_column(Float)
    max_power_kw: Mapped[float | None] = mapped_column(Float)
    phases: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # SPEC §4 V2G: what the EV may feed back ({max_power_kw, max_energy_kwh}), or null
    discharge: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # What the meter values taught (`optimizer.ev_learning`), recomputed from them on each batch.
    ev_phases: Mapped[int | None] = mapped_column(Integer)
    ev_max_current_a: Mapped[float | None] = mapped_column(Float)
    ev_full: Mapped[bool] = mapped_column(Boolean, default=False)
    ev_log: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class MeterValue(Base):
    """One OCPP `MeterValues` sample of a session's connector (SPEC §6), one row per time: a
    batch sent again stores nothing new. `offered_a` / `offered_kw` is what the charger offered
    then: as the sample said (`Current.Offered`), else the limit of the plan's profile."""

    __tablename__ = "meter_values"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_pk", "session_id"],
            ["sessions.site_pk", "sessions.session_id"],
            ondelete="CASCADE",
        ),
    )

    site_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    current_l1_a: Mapped[float | None] = mapped_column(Float)
    current_l2_a: Mapped[float | None] = mapped_column(Float)
    current_l3_a: Mapped[float | None] = mapped_column(Float)
    power_kw: Mapped[float | None] = mapped_column(Float)
    energy_register_kwh: Mapped[float | None] = mapped_column(Float)
    soc_pct: Mapped[float | None] = mapped_column(Float)
    offered_a: Mapped[float | None] = mapped_column(Float)
    offered_kw: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Schedule(Base):
    __tablename__ = "schedules"

    site_pk: Mapped[int] = mapped_column(
        ForeignKey("sites.pk", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    planned_by: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    etag: Mapped[str] = mapped_column(String(64))
    problem: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Per OCPP profile of the answer, the version the charger's copy was sent in and when it
    # runs out (`api.ocpp.delta.record_sent`); null for plans stored before it was kept.
    profiles_sent: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
