"""What keeping the delta record costs: per re-plan (`record_sent`, when a plan is stored) and
per CSMS request (`profile_delta` since the previous version, and from scratch), side by side
for sites of several sizes, with the record's JSON size next to the OCPP section's.

Each site (`benchmarks.generator`, one day of 15-minute slots) is solved once; its re-plans
keep that plan a slot later each time, with a tenth of the session profiles changed, as real
re-plans change some and keep the rest.

    python -m benchmarks.profile_delta [--chargers 100,1000] [--replans 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from datetime import datetime, timedelta

import numpy as np

from benchmarks.generator import generate_problem
from smartcharge.api.ocpp.delta import profile_delta, record_sent, sent_to_json
from smartcharge.api.service import optimize_answer


def schedules(payload: dict) -> list[dict]:
    if "csChargingProfiles" in payload:
        return [payload["csChargingProfiles"]["chargingSchedule"]]
    return payload["chargingProfile"]["chargingSchedule"]


def replanned(messages: list[dict], step: timedelta, rng: np.random.Generator) -> list[dict]:
    """The messages of a re-plan one slot later that keeps the plan (each schedule starts a slot
    later, its last period held a slot longer), with a tenth of the session profiles changed."""
    moved = copy.deepcopy(messages)
    step_s = int(step.total_seconds())
    for message in moved:
        for schedule in schedules(message["payload"]):
            start = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
            schedule["startSchedule"] = (start + step).strftime("%Y-%m-%dT%H:%M:%SZ")
            periods = schedule["chargingSchedulePeriod"]
            later = [p for p in periods[1:] if p["startPeriod"] > step_s]
            first = max((p for p in periods if p["startPeriod"] <= step_s), key=_start)
            for period in later:
                period["startPeriod"] -= step_s
            schedule["chargingSchedulePeriod"] = [{**first, "startPeriod": 0}, *later]
            if message["session_id"] and rng.random() < 0.1:
                head = schedule["chargingSchedulePeriod"][0]
                head["limit"] = 6 if head["limit"] != 6 else 8
    return moved


def _start(period: dict) -> int:
    return period["startPeriod"]


def measure(chargers: int, replans: int) -> dict[str, float]:
    problem = generate_problem(chargers, slots=96, seed=1)
    problem.setdefault("options", {})["time_limit_s"] = 20
    messages = optimize_answer(problem)["ocpp"]
    rng = np.random.default_rng(1)
    step = timedelta(minutes=problem["horizon"]["step_minutes"])
    record_ms, since_ms, scratch_ms, sent = [], [], [], 0
    previous, previous_sent = None, None
    for version in range(1, replans + 1):
        started = time.perf_counter()
        record = record_sent(previous, previous_sent, messages, version)
        record_ms.append(1000 * (time.perf_counter() - started))
        if previous_sent is not None:
            started = time.perf_counter()
            delta = profile_delta(previous_sent, messages, record)
            since_ms.append(1000 * (time.perf_counter() - started))
            sent += len(delta.changed)
            started = time.perf_counter()
            profile_delta(None, messages, record)
            scratch_ms.append(1000 * (time.perf_counter() - started))
        previous, previous_sent = messages, record
        messages = replanned(messages, step, rng)
    return {
        "messages": len(messages),
        "record_ms": statistics.median(record_ms),
        "since_ms": statistics.median(since_ms),
        "scratch_ms": statistics.median(scratch_ms),
        "sent_per_delta": sent / max(len(since_ms), 1),
        "record_kb": len(json.dumps(sent_to_json(previous_sent or {}))) / 1000,
        "ocpp_kb": len(json.dumps(previous)) / 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", default="100,1000")
    parser.add_argument("--replans", type=int, default=20)
    args = parser.parse_args(argv)
    print(
        "| chargers | messages | record_sent per re-plan [ms] | delta since previous [ms] "
        "| from scratch [ms] | profiles sent per delta | record [kB] | ocpp section [kB] |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(c) for c in args.chargers.split(",")):
        row = measure(n, args.replans)
        print(
            f"| {n} | {row['messages']} | {row['record_ms']:.1f} | {row['since_ms']:.1f} "
            f"| {row['scratch_ms']:.1f} | {row['sent_per_delta']:.0f} | {row['record_kb']:.0f} "
            f"| {row['ocpp_kb']:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
