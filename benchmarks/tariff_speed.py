"""What prices in time cost a plan: the index (prices per slot) with a flat tariff against six
time-of-use rules and a half-hourly price feed, and the checker's own reading of the same.

    python -m benchmarks.tariff_speed            # a Markdown table, median of 5

The engine evaluates the rules once per whole minute of the horizon (exact: rule times are whole
local minutes), so its cost grows with the horizon's minutes; the checker reads them instant by
instant in plain Python on purpose (an independent, literal reading) and is the slower one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from benchmarks.forecast_speed import seconds
from smartcharge.optimizer.check_tariff import read_slot_prices
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.problem import Problem, parse_problem

HORIZONS = [(96, 15), (672, 15), (288, 5), (2016, 60)]  # (slots, step minutes)
RULES = [
    {"days": "mon-fri", "from": "07:00", "to": "23:00", "import_per_kwh": 0.32},
    {"days": "sat,sun", "from": "22:00", "to": "06:00", "import_per_kwh": 0.18},
    {"days": "daily", "from": "17:00", "to": "20:00", "export_per_kwh": 0.02},
] * 2


def _problem(slots: int, step_minutes: int, timed: bool) -> Problem:
    start = datetime.fromisoformat("2026-10-24T00:00:00+02:00")  # the horizons cross a DST day
    doc = {
        "site": {
            "id": "bench",
            "timezone": "Europe/Amsterdam",
            "grid": {"import_limit_kw": 100},
            "chargers": [{"id": "c1", "max_current_a": 16}],
        },
        "horizon": {"start": start.isoformat(), "step_minutes": step_minutes, "slots": slots},
        "tariff": {"import_price_per_kwh": 0.25},
    }
    if timed:
        quarters = slots * step_minutes // 15
        doc["tariff"]["time_of_use"] = RULES
        doc["tariff"]["prices"] = [
            {"time": (start + timedelta(minutes=15 * q)).isoformat(), "import_per_kwh": 0.1}
            for q in range(0, quarters, 2)  # a half-hourly feed over the whole horizon
        ]
    return parse_problem(doc)


def main() -> None:
    print("| horizon | index, flat tariff ms | index, 6 rules + feed ms | checker's reading ms |")
    print("|---|---|---|---|")
    for slots, step in HORIZONS:
        flat, timed = _problem(slots, step, False), _problem(slots, step, True)
        row = [
            seconds(lambda p=flat: build_index(p), repeat=5),
            seconds(lambda p=timed: build_index(p), repeat=5),
            seconds(lambda p=timed: read_slot_prices(p), repeat=1),
        ]
        cells = " | ".join(f"{1000 * s:.1f}" for s in row)
        print(f"| {slots} x {step} min | {cells} |", flush=True)


if __name__ == "__main__":
    main()
