"""api_keys.role and rate_limit_per_s (existing keys become `manage`), and the audit log

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("role", sa.String(10), nullable=False, server_default="manage"))
        batch.add_column(sa.Column("rate_limit_per_s", sa.Float(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=True),
        sa.Column("role", sa.String(10), nullable=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("site_id", sa.String(200), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_tenant_at", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit_per_s")
        batch.drop_column("role")
