"""A real OCPP round trip: the engine's payloads, sent by a CSMS to simulated chargers, read back.

The answer's `SetChargingProfile` payloads for a small site go over websockets on loopback from a
CSMS (the `ocpp` package's central-system side) to simulated OCPP 1.6J and 2.0.1 chargers
(`tests.ocpp_sim`); both sides check every message against the official schemas. Each charger
then answers `GetCompositeSchedule` from the profiles it stored, and the composite schedule must
be the plan: per slot the planned current floored to 0.1 A (or the W it allows), never above the
plan, equal to it where `max_periods` does not force coarsening, and the stack-0 fail-safe
default once the session profiles end. The expected limits are computed here with decimals, not
with the emitter's own helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import OCPPError

from smartcharge.api.ocpp.delta import profile_delta, record_sent
from smartcharge.api.service import optimize_answer
from tests.ocpp_sim import (
    TENTH,
    ChargerState,
    Composite,
    Csms,
    Period,
    Simulator,
    StoredProfile,
    clear_charging_profile,
    composite_schedule,
    get_composite_schedule,
    parse_time,
    set_charging_profile,
    simulated_charger,
    wire_number,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "garage-8.json"
TAIL_S = 2 * 3600  # the composite is asked for past the horizon, where the defaults rule
EPS = Decimal("1e-9")


# --- the problem and its answer ---------------------------------------------------------------


def roundtrip_problem() -> dict[str, Any]:
    """garage-8 (1.6 and 2.0.1 chargers alternate) with every unit and purpose in play."""
    doc = json.loads(EXAMPLE.read_text())
    chargers = {c["id"]: c for c in doc["site"]["chargers"]}
    chargers["cp-2"]["charging_rate_unit"] = "W"  # 2.0.1, a one-phase EV
    chargers["cp-5"]["charging_rate_unit"] = "W"  # 1.6, a three-phase EV
    chargers["cp-6"]["max_periods"] = 3  # 2.0.1, coarsened: the composite may only be lower
    # 2.0.1 in A, sent exactly whatever shape the optimum takes (equal optima differ in how
    # many set-point changes they have beyond the change window).
    for exact in ("cp-0", "cp-4"):
        chargers[exact]["max_periods"] = doc["horizon"]["slots"]
    chargers["cp-7"] |= {"profile_purpose": "TxDefaultProfile", "stack_level": 2}  # 1.6
    doc["options"]["include_default_profiles"] = True
    return doc


@functools.cache
def _planned() -> tuple[str, str]:
    doc = roundtrip_problem()
    return json.dumps(doc), json.dumps(optimize_answer(copy.deepcopy(doc)))


def planned() -> tuple[dict[str, Any], dict[str, Any]]:
    """The problem and its answer (solved once), as fresh copies a test may alter."""
    doc, answer = _planned()
    return json.loads(doc), json.loads(answer)


def chargers_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["site"]["chargers"]}


def target_of(charger: dict[str, Any]) -> int:
    """The connector (1.6) or EVSE (2.0.1) the payloads address."""
    if charger.get("ocpp_version", "1.6") == "1.6":
        return int(charger.get("connector_id", 1))
    return int(charger.get("evse_id", 1))


def unit_of(charger: dict[str, Any]) -> str:
    return "W" if charger.get("kind") == "dc" else charger.get("charging_rate_unit", "A")


def horizon_of(doc: dict[str, Any]) -> tuple[datetime, int, int]:
    """(start, step [s], slots)."""
    horizon = doc["horizon"]
    return parse_time(horizon["start"]), horizon["step_minutes"] * 60, horizon["slots"]


def schedule_of(payload: dict[str, Any]) -> dict[str, Any]:
    if "csChargingProfiles" in payload:
        return payload["csChargingProfiles"]["chargingSchedule"]
    return payload["chargingProfile"]["chargingSchedule"][0]


# --- the round trip ---------------------------------------------------------------------------


@dataclass
class RoundTrip:
    statuses: list[tuple[dict[str, Any], str]]  # (message, the charger's status)
    composites: dict[str, Composite]
    received: dict[str, list[dict[str, Any]]]  # SetChargingProfile payloads as they arrived
    stored: dict[str, dict[int, StoredProfile]]


@contextlib.asynccontextmanager
async def connected(
    doc: dict[str, Any], assigned_16: dict[tuple[str, int], int] | None = None
) -> AsyncIterator[tuple[Csms, dict[str, Simulator]]]:
    """A CSMS and a simulator per charger, connected; a 1.6 StartTransaction gets the id
    `assigned_16` names for its connector, else the one the problem names."""
    start, _, _ = horizon_of(doc)
    chargers = chargers_of(doc)
    named_16 = {  # a 1.6 CSMS assigns transaction ids: the ones the problem names
        (s["charger_id"], target_of(chargers[s["charger_id"]])): int(s["transaction_id"])
        for s in doc["sessions"]
        if chargers[s["charger_id"]].get("ocpp_version", "1.6") == "1.6"
        and s.get("transaction_id") is not None
    }
    async with (
        Csms(named_16 | (assigned_16 or {})) as csms,
        contextlib.AsyncExitStack() as stack,
    ):
        simulators = {}
        for cid, charger in chargers.items():
            state = ChargerState(
                max_current_a=Decimal(str(charger["max_current_a"])),
                phases=charger["phases"],
                clock=lambda: start,  # the chargers' clocks read the horizon start
            )
            simulators[cid] = await stack.enter_async_context(
                simulated_charger(csms.url, cid, charger["ocpp_version"], state)
            )
        yield csms, simulators


async def start_transaction(
    doc: dict[str, Any], simulators: dict[str, Simulator], session: dict[str, Any], tid: str
) -> None:
    """The EV of `session` starts its transaction `tid` (a 1.6 CSMS must have assigned it)."""
    charger = chargers_of(doc)[session["charger_id"]]
    running = await simulators[charger["id"]].start_transaction(target_of(charger), tid)
    assert running == tid


async def send_all(csms: Csms, messages: list[dict[str, Any]]) -> list[tuple[dict, str]]:
    """Each message sent as SetChargingProfile: (message, the charger's status)."""
    statuses = []
    for message in messages:
        side = await csms.charger(message["charger_id"])
        result = await set_charging_profile(side, message["payload"])
        statuses.append((message, str(result.status)))
    return statuses


async def read_composites(csms: Csms, doc: dict[str, Any]) -> dict[str, Composite]:
    _, step_s, slots = horizon_of(doc)
    return {
        cid: await get_composite_schedule(
            await csms.charger(cid),
            target_of(charger),
            slots * step_s + TAIL_S,
            unit_of(charger),
        )
        for cid, charger in chargers_of(doc).items()
    }


async def round_trip(
    doc: dict[str, Any], messages: list[dict[str, Any]], *, start_transactions: bool = True
) -> RoundTrip:
    """Connect a simulator per charger, start its session, send `messages`, read composites."""
    async with connected(doc) as (csms, simulators):
        if start_transactions:
            for session in doc["sessions"]:
                await start_transaction(doc, simulators, session, str(session["transaction_id"]))
        statuses = await send_all(csms, messages)
        composites = await read_composites(csms, doc)
    return RoundTrip(
        statuses=statuses,
        composites=composites,
        received={
            cid: [
                payload for action, payload in sim.state.received if action == "SetChargingProfile"
            ]
            for cid, sim in simulators.items()
        },
        stored={cid: dict(sim.state.profiles) for cid, sim in simulators.items()},
    )


def run(doc: dict[str, Any], messages: list[dict[str, Any]], **options: Any) -> RoundTrip:
    return asyncio.run(asyncio.wait_for(round_trip(doc, messages, **options), timeout=30))


# --- what the composite must be ---------------------------------------------------------------


def as_decimal(x: float) -> Decimal:
    """A float as the decimal it prints as (31.7, not 31.699999...)."""
    return Decimal(repr(float(x)))


def floor_tenth(x: Decimal) -> Decimal:
    return x.quantize(TENTH, rounding=ROUND_FLOOR)


def planned_limits(
    entry: dict[str, Any], charger: dict[str, Any], phases: int, voltage_v: Decimal
) -> tuple[list[Decimal], list[Decimal]]:
    """Per slot (the limit SPEC §2 says to send, the plan it must never exceed).

    A: the current floored to 0.1 A. W: the W that floored current allows at the session's
    phases, floored to 0.1 W, next to `power_kw * 1000`. Both 0 below the minimum.
    """
    currents = [as_decimal(a) for a in entry["current_a"]]
    amps = [floor_tenth(a) for a in currents]
    minimum_a = Decimal(str(charger.get("min_current_a", 6))).quantize(TENTH, ROUND_CEILING)
    if unit_of(charger) == "A":
        return [a if a >= minimum_a else Decimal(0) for a in amps], currents
    watts = [floor_tenth(a * voltage_v * phases) for a in amps]
    minimum_w = floor_tenth(minimum_a * voltage_v * phases)
    ceiling = [as_decimal(kw) * 1000 for kw in entry["power_kw"]]
    return [w if w >= minimum_w else Decimal(0) for w in watts], ceiling


def per_slot(composite: Composite, step_s: int, slots: int) -> list[Period]:
    """The composite period in force at the start of each slot."""
    return [[p for p in composite.periods if p.start_s <= t * step_s][-1] for t in range(slots)]


def runs(values: list[Decimal]) -> int:
    return 1 + sum(a != b for a, b in itertools.pairwise(values))


def coarsened(doc: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Whether the session's merged plan has more periods than its charger's `max_periods`."""
    charger = chargers_of(doc)[entry["charger_id"]]
    voltage_v = as_decimal(doc["site"]["grid"].get("voltage_v", 230.0))
    expected, _ = planned_limits(entry, charger, session_phases(doc, entry), voltage_v)
    return runs(expected) > charger.get("max_periods", 24)


def session_phases(doc: dict[str, Any], entry: dict[str, Any]) -> int:
    charger = chargers_of(doc)[entry["charger_id"]]
    session = next(s for s in doc["sessions"] if s["id"] == entry["id"])
    return min(charger["phases"], session.get("phases") or charger["phases"])


def plan_mismatches(
    doc: dict[str, Any], answer: dict[str, Any], composites: dict[str, Composite]
) -> list[str]:
    """Every slot in which a charger's composite schedule is not its session's plan.

    A session awaiting its transaction is compared in the slots it covers (its
    `pending_transactions` entry has a `planned_limit` there, which must be the plan too):
    elsewhere its charger's TxDefaultProfile holds the fail-safe default.
    """
    start, step_s, slots = horizon_of(doc)
    chargers = chargers_of(doc)
    voltage_v = as_decimal(doc["site"]["grid"].get("voltage_v", 230.0))
    pending = {p["session_id"]: p for p in answer.get("pending_transactions", [])}
    problems = []
    for entry in answer["sessions"]:
        charger = chargers[entry["charger_id"]]
        composite = composites[charger["id"]]
        where = f"{charger['id']}/{entry['id']} ({charger['ocpp_version']}, {unit_of(charger)})"
        if composite.start != start or composite.unit != unit_of(charger):
            problems.append(f"{where}: composite from {composite.start} in {composite.unit}")
            continue
        problems += [
            f"{where}: a period starts inside a slot ({p.start_s} s)"
            for p in composite.periods
            if p.start_s < slots * step_s and p.start_s % step_s
        ]
        phases = session_phases(doc, entry)
        expected, ceiling = planned_limits(entry, charger, phases, voltage_v)
        exact_plan = not coarsened(doc, entry)
        compared = range(slots)
        if entry["id"] in pending:
            planned = pending[entry["id"]]["planned_limit"]
            compared = [t for t in compared if planned[t] is not None]
            problems += [
                f"{where} slot {t}: planned_limit {planned[t]}, plan {expected[t]}"
                for t in compared
                if as_decimal(planned[t]) != expected[t]
            ]
        for t, period in enumerate(per_slot(composite, step_s, slots)):
            if t not in compared:
                continue
            got = period.limit
            if got > ceiling[t] + EPS:
                problems.append(f"{where} slot {t}: {got} above the plan {ceiling[t]}")
            if (got != expected[t]) if exact_plan else (got > expected[t]):
                problems.append(f"{where} slot {t}: composite {got}, plan {expected[t]}")
            if period.phases != phases:
                problems.append(f"{where} slot {t}: numberPhases {period.phases}, not {phases}")
    return problems


def default_mismatches(
    doc: dict[str, Any], answer: dict[str, Any], composites: dict[str, Composite]
) -> list[str]:
    """After the horizon each charger must be at the last limit of its stack-0 default."""
    _, step_s, slots = horizon_of(doc)
    horizon_s = slots * step_s
    problems = []
    for message in answer["ocpp"]:
        profile = message["payload"].get("csChargingProfiles") or message["payload"].get(
            "chargingProfile"
        )
        if profile["chargingProfilePurpose"] != "TxDefaultProfile" or profile["stackLevel"]:
            continue
        last = schedule_of(message["payload"])["chargingSchedulePeriod"][-1]
        want = (as_decimal(last["limit"]), last.get("numberPhases"))
        composite = composites[message["charger_id"]]
        tail = [p for p in composite.periods if p.start_s >= horizon_s]
        in_force = [p for p in composite.periods if p.start_s <= horizon_s][-1]
        if (in_force.limit, in_force.phases) != want or any(p.start_s > horizon_s for p in tail):
            problems.append(f"{message['charger_id']}: after the horizon {composite.periods[-1]}")
    return problems


# --- tests --------------------------------------------------------------------------------------


def test_composite_schedules_of_simulated_chargers_equal_the_plan() -> None:
    doc, answer = planned()
    chargers = chargers_of(doc)
    assert {c["ocpp_version"] for c in chargers.values()} == {"1.6", "2.0.1"}

    trip = run(doc, answer["ocpp"])

    assert [status for _, status in trip.statuses] == ["Accepted"] * len(answer["ocpp"])
    for cid in chargers:  # camelCase -> snake_case -> the wire loses nothing
        sent = [m["payload"] for m in answer["ocpp"] if m["charger_id"] == cid]
        assert trip.received[cid] == sent
    assert plan_mismatches(doc, answer, trip.composites) == []
    assert default_mismatches(doc, answer, trip.composites) == []
    # cp-7 holds its plan as a stack-2 TxDefaultProfile over the stack-0 fail-safe default.
    assert sorted(p.stack_level for p in trip.stored["cp-7"].values()) == [0, 2]

    # What the comparison covered: exact plans in each version and unit, and a coarsened one.
    exact = {
        (chargers[e["charger_id"]]["ocpp_version"], unit_of(chargers[e["charger_id"]]))
        for e in answer["sessions"]
        if not coarsened(doc, e)
    }
    assert exact == {("1.6", "A"), ("1.6", "W"), ("2.0.1", "A"), ("2.0.1", "W")}
    cp6 = next(e for e in answer["sessions"] if e["charger_id"] == "cp-6")
    assert coarsened(doc, cp6)
    assert any(p.start_s > 0 and p.limit > 0 for p in trip.composites["cp-6"].periods)


@pytest.mark.parametrize(
    ("charger_id", "version", "change"),
    [
        ("cp-1", "1.6", TENTH),  # coarsened: only "never above the plan" can catch it
        ("cp-0", "2.0.1", TENTH),
        ("cp-4", "2.0.1", -TENTH),  # lower is safe, but no longer the plan
    ],
)
def test_a_limit_changed_by_a_tenth_is_caught(
    charger_id: str, version: str, change: Decimal
) -> None:
    doc, answer = planned()
    message = next(
        m for m in answer["ocpp"] if m["charger_id"] == charger_id and m["session_id"] is not None
    )
    assert message["ocpp_version"] == version
    period = next(
        p for p in schedule_of(message["payload"])["chargingSchedulePeriod"] if p["limit"]
    )
    period["limit"] = wire_number(as_decimal(period["limit"]) + change)  # still schema-valid

    trip = run(doc, answer["ocpp"])

    assert all(status == "Accepted" for _, status in trip.statuses)
    problems = plan_mismatches(doc, answer, trip.composites)
    assert problems
    assert all(p.startswith(f"{charger_id}/") for p in problems)
    assert any("above the plan" in p for p in problems) == (change > 0)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_schema_invalid_payload_is_refused_on_both_sides(version: str) -> None:
    doc, answer = planned()
    message = next(
        m for m in answer["ocpp"] if m["ocpp_version"] == version and m["session_id"] is not None
    )
    broken = copy.deepcopy(message["payload"])
    schedule = schedule_of(broken)
    if version == "1.6":
        schedule["chargingSchedulePeriod"][0]["limit"] = 21.45  # not a multiple of 0.1
    else:
        del schedule["chargingRateUnit"]  # required
    charger = chargers_of(doc)[message["charger_id"]]
    session = next(s for s in doc["sessions"] if s["id"] == message["session_id"])
    connector = (charger["id"], target_of(charger))

    async def send() -> tuple[ChargerState, list[type[OCPPError]], str]:
        refused: list[type[OCPPError]] = []
        async with (
            Csms({connector: int(session["transaction_id"])}) as csms,
            simulated_charger(csms.url, charger["id"], version) as simulator,
        ):
            await simulator.start_transaction(target_of(charger), str(session["transaction_id"]))
            side = await csms.charger(charger["id"])
            for validate in (True, False):  # the CSMS's own check, then the charger's
                try:
                    await set_charging_profile(side, broken, validate=validate)
                except OCPPError as error:
                    refused.append(type(error))
            assert simulator.state.profiles == {}
            intact = await set_charging_profile(side, message["payload"])
            return simulator.state, refused, str(intact.status)

    state, refused, intact = asyncio.run(asyncio.wait_for(send(), timeout=30))
    assert len(refused) == 2  # neither side let it through
    assert [payload for _, payload in state.received] == [broken, message["payload"]]
    assert intact == "Accepted"  # the unaltered payload, to the same charger and transaction
    assert len(state.profiles) == 1


def test_a_tx_profile_needs_its_running_transaction() -> None:
    doc, answer = planned()
    session_messages = [m for m in answer["ocpp"] if m["purpose"] == "TxProfile"]
    defaults = [m for m in answer["ocpp"] if m["purpose"] == "TxDefaultProfile"]

    idle = run(doc, session_messages + defaults, start_transactions=False)
    assert {s for m, s in idle.statuses if m["purpose"] == "TxProfile"} == {"Rejected"}
    assert {s for m, s in idle.statuses if m["purpose"] == "TxDefaultProfile"} == {"Accepted"}

    wrong = copy.deepcopy(session_messages[:2])
    for message in wrong:
        profile = message["payload"].get("csChargingProfiles") or message["payload"].get(
            "chargingProfile"
        )
        tid = profile["transactionId"]
        profile["transactionId"] = tid + 1 if isinstance(tid, int) else f"{tid}-other"
    assert {m["ocpp_version"] for m in wrong} == {"1.6", "2.0.1"}
    assert {s for _, s in run(doc, wrong).statuses} == {"Rejected"}


def test_the_simulator_composes_by_purpose_then_stack_level() -> None:
    start = parse_time("2026-01-01T00:00:00Z")

    def profile(pid: int, purpose: str, stack: int, limits: list[int], **kw: Any) -> StoredProfile:
        periods = tuple(Period(i * 900, Decimal(v), 1) for i, v in enumerate(limits))
        fields = {"start": start, "duration_s": 900 * len(limits), "unit": "A"} | kw
        return StoredProfile(pid, 1, stack, purpose, "Absolute", None, periods=periods, **fields)

    profiles = [
        profile(1, "TxDefaultProfile", 0, [10], duration_s=None),
        profile(2, "TxDefaultProfile", 5, [20, 21]),
        profile(3, "TxProfile", 1, [16, 0, 8]),
        profile(4, "TxProfile", 2, [12]),
        profile(5, "TxDefaultProfile", 9, [30], start=None),  # no start: never in force
    ]
    got = composite_schedule(profiles, 1, start, 5 * 900, "A", lambda unit: Decimal(32))
    assert [(p.start_s, p.limit) for p in got] == [(0, 12), (900, 0), (1800, 8), (2700, 10)]
    # 20 A at 1 phase and 230 V is 4600 W; a charger with no profile reports its maximum.
    watts = composite_schedule(profiles[1:2], 1, start, 3600, "W", lambda unit: Decimal(22080))
    assert [(p.start_s, p.limit) for p in watts] == [(0, 4600), (900, 4830), (1800, 22080)]


def profile_of_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return payload.get("csChargingProfiles") or payload["chargingProfile"]


def test_a_session_awaiting_its_transaction_rides_on_the_tx_default_profile() -> None:
    """Before its transaction starts a session's plan is its charger's TxDefaultProfile; once
    the CSMS reports the transaction id, the next plan's delta brings its TxProfile and clears
    that profile. Both steps over the wire, on a 1.6 charger in A and a 2.0.1 charger in W."""
    doc = roundtrip_problem()
    waiting = {"s-1": ("cp-1", 4242), "s-2": ("cp-2", "ev-2-tx")}  # the ids they will get
    for session in doc["sessions"]:
        if session["id"] in waiting:
            session["transaction_id"] = None
    answer = optimize_answer(copy.deepcopy(doc))
    started = copy.deepcopy(doc)
    for session in started["sessions"]:
        if session["id"] in waiting:
            session["transaction_id"] = str(waiting[session["id"]][1])
    replanned = optimize_answer(copy.deepcopy(started))
    first = record_sent(None, None, answer["ocpp"], 1)
    second = record_sent(answer["ocpp"], first, replanned["ocpp"], 2)
    delta = profile_delta(first, replanned["ocpp"], second)

    pending = {p["session_id"]: p for p in answer["pending_transactions"]}
    assert set(pending) == set(waiting) and replanned["pending_transactions"] == []
    for sid, (cid, _) in waiting.items():
        own = [m for m in answer["ocpp"] if m["session_id"] == sid]
        assert [m["purpose"] for m in own] == ["TxDefaultProfile"]
        profile = profile_of_payload(own[0]["payload"])
        assert "transactionId" not in profile
        entry = pending[sid]
        assert (entry["charger_id"], entry["purpose"]) == (cid, "TxDefaultProfile")
        assert (entry["profile_id"], entry["stack_level"]) == (
            profile.get("chargingProfileId", profile.get("id")),
            profile["stackLevel"],
        )
        assert entry["stack_level"] == 1  # above the stack-0 fail-safe default, which stays
        defaults = [m for m in answer["ocpp"] if m["charger_id"] == cid and not m["session_id"]]
        assert [profile_of_payload(m["payload"])["stackLevel"] for m in defaults] == [0]
    assert (pending["s-1"]["connector_id"], pending["s-2"]["evse_id"]) == (1, 1)
    assert pending["s-2"]["charging_rate_unit"] == "W"
    assert sorted(c["profile_id"] for c in delta.cleared) == sorted(
        p["profile_id"] for p in pending.values()
    )
    assert {m["session_id"] for m in delta.changed if m["purpose"] == "TxProfile"} >= set(waiting)

    async def scenario() -> tuple[list, dict, dict, list, list, dict, dict]:
        async with connected(doc, {("cp-1", 1): 4242}) as (csms, simulators):
            for session in doc["sessions"]:
                if session["transaction_id"] is not None:
                    await start_transaction(doc, simulators, session, session["transaction_id"])
            before = await send_all(csms, answer["ocpp"])
            waiting_composites = await read_composites(csms, doc)
            for session in doc["sessions"]:  # the EVs are authorised: transactions start
                if session["id"] in waiting:
                    tid = str(waiting[session["id"]][1])
                    await start_transaction(doc, simulators, session, tid)
            started_composites = await read_composites(csms, doc)
            after = await send_all(csms, delta.changed)
            cleared = [
                await clear_charging_profile(await csms.charger(c["charger_id"]), c["profile_id"])
                for c in delta.cleared
            ]
            final = await read_composites(csms, doc)
            stored = {cid: dict(sim.state.profiles) for cid, sim in simulators.items()}
        return before, waiting_composites, started_composites, after, cleared, final, stored

    before, waiting_composites, started_composites, after, cleared, final, stored = asyncio.run(
        asyncio.wait_for(scenario(), timeout=30)
    )
    assert {status for _, status in before} == {"Accepted"}
    assert plan_mismatches(doc, answer, waiting_composites) == []
    assert plan_mismatches(doc, answer, started_composites) == []  # the default rules the EV
    assert {status for _, status in after} == {"Accepted"}
    assert cleared == ["Accepted"] * len(waiting)
    assert plan_mismatches(started, replanned, final) == []
    assert default_mismatches(started, replanned, final) == []
    for cid, _ in waiting.values():
        assert sorted((p.purpose, p.stack_level) for p in stored[cid].values()) == [
            ("TxDefaultProfile", 0),
            ("TxProfile", 1),
        ]
