"""Profiles a CSMS pushes after each re-plan (`api.ocpp.delta`), followed on simulated chargers.

A CSMS applies `profiles?since=<version it applied>` after re-plans: the profiles that changed
are sent, the ones no plan holds are cleared. A plan that stands still is not re-sent, so the
charger keeps an old copy, which runs out one horizon after the version it was sent in. These
tests follow the chargers' own profile stores (`tests.ocpp_sim`) through many re-plans and
require, at every re-plan, that each charger runs the latest plan (its composite schedule equals
that of a charger given the latest plan from scratch), whichever version the CSMS syncs from.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from smartcharge.api.ocpp.delta import Delta, Sent, profile_delta, record_sent
from smartcharge.api.service import optimize_answer
from tests.ocpp_sim import (
    ChargerState,
    Csms,
    Period,
    clear_charging_profile,
    get_composite_schedule,
    install_message,
    set_charging_profile,
    simulated_charger,
    wire_time,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
Message = dict[str, Any]
Record = dict[tuple[str, str, int], Sent]


def long_session_problem(start: datetime, step_minutes: int, slots: int) -> dict[str, Any]:
    """A 1.6 and a 2.0.1 charger, each with an EV that stays far past the horizon and wants
    more than it can get: the plan is the maximum, 16 A, in every slot of every re-plan."""
    chargers = [
        {"id": "cp-16", "phases": 3, "max_current_a": 16, "ocpp_version": "1.6"},
        {"id": "cp-201", "phases": 3, "max_current_a": 16, "ocpp_version": "2.0.1"},
    ]
    sessions = [
        {
            "id": f"s-{charger['id']}",
            "charger_id": charger["id"],
            "transaction_id": str(7 + i),
            "arrival": (T0 - timedelta(minutes=5)).isoformat(),
            "departure": (T0 + timedelta(days=3)).isoformat(),
            "energy_kwh": 2000.0,
        }
        for i, charger in enumerate(chargers)
    ]
    return {
        "site": {
            "id": "standing-still",
            "grid": {"import_limit_kw": 22.08, "voltage_v": 230.0},
            "chargers": chargers,
        },
        "horizon": {"start": start.isoformat(), "step_minutes": step_minutes, "slots": slots},
        "tariff": {"import_price_per_kwh": 0.25},
        "base_load_kw": 0.0,
        "pv_kw": 0.0,
        "sessions": sessions,
        "options": {"include_default_profiles": True},
    }


def moved_to(messages: list[Message], start: datetime) -> list[Message]:
    """The same profiles re-planned at `start`: what a plan that stands still emits then."""
    moved = copy.deepcopy(messages)
    for message in moved:
        payload = message["payload"]
        schedules = (
            [payload["csChargingProfiles"]["chargingSchedule"]]
            if "csChargingProfiles" in payload
            else payload["chargingProfile"]["chargingSchedule"]
        )
        for schedule in schedules:
            schedule["startSchedule"] = wire_time(start)
    return moved


# --- a CSMS and its chargers, without the network ----------------------------------------------


@dataclass
class Plan:
    version: int
    start: datetime
    messages: list[Message]
    sent: Record


@dataclass
class Fleet:
    """The chargers one CSMS drives: their profile stores and the version it last applied."""

    chargers: dict[str, ChargerState]
    applied: int | None = None
    pushed: list[tuple[int, Message]] = field(default_factory=list)  # (version, message)

    def apply(self, delta: Delta, version: int) -> None:
        for message in delta.changed:
            refused = install_message(self.chargers[message["charger_id"]], message)
            assert refused is None, refused
            self.pushed.append((version, message))
        for cleared in delta.cleared:
            self.chargers[cleared["charger_id"]].clear(cleared["profile_id"])
        self.applied = version


def fleet(transactions: dict[str, dict[int, str]], clock: Callable[[], datetime]) -> Fleet:
    return Fleet(
        {
            cid: ChargerState(max_current_a=Decimal(16), clock=clock, transactions=dict(running))
            for cid, running in transactions.items()
        }
    )


def composite(state: ChargerState, target: int, start: datetime, duration_s: int) -> list[Period]:
    # GetCompositeSchedule at `start`, in A, without the network
    return ChargerState(
        max_current_a=state.max_current_a,
        clock=lambda: start,
        profiles=state.profiles,
        transactions=state.transactions,
    ).composite(target, duration_s, "A")[1]


def fresh_composites(
    plan: Plan, transactions: dict[str, dict[int, str]], window_s: int
) -> dict[str, list[Period]]:
    """Each charger's composite had it been sent only `plan`, from scratch."""
    scratch = fleet(transactions, lambda: plan.start)
    scratch.apply(profile_delta(None, plan.messages, plan.sent), plan.version)
    return {
        cid: composite(state, 1, plan.start, window_s) for cid, state in scratch.chargers.items()
    }


def test_a_plan_that_stands_still_is_re_sent_before_the_chargers_copy_runs_out() -> None:
    """100 quarter-hourly re-plans of a 24 h horizon whose plan never changes."""
    step = timedelta(minutes=15)
    first = optimize_answer(long_session_problem(T0, 15, 96))
    assert {a for e in first["sessions"] for a in e["current_a"]} == {16.0}
    transactions = {"cp-16": {1: "7"}, "cp-201": {1: "8"}}
    now = {"t": T0}
    csms = {  # how often each syncs, and from which version
        "from the previous version": (1, fleet(transactions, lambda: now["t"])),
        "from one three re-plans back": (3, fleet(transactions, lambda: now["t"])),
        "from scratch": (4, fleet(transactions, lambda: now["t"])),
    }
    window_s = 11 * 3600  # every CSMS syncs at least every hour: 11 h are covered in any case
    records: dict[int, Record] = {}  # what the service stores with each version
    previous: Plan | None = None
    for k in range(100):
        now["t"] = T0 + k * step
        messages = moved_to(first["ocpp"], now["t"])
        plan = Plan(
            k + 1,
            now["t"],
            messages,
            record_sent(
                None if previous is None else previous.messages,
                None if previous is None else previous.sent,
                messages,
                k + 1,
            ),
        )
        expected = fresh_composites(plan, transactions, window_s)
        for name, (every, chargers) in csms.items():
            if k % every == 0:
                if name == "from scratch":
                    for state in chargers.chargers.values():
                        state.clear()
                    chargers.apply(profile_delta(None, plan.messages, plan.sent), plan.version)
                else:
                    since = None if chargers.applied is None else records[chargers.applied]
                    chargers.apply(profile_delta(since, plan.messages, plan.sent), plan.version)
            for cid, state in chargers.chargers.items():
                got = composite(state, 1, now["t"], window_s)
                assert got == expected[cid], f"{name}: {cid} at re-plan {k + 1}: {got}"
        records[plan.version] = plan.sent
        previous = plan

    # Each TxProfile copy lives 24 h and is re-sent once it has 12 h or less left.
    tx_sent = {v for v, m in csms["from the previous version"][1].pushed if m["session_id"]}
    assert tx_sent == {1, 49, 97}
    # The fail-safe defaults have no duration: sent once.
    defaults = {v for v, m in csms["from the previous version"][1].pushed if not m["session_id"]}
    assert defaults == {1}


def test_two_one_minute_slots_keep_their_plan_on_chargers_over_the_network() -> None:
    """The issue's reproduction: re-planned every minute with two one-minute slots, the chargers
    held 0 A against a planned 16 A after two re-plans. Real solves, real OCPP round trips."""
    now = {"t": T0}
    states = {
        cid: ChargerState(max_current_a=Decimal(16), clock=lambda: now["t"])
        for cid in ("cp-16", "cp-201")
    }

    async def scenario() -> list[list[Period]]:
        seen = []
        async with Csms({("cp-16", 1): 7}) as csms, contextlib.AsyncExitStack() as stack:
            for cid, version in (("cp-16", "1.6"), ("cp-201", "2.0.1")):
                simulator = await stack.enter_async_context(
                    simulated_charger(csms.url, cid, version, states[cid])
                )
                await simulator.start_transaction(1, "8")
            records: dict[int, Record] = {}
            previous: Plan | None = None
            for k in range(5):
                now["t"] = T0 + timedelta(minutes=k)
                answer = optimize_answer(long_session_problem(now["t"], 1, 2))
                assert [e["current_a"] for e in answer["sessions"]] == [[16.0, 16.0]] * 2
                plan = Plan(
                    k + 1,
                    now["t"],
                    answer["ocpp"],
                    record_sent(
                        None if previous is None else previous.messages,
                        None if previous is None else previous.sent,
                        answer["ocpp"],
                        k + 1,
                    ),
                )
                records[plan.version] = plan.sent
                delta = profile_delta(
                    None if previous is None else records[previous.version],
                    plan.messages,
                    plan.sent,
                )
                for message in delta.changed:
                    side = await csms.charger(message["charger_id"])
                    result = await set_charging_profile(side, message["payload"])
                    assert result.status == "Accepted"
                for cleared in delta.cleared:
                    side = await csms.charger(cleared["charger_id"])
                    await clear_charging_profile(side, cleared["profile_id"])
                for cid in states:
                    side = await csms.charger(cid)
                    seen.append((await get_composite_schedule(side, 1, 120, "A")).periods)
                previous = plan
        return seen

    composites = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert composites == [[Period(0, Decimal(16), 3)]] * 10
