"""Charging sessions as a table: the CSV that `smartcharge sessions generate` writes and
`smartcharge simulate` reads, one row per session, turned into SPEC session documents."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SESSION_COLUMNS = (
    "session_id",
    "charger_id",
    "arrival",
    "departure",
    "energy_kwh",
    "max_current_a",
    "phases",
)
# Written only when some session carries them, read when present. `battery_kwh` is the EV's
# battery for `simulate --ev-model taper` (not a SPEC session field: the replay's truth).
OPTIONAL_COLUMNS = ("priority", "max_power_kw", "battery_kwh")


def read_sessions(source: str | Path | Any) -> list[dict[str, Any]]:
    """SPEC session documents from a sessions CSV (a path) or a pandas DataFrame with the same
    columns. Raises `ValueError` with a one-line reason naming the file or the column."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        table, name = source, "sessions"
    else:
        name = str(source)
        try:
            table = pd.read_csv(source)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None
    missing = [c for c in SESSION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    sessions = []
    for row in table.to_dict("records"):
        session = {
            "id": str(row["session_id"]),
            "charger_id": str(row["charger_id"]),
            "arrival": str(row["arrival"]),
            "departure": str(row["departure"]),
            "energy_kwh": float(row["energy_kwh"]),
            "max_current_a": float(row["max_current_a"]),
            "phases": int(row["phases"]),
            "transaction_id": str(len(sessions) + 1),
        }
        for optional in OPTIONAL_COLUMNS:
            if optional in row and pd.notna(row[optional]):
                session[optional] = (int if optional == "priority" else float)(row[optional])
        sessions.append(session)
    return sessions


def sessions_csv(sessions: Iterable[Mapping[str, Any]]) -> str:
    """The CSV text of SPEC session documents (optional columns only where some row has one)."""
    sessions = list(sessions)
    optional = [c for c in OPTIONAL_COLUMNS if any(s.get(c) for s in sessions)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*SESSION_COLUMNS, *optional])
    for s in sessions:
        writer.writerow(
            [s["id"], *(s[c] for c in SESSION_COLUMNS[1:]), *(s.get(c, "") for c in optional)]
        )
    return text.getvalue()
