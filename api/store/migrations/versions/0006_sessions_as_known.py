"""sessions as a CSMS knows them: departure and energy may be unknown, meter values per session
and what they taught about the EV (SPEC §6, issue 20)

Revision ID: 0006
Revises: 0004
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from smartcharge.api.store.tables import UtcDateTime

revision = "0006"
# Another branch adds 0005 (issue 19); whoever merges second re-chains this onto it.
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("departure", existing_type=UtcDateTime(), nullable=True)
        batch.alter_column("energy_kwh", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("ev_phases", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ev_max_current_a", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("ev_full", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("ev_log", sa.JSON(), nullable=True))
    op.create_table(
        "meter_values",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column("time_utc", UtcDateTime(), nullable=False),
        sa.Column("current_l1_a", sa.Float(), nullable=True),
        sa.Column("current_l2_a", sa.Float(), nullable=True),
        sa.Column("current_l3_a", sa.Float(), nullable=True),
        sa.Column("power_kw", sa.Float(), nullable=True),
        sa.Column("energy_register_kwh", sa.Float(), nullable=True),
        sa.Column("soc_pct", sa.Float(), nullable=True),
        sa.Column("offered_a", sa.Float(), nullable=True),
        sa.Column("offered_kw", sa.Float(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_pk", "session_id"],
            ["sessions.site_pk", "sessions.session_id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_pk", "session_id", "time_utc"),
    )


def downgrade() -> None:
    op.drop_table("meter_values")
    # The old schema requires a departure and an energy: give unknown ones what is known
    # (the end, else a day after arrival; what was delivered) rather than lose the sessions.
    bind = op.get_bind()
    sessions = sa.table(
        "sessions",
        sa.column("site_pk", sa.Integer()),
        sa.column("session_id", sa.String()),
        sa.column("arrival", UtcDateTime()),
        sa.column("departure", UtcDateTime()),
        sa.column("ended_at", UtcDateTime()),
        sa.column("energy_kwh", sa.Float()),
        sa.column("energy_delivered_kwh", sa.Float()),
    )
    unknown = bind.execute(
        sa.select(sessions).where(
            sa.or_(sessions.c.departure.is_(None), sessions.c.energy_kwh.is_(None))
        )
    ).all()
    for row in unknown:
        bind.execute(
            sessions.update()
            .where(sessions.c.site_pk == row.site_pk, sessions.c.session_id == row.session_id)
            .values(
                departure=row.departure or row.ended_at or row.arrival + timedelta(days=1),
                energy_kwh=row.energy_kwh
                if row.energy_kwh is not None
                else row.energy_delivered_kwh,
            )
        )
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("ev_log")
        batch.drop_column("ev_full")
        batch.drop_column("ev_max_current_a")
        batch.drop_column("ev_phases")
        batch.alter_column("energy_kwh", existing_type=sa.Float(), nullable=False)
        batch.alter_column("departure", existing_type=UtcDateTime(), nullable=False)
