"""battery_soc: measured state of charge per stationary battery; sessions.discharge: what a
V2G session may feed back (SPEC §4, issue 17)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "battery_soc",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("time_utc", UtcDateTime(), nullable=False),
        sa.Column("battery_id", sa.String(length=200), nullable=False),
        sa.Column("soc_kwh", sa.Float(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "time_utc", "battery_id"),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("discharge", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("discharge")
    op.drop_table("battery_soc")
