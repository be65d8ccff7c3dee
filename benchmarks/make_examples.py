"""Write the example problems in `data/examples/` (seeded, re-runnable).

python -m benchmarks.make_examples
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.generator import generate_problem

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"


def workplace() -> dict:
    """20 chargers, PV on the roof, half the EVs one-phase on rotated chargers, 06:00-18:00."""
    doc = generate_problem(20, slots=48, seed=3, kind="workplace", pv_kwp=80, one_phase_share=0.5)
    doc["site"]["id"] = "workplace-20"
    return doc


def depot() -> dict:
    """120 chargers overnight (18:00-10:00), TOU prices, a demand charge, feeders and panels."""
    doc = generate_problem(120, slots=64, seed=7, kind="depot")
    doc["site"]["id"] = "depot-120"
    return doc


def garage() -> dict:
    """8 chargers behind a 63 A three-phase connection, wired without rotation: five
    one-phase 32 A EVs all load L1, so the phase, not the kW, limit binds in the evening."""
    doc = generate_problem(
        8,
        slots=56,
        seed=11,
        kind="depot",
        phase_limits=True,
        circuit_levels=0,
        demand_charge=False,
    )
    grid = doc["site"]["grid"]
    grid["import_limit_kw"], grid["phase_limit_a"] = 43.0, 63.0
    for charger in doc["site"]["chargers"]:
        charger["phase_rotation"] = "L1L2L3"  # wired without rotation, as in many garages
        charger["max_current_a"], charger["max_power_kw"] = 32.0, 22.0
    start = datetime.fromisoformat(doc["horizon"]["start"])
    rng = np.random.default_rng(11)
    doc["sessions"] = [
        {
            "id": f"s-{c}",
            "charger_id": charger["id"],
            "transaction_id": str(2000 + c),
            "arrival": (start + timedelta(minutes=int(rng.integers(-30, 90)))).isoformat(),
            "departure": (
                start + timedelta(hours=13, minutes=int(rng.integers(0, 60)))
            ).isoformat(),
            "energy_kwh": float(rng.choice([20.0, 25.0, 30.0, 35.0])),
            "phases": 1 if c < 5 else 3,
            "max_current_a": 32.0 if c < 5 else 16.0,
        }
        for c, charger in enumerate(doc["site"]["chargers"])
    ]
    doc["site"]["id"] = "garage-8"
    return doc


def dc_hub() -> dict:
    """A public fast-charging hub: 6 DC chargers (50/150 kW, minimum power) and 4 AC."""
    doc = generate_problem(
        10, slots=48, seed=5, kind="public", dc_share=0.6, connection_share=0.5, circuit_levels=0
    )
    doc["site"]["id"] = "dc-hub"
    return doc


def scarcity() -> dict:
    """30 chargers on a connection far too small: priorities 0-9 decide who charges."""
    doc = generate_problem(30, slots=48, seed=13, kind="workplace", connection_share=0.11)
    rng = np.random.default_rng(13)
    for session in doc["sessions"]:
        session["priority"] = int(rng.integers(0, 10))
    doc["site"]["id"] = "scarcity-priorities"
    return doc


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, build in {
        "workplace-20": workplace,
        "depot-120": depot,
        "garage-8": garage,
        "dc-hub": dc_hub,
        "scarcity-priorities": scarcity,
    }.items():
        (EXAMPLES / f"{name}.json").write_text(json.dumps(build(), indent=1))
        print(f"wrote data/examples/{name}.json")


if __name__ == "__main__":
    main()
