"""What OCPP 2.1 V2G set-points and per-period phases cost the payload step, side by side.

depot-120 (120 chargers, 108 sessions, 64 slots) is solved once; the same answer is then turned
into payloads (`build_ocpp_messages`: periods, coarsening, fail-safe defaults, schema and
semantic checks) as shipped (1.6 and 2.0.1), with every charger on 2.1, with 20 of them
bidirectional and their sessions discharging every third slot (signed set-points, by hand), and
with every 2.0.1 charger switching phases every fourth slot (`phases_used`, by hand).

    python -m benchmarks.ocpp_v21 [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartcharge.api.ocpp.payloads import build_ocpp_messages
from smartcharge.api.service import optimize_answer
from smartcharge.optimizer.problem import parse_problem

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "depot-120.json"
BIDIRECTIONAL = 20


def all_21(doc: dict, answer: dict) -> None:
    for charger in doc["site"]["chargers"]:
        charger["ocpp_version"] = "2.1"


def v2g(doc: dict, answer: dict) -> None:
    all_21(doc, answer)
    chargers = {c["id"]: c for c in doc["site"]["chargers"]}
    entries = {e["id"]: e for e in answer["sessions"]}
    for session in doc["sessions"][:BIDIRECTIONAL]:
        chargers[session["charger_id"]]["bidirectional"] = True
        session["discharge"] = {"max_power_kw": 11, "max_energy_kwh": 15}
        entry = entries[session["id"]]
        entry["power_kw"] = [-7.4 if t % 3 == 2 else kw for t, kw in enumerate(entry["power_kw"])]


def switching(doc: dict, answer: dict) -> None:
    chargers = {c["id"]: c for c in doc["site"]["chargers"]}
    switched = {c["id"] for c in doc["site"]["chargers"] if c.get("ocpp_version") == "2.0.1"}
    for cid in switched:
        chargers[cid]["phase_switching"] = True
    for entry in answer["sessions"]:
        if entry["charger_id"] in switched:
            entry["phases_used"] = [1 if t % 8 >= 4 else 3 for t in range(len(entry["power_kw"]))]


VARIANTS: dict[str, Callable[[dict, dict], None]] = {
    "as shipped (1.6 + 2.0.1)": lambda doc, answer: None,
    "every charger 2.1": all_21,
    f"2.1, {BIDIRECTIONAL} V2G sessions": v2g,
    "2.0.1 chargers switching phases": switching,
}


def median_ms(doc: dict[str, Any], answer: dict[str, Any], repeat: int) -> tuple[float, int, int]:
    problem = parse_problem(doc)
    times, messages = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        messages = build_ocpp_messages(problem, answer)
        times.append((time.perf_counter() - started) * 1000)
    periods = sum(
        len(schedule["chargingSchedulePeriod"])
        for m in messages
        for schedule in (
            [m["payload"]["csChargingProfiles"]["chargingSchedule"]]
            if "csChargingProfiles" in m["payload"]
            else m["payload"]["chargingProfile"]["chargingSchedule"]
        )
    )
    return statistics.median(times), len(messages), periods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    doc = json.loads(EXAMPLE.read_text())
    doc["options"]["include_default_profiles"] = True
    answer = optimize_answer(copy.deepcopy(doc))
    print(
        f"depot-120: {len(doc['sessions'])} sessions, {doc['horizon']['slots']} slots; "
        f"median of {args.repeat} builds"
    )
    print(f"{'payloads':36} {'build [ms]':>10} {'messages':>9} {'periods':>8}")
    for name, change in VARIANTS.items():
        variant_doc, variant_answer = copy.deepcopy(doc), copy.deepcopy(answer)
        change(variant_doc, variant_answer)
        ms, messages, periods = median_ms(variant_doc, variant_answer, args.repeat)
        print(f"{name:36} {ms:10.1f} {messages:9d} {periods:8d}")


if __name__ == "__main__":
    main()
