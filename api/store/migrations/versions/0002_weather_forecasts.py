"""weather forecasts per site

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "weather_forecasts",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("time_utc", UtcDateTime(), nullable=False),
        sa.Column("ghi_w_m2", sa.Float(), nullable=True),
        sa.Column("dni_w_m2", sa.Float(), nullable=True),
        sa.Column("dhi_w_m2", sa.Float(), nullable=True),
        sa.Column("temp_air_c", sa.Float(), nullable=True),
        sa.Column("wind_speed_m_s", sa.Float(), nullable=True),
        sa.Column("cloud_cover_pct", sa.Float(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_pk"], ["sites.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_pk", "time_utc"),
    )


def downgrade() -> None:
    op.drop_table("weather_forecasts")
