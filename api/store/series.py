"""Per-site rows stamped with a time (measurements, weather forecasts) read back as a frame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import select

from smartcharge.api.store.database import Database


def read_frame(
    database: Database,
    table: type,
    columns: Sequence[str],
    site_pk: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """`table`'s rows of the site in [since, until) as floats indexed by UTC time, one column
    per name in `columns` (NaN where a row has no value)."""
    query = select(table).where(table.site_pk == site_pk)
    if since is not None:
        query = query.where(table.time_utc >= since)
    if until is not None:
        query = query.where(table.time_utc < until)
    with database.transaction() as session:
        found = session.scalars(query.order_by(table.time_utc)).all()
    frame = pd.DataFrame(
        [{"time_utc": row.time_utc, **{c: getattr(row, c) for c in columns}} for row in found],
        columns=["time_utc", *columns],
    )
    frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True)
    return frame.set_index("time_utc").astype(float)
