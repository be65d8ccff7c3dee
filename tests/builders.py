"""Tiny problem documents for tests: a valid base and small, readable overrides."""

from __future__ import annotations

import copy
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

START = datetime(2026, 11, 24, 6, 0, tzinfo=timezone(timedelta(hours=1)))


def at(slot: float, step_minutes: int = 15) -> str:
    """ISO time of the start of `slot` (may be fractional or negative)."""
    return (START + timedelta(minutes=step_minutes * slot)).isoformat()


def charger(cid: str, **fields: Any) -> dict[str, Any]:
    return {"id": cid, "phases": 3, "max_current_a": 16, **fields}


def session(sid: str, charger_id: str, energy_kwh: float, **fields: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "charger_id": charger_id,
        "transaction_id": str(zlib.crc32(sid.encode()) % 10_000),  # not hash(): differs per process
        "arrival": at(-1),
        "departure": at(4),
        "energy_kwh": energy_kwh,
        **fields,
    }


def problem(
    chargers: list[dict],
    sessions: list[dict],
    slots: int = 4,
    import_limit_kw: float | list[float] = 1000.0,
    **fields: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "site": {
            "id": "test-site",
            "timezone": "Europe/Amsterdam",
            "grid": {"import_limit_kw": import_limit_kw, "voltage_v": 230},
            "chargers": chargers,
        },
        "horizon": {"start": START.isoformat(), "step_minutes": 15, "slots": slots},
        "tariff": {"import_price_per_kwh": 0.2},
        "base_load_kw": 0.0,
        "pv_kw": 0.0,
        "sessions": sessions,
        "options": {"time_limit_s": 20, "mip_gap": 1e-6},
    }
    for key, value in fields.items():
        if key in ("grid", "circuits", "pv"):
            if key == "grid":
                doc["site"]["grid"].update(value)
            else:
                doc["site"][key] = value
        elif key in ("tariff", "options") and isinstance(value, dict):
            doc[key].update(value)
        else:
            doc[key] = value
    return copy.deepcopy(doc)
