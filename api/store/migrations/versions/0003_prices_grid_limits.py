"""price points and grid-operator windows per site

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "price_points",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("time_utc", UtcDateTime(), nullable=False),
        sa.Column("import_per_kwh", sa.Float(), nullable=False),
        sa.Column("export_per_kwh", sa.Float(), nullable=True),
        sa.Column("end_utc", UtcDateTime(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "time_utc"),
    )
    op.create_table(
        "grid_limit_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("start_utc", UtcDateTime(), nullable=False),
        sa.Column("end_utc", UtcDateTime(), nullable=False),
        sa.Column("import_limit_kw", sa.Float(), nullable=True),
        sa.Column("export_limit_kw", sa.Float(), nullable=True),
        sa.Column("phase_limit_a", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grid_limit_windows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grid_limit_windows_site_end", ["site_pk", "end_utc"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("grid_limit_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_grid_limit_windows_site_end")
    op.drop_table("grid_limit_windows")
    op.drop_table("price_points")
