"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:

    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sites",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=200), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("tenant_id", "site_id", name="uq_sites_tenant_site"),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "limit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=300), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limit_changes_site_pk"), ["site_pk"], unique=False)

    op.create_table(
        "measurements",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("time_utc", UtcDateTime(), nullable=False),
        sa.Column("base_load_kw", sa.Float(), nullable=True),
        sa.Column("pv_kw", sa.Float(), nullable=True),
        sa.Column("import_kw", sa.Float(), nullable=True),
        sa.Column("export_kw", sa.Float(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "time_utc"),
    )
    op.create_table(
        "schedules",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("planned_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "version"),
    )
    op.create_table(
        "sessions",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column("charger_id", sa.String(length=200), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=True),
        sa.Column("arrival", UtcDateTime(), nullable=False),
        sa.Column("departure", UtcDateTime(), nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("energy_delivered_kwh", sa.Float(), nullable=False),
        sa.Column("max_current_a", sa.Float(), nullable=True),
        sa.Column("max_power_kw", sa.Float(), nullable=True),
        sa.Column("phases", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "session_id"),
    )


def downgrade() -> None:

    op.drop_table("sessions")
    op.drop_table("schedules")
    op.drop_table("measurements")
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_changes_site_pk"))

    op.drop_table("limit_changes")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_tenant_id"))

    op.drop_table("sites")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))

    op.drop_table("api_keys")
    op.drop_table("tenants")
