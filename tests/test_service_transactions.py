"""The service as a CSMS uses it: sessions whose transaction has not started, and
`profiles?since=` applied to simulated OCPP chargers through many re-plans.

The long test drives re-plans itself at chosen times (a test-only clock: `replan_at` does what
`api.planner.Planner.replan` does, with `now` given), while the HTTP API takes the session
events and serves the deltas; the planner's own debounce is set beyond the test's length so it
never plans in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from smartcharge.api.service import optimize_answer
from smartcharge.api.store.database import open_database
from smartcharge.api.store.schedules import store_schedule
from smartcharge.api.store.sites import get_site
from smartcharge.api.stored_problem import stored_problem
from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem
from tests.ocpp_sim import (
    ChargerState,
    Csms,
    Period,
    Simulator,
    clear_charging_profile,
    get_composite_schedule,
    install_message,
    set_charging_profile,
    simulated_charger,
)
from tests.service_harness import Api, arrival, site_document, slot_start
from tests.test_service_sessions import assert_stored_plan_is_valid


def profile_fields(message: dict[str, Any]) -> dict[str, Any]:
    payload = message["payload"]
    return payload.get("csChargingProfiles") or payload["chargingProfile"]


def test_a_session_awaiting_its_transaction_then_patched_with_it(api: Api) -> None:
    document = site_document("depot", chargers=2)
    document["site"]["chargers"][1]["ocpp_version"] = "2.0.1"
    api.post("/v1/sites", json=document)
    for i in range(2):
        waiting = arrival(f"s-{i}", f"cp-{i}", 8.0) | {"transaction_id": None}
        assert api.post("/v1/sites/depot/sessions", json=waiting).status_code == 202
    api.settle()
    schedule = api.get("/v1/sites/depot/schedule").json()
    pending = {p["session_id"]: p for p in schedule["pending_transactions"]}
    assert set(pending) == {"s-0", "s-1"}
    assert (pending["s-0"]["connector_id"], pending["s-1"]["evse_id"]) == (1, 1)
    everything = api.get("/v1/sites/depot/profiles").json()
    assert {(m["session_id"], m["purpose"]) for m in everything["profiles"]} == {
        ("s-0", "TxDefaultProfile"),
        ("s-1", "TxDefaultProfile"),
        (None, "TxDefaultProfile"),
    }
    for message in everything["profiles"]:
        if message["session_id"]:
            assert (
                profile_fields(message)["stackLevel"]
                == pending[message["session_id"]]["stack_level"]
            )

    # OCPP 1.6 transaction ids are integers, 2.0.1 ones at most 36 characters: 422, unchanged.
    for sid, bad in (("s-0", "tx-a"), ("s-1", "x" * 37)):
        refused = api.patch(f"/v1/sites/depot/sessions/{sid}", json={"transaction_id": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "transaction_id"]
    assert {s["transaction_id"] for s in api.get("/v1/sites/depot/sessions").json()} == {None}

    patched = api.patch("/v1/sites/depot/sessions/s-0", json={"transaction_id": 4711})
    assert patched.status_code == 200
    assert patched.json()["session"]["transaction_id"] == "4711"
    api.settle()
    delta = api.get(f"/v1/sites/depot/profiles?since={schedule['version']}").json()
    assert delta["version"] > schedule["version"]
    tx = [m for m in delta["profiles"] if m["purpose"] == "TxProfile"]
    assert [(m["session_id"], profile_fields(m)["transactionId"]) for m in tx] == [("s-0", 4711)]
    assert delta["cleared"] == [
        {
            "charger_id": "cp-0",
            "charging_profile_purpose": "TxDefaultProfile",
            "profile_id": pending["s-0"]["profile_id"],
        }
    ]
    latest = api.get("/v1/sites/depot/schedule").json()
    assert [p["session_id"] for p in latest["pending_transactions"]] == ["s-1"]
    assert_stored_plan_is_valid(api, "depot")


# --- many re-plans, three ways to sync ---------------------------------------------------------


STEP = timedelta(minutes=15)
SLOTS = 8  # a two-hour horizon: the sessions below outlast it several times
RE_PLANS = 24
CHARGERS = {"cp-a": "1.6", "cp-b": "2.0.1", "cp-c": "1.6"}
ASSIGNED_16 = {("cp-a", 1): 101, ("cp-c", 1): 303}  # a 1.6 CSMS assigns transaction ids


@dataclass
class SyncingCsms:
    """One way of syncing: every `every` re-plans, from the version last applied or from scratch
    (clear every profile, send all); its chargers and what it sent."""

    every: int
    from_scratch: bool
    csms: Csms | None = None
    simulators: dict[str, Simulator] = field(default_factory=dict)
    applied: int | None = None
    pushed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (version, message)

    def state(self, charger_id: str) -> ChargerState:
        return self.simulators[charger_id].state


def replan_at(api: Api, site_id: str, now: datetime) -> dict[str, Any]:
    """What the planner does at `now`: the site's problem then, solved, stored as a version."""
    database = open_database(api.url)
    site = get_site(database, 1, site_id)
    assert site is not None
    stored = stored_problem(database, site, now)
    answer = optimize_answer(stored.problem, **stored.histories)
    violations = check_answer(parse_problem(stored.problem), answer)
    assert not violations, format_violations(violations)
    return store_schedule(database, site.pk, stored.problem, answer, now, now, "test clock").answer


def fresh_composite(
    charger_id: str,
    charger: ChargerState,
    messages: list[dict[str, Any]],
    at: datetime,
    window_s: int,
) -> list[Period]:
    """The composite a charger with the same transactions would report given only its
    `messages` (profiles of transactions no longer running are refused, as it would)."""
    scratch = ChargerState(
        max_current_a=charger.max_current_a,
        clock=lambda: at,
        transactions=dict(charger.transactions),
    )
    for message in messages:
        if message["charger_id"] == charger_id:
            install_message(scratch, message)
    return scratch.composite(1, window_s, "A")[1]


async def sync(api: Api, way: SyncingCsms, version: int) -> list[str]:
    """Apply `profiles?since=` as a CSMS does; the chargers' statuses."""
    assert way.csms is not None
    since = "" if way.from_scratch or way.applied is None else f"?since={way.applied}"
    delta = api.get(f"/v1/sites/yard/profiles{since}").json()
    assert delta["version"] == version
    statuses = []
    if way.from_scratch:
        for cid in CHARGERS:
            await clear_charging_profile(await way.csms.charger(cid))
    for message in delta["profiles"]:
        side = await way.csms.charger(message["charger_id"])
        statuses.append(str((await set_charging_profile(side, message["payload"])).status))
        way.pushed.append((version, message))
    for cleared in delta["cleared"]:
        await clear_charging_profile(
            await way.csms.charger(cleared["charger_id"]), cleared["profile_id"]
        )
    way.applied = version
    return statuses


def test_chargers_run_the_latest_plan_through_many_re_plans(make_api) -> None:
    """24 quarter-hourly re-plans of a 2 h horizon; sessions of up to 7 h, one that awaits its
    transaction for 45 minutes, one that leaves; three CSMSs sync in their own way. After each
    re-plan every charger's composite schedule is the plan its CSMS applied last (for the CSMS
    that syncs every re-plan, the latest), for as long as that CSMS may go without syncing."""
    t0 = slot_start() + STEP
    now = {"t": t0}
    ways = {
        "every re-plan, from the previous version": SyncingCsms(1, False),
        "every third re-plan, from an older version": SyncingCsms(3, False),
        "every other re-plan, from scratch": SyncingCsms(2, True),
    }
    document = site_document("yard", chargers=3, import_limit_kw=25.0)
    document["site"]["chargers"] = [
        {"id": cid, "max_current_a": 16, "phases": 3, "ocpp_version": version}
        for cid, version in CHARGERS.items()
    ]
    document["site"]["circuits"] = []
    document["horizon"] = {"step_minutes": 15, "slots": SLOTS}

    def at(hours: float) -> str:
        return (t0 + timedelta(hours=hours)).isoformat()

    sessions = {
        0: arrival("s-a", "cp-a", 200.0, transaction_id="101", arrival=at(-0.1), departure=at(7)),
        1: arrival("s-b", "cp-b", 30.0, transaction_id=None, arrival=at(0.2), departure=at(5)),
        2: arrival("s-c", "cp-c", 6.0, transaction_id="303", arrival=at(0.4), departure=at(3)),
    }
    transactions_start = {0: ("cp-a", "101"), 2: ("cp-c", "303"), 4: ("cp-b", "ev-b-1")}
    delivered_kwh: dict[str, float] = {}
    window_s = {
        name: int((SLOTS // 2 - (way.every - 1)) * STEP.total_seconds())
        for name, way in ways.items()
    }

    async def scenario(api: Api) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for way in ways.values():
                way.csms = await stack.enter_async_context(Csms(ASSIGNED_16))
                for cid, version in CHARGERS.items():
                    state = ChargerState(max_current_a=Decimal(16), clock=lambda: now["t"])
                    way.simulators[cid] = await stack.enter_async_context(
                        simulated_charger(way.csms.url, cid, version, state)
                    )
            answers: dict[int, dict[str, Any]] = {}
            for k in range(RE_PLANS):
                now["t"] = t0 + k * STEP
                if k in sessions:
                    assert api.post("/v1/sites/yard/sessions", json=sessions[k]).status_code == 202
                if k in transactions_start:
                    cid, tid = transactions_start[k]
                    for way in ways.values():
                        await way.simulators[cid].start_transaction(1, tid)
                    if cid == "cp-b":  # the CSMS learns the id the 2.0.1 charger chose
                        patched = api.patch(
                            "/v1/sites/yard/sessions/s-b", json={"transaction_id": tid}
                        )
                        assert patched.status_code == 200
                if k == 12:  # s-c leaves: the charger ends its transaction, the CSMS tells us
                    for way in ways.values():
                        await way.simulators["cp-c"].stop_transaction(1)
                    assert api.delete("/v1/sites/yard/sessions/s-c").status_code == 204
                answer = replan_at(api, "yard", now["t"])
                version = k + 1
                answers[version] = answer
                for name, way in ways.items():
                    if k % way.every == 0:
                        statuses = await sync(api, way, version)
                        assert set(statuses) <= {"Accepted"}, (name, k, statuses)
                    assert way.applied is not None
                    messages = answers[way.applied]["ocpp"]
                    for cid in CHARGERS:
                        side = await way.csms.charger(cid)
                        got = await get_composite_schedule(side, 1, window_s[name], "A")
                        want = fresh_composite(
                            cid, way.state(cid), messages, now["t"], window_s[name]
                        )
                        assert got.periods == want, f"{name}: {cid} after re-plan {version}"
                # The meters: each started EV got its plan's first slot.
                for entry in answer["sessions"]:
                    if entry["id"] == "s-b" and k < 4:
                        continue
                    delivered_kwh[entry["id"]] = (
                        delivered_kwh.get(entry["id"], 0.0) + entry["power_kw"][0] * 0.25
                    )
                    metered = api.patch(
                        f"/v1/sites/yard/sessions/{entry['id']}",
                        json={"energy_delivered_kwh": delivered_kwh[entry["id"]]},
                    )
                    assert metered.status_code == 200, metered.text
            # What the runs went through: a session awaiting its transaction, then its TxProfile.
            assert answers[1]["pending_transactions"] == []
            assert [p["session_id"] for p in answers[2]["pending_transactions"]] == ["s-b"]
            assert answers[5]["pending_transactions"] == []
            # s-a's TxProfile, changed or not, reached its charger at least every half horizon.
            every = ways["every re-plan, from the previous version"]
            sent = [v for v, m in every.pushed if m["session_id"] == "s-a"]
            assert sent[0] == 1 and len(sent) < RE_PLANS
            assert max(b - a for a, b in itertools.pairwise([*sent, RE_PLANS + 1])) <= SLOTS // 2

    with make_api(debounce_s=86400.0, max_wait_s=86400.0) as api:
        api.post("/v1/sites", json=document)
        asyncio.run(asyncio.wait_for(scenario(api), timeout=300))


def test_plans_stored_before_the_record_was_kept(api: Api) -> None:
    """Plans from before migration 0004 have no record: a delta across one re-sends everything,
    and the next plan starts a record of its own."""
    from sqlalchemy import update

    from smartcharge.api.store.tables import Schedule

    api.post("/v1/sites", json=site_document("depot", chargers=2))
    api.post("/v1/sites/depot/sessions", json=arrival("s-0", "cp-0", 8.0))
    api.settle()
    old = api.get("/v1/sites/depot/schedule").json()["version"]
    database = open_database(api.url)
    with database.transaction() as session:
        session.execute(update(Schedule).values(profiles_sent=None))
    everything = api.get("/v1/sites/depot/profiles").json()["profiles"]
    assert api.get(f"/v1/sites/depot/profiles?since={old}").json()["profiles"] == []

    api.patch("/v1/sites/depot/sessions/s-0", json={"energy_kwh": 7.5})
    api.settle()
    new = api.get("/v1/sites/depot/schedule").json()["version"]
    across = api.get(f"/v1/sites/depot/profiles?since={old}").json()
    assert across["version"] == new > old
    assert len(across["profiles"]) == len(everything) and across["cleared"] == []
    assert api.get(f"/v1/sites/depot/profiles?since={new}").json()["profiles"] == []


def test_migration_0004_adds_and_drops_the_record(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from smartcharge.api.store.database import MIGRATIONS, Database

    database = Database(f"sqlite:///{tmp_path}/migrate.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def columns() -> set[str]:
        return {c["name"] for c in inspect(database.engine).get_columns("schedules")}

    for move, target in (
        (command.upgrade, "0002"),
        (command.upgrade, "0004"),
        (command.downgrade, "0002"),
    ):
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            move(config, target)
        assert ("profiles_sent" in columns()) == (target == "0004")
