"""OCPP payloads from hand-made answers: official schemas, our rules, periods, ids, defaults."""

from __future__ import annotations

import asyncio
import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.api.ocpp.limits import ceil_tenths, floor_tenths, schedule_periods
from smartcharge.api.ocpp.payloads import build_ocpp_messages, pending_transactions, profile_id
from smartcharge.api.ocpp.validation import (
    OcppPayloadError,
    validate_ocpp_message,
    validate_payload,
)
from smartcharge.optimizer.problem import GRID_PHASES, Problem, parse_problem, session_phases
from tests.builders import at, charger, problem, session

V = 230.0
STEP_S = 900
FAST = settings(max_examples=60, deadline=None, derandomize=True)


# --- helpers: hand-made answers and reading payloads back -------------------------------------


def answer_for(doc: dict, plans: dict[str, list[float]], base_kw: float = 0.0) -> dict:
    """A SPEC §2 answer without "ocpp": per-session current [A] (AC) or power [kW] (DC)."""
    parsed = parse_problem(doc)
    chargers = {c.id: c for c in parsed.site.chargers}
    sessions, charging_kw = [], np.zeros(parsed.horizon.slots)
    for s in parsed.sessions:
        c = chargers[s.charger_id]
        plan = np.asarray(plans.get(s.id, [0.0] * parsed.horizon.slots), dtype=float)
        power_kw = plan if c.kind == "dc" else plan * V * session_phases(s, c) / 1000
        charging_kw += power_kw
        current = None if c.kind == "dc" else plan.tolist()
        sessions.append(
            {"id": s.id, "charger_id": c.id, "current_a": current, "power_kw": power_kw.tolist()}
        )
    base = np.full(parsed.horizon.slots, base_kw)
    zeros = np.zeros(parsed.horizon.slots).tolist()
    site = {
        "import_kw": (base + charging_kw).tolist(),
        "export_kw": zeros,
        "charging_kw": charging_kw.tolist(),
        "base_load_kw": base.tolist(),
        "pv_kw": zeros,
        "pv_available_kw": zeros,
    }
    return {"status": "optimal", "site": site, "sessions": sessions}


def schedule_of(message: dict) -> dict:
    payload = message["payload"]
    if message["ocpp_version"] == "1.6":
        return payload["csChargingProfiles"]["chargingSchedule"]
    return payload["chargingProfile"]["chargingSchedule"][0]


def profile_of(message: dict) -> dict:
    payload = message["payload"]
    return payload.get("csChargingProfiles") or payload["chargingProfile"]


def per_slot(message: dict, slots: int) -> np.ndarray:
    """The limit in force in each slot, read back from the periods."""
    periods = schedule_of(message)["chargingSchedulePeriod"]
    values = np.zeros(slots)
    for i, period in enumerate(periods):
        end = periods[i + 1]["startPeriod"] if i + 1 < len(periods) else slots * STEP_S
        values[period["startPeriod"] // STEP_S : end // STEP_S] = period["limit"]
    return values


def expand(periods: list, slots: int) -> np.ndarray:
    values = np.zeros(slots, dtype=np.int64)
    for i, (start, step) in enumerate(periods):
        end = periods[i + 1][0] if i + 1 < len(periods) else slots * STEP_S
        values[start // STEP_S : end // STEP_S] = step.limit_tenths
    return values


def one_session(charger_fields: dict, session_fields: dict, current_a: list[float]) -> tuple:
    doc = problem(
        [charger("c1", max_current_a=32, **charger_fields)],
        [session("s1", "c1", 20.0, transaction_id="4711", **session_fields)],
        options={"include_default_profiles": False},
    )
    return parse_problem(doc), answer_for(doc, {"s1": current_a})


# --- the 0.1 grid and periods ------------------------------------------------------------------


def test_limits_floor_to_a_tenth_exactly():
    assert floor_tenths([21.46, 21.4, 15.99999, 6.0, 0.1 + 0.2, 0.0]).tolist() == [
        214,
        214,
        159,
        60,
        3,
        0,
    ]
    assert floor_tenths(11.04, scale=1000) == 110400  # kW -> W, no float artefact
    assert ceil_tenths(6.05) == 61 and ceil_tenths(6.0) == 60


def test_equal_neighbours_merge():
    periods = schedule_periods([160, 160, 0, 0, 160], 3, STEP_S, 24)
    assert [(start, step.limit_tenths) for start, step in periods] == [
        (0, 160),
        (1800, 0),
        (3600, 160),
    ]


def kept_energy(plan: np.ndarray, max_periods: int) -> int:
    """Brute force: the most energy any downward coarsening into max_periods segments keeps."""
    best = 0
    for cuts in itertools.combinations(range(1, plan.size), min(max_periods, plan.size) - 1):
        bounds = [0, *cuts, plan.size]
        kept = sum(plan[a:b].min() * (b - a) for a, b in itertools.pairwise(bounds))
        best = max(best, kept)
    return best


limit_tenths = st.one_of(st.just(0), st.integers(60, 320))


@FAST
@given(st.lists(limit_tenths, min_size=1, max_size=9), st.integers(1, 5))
def test_coarsening_stays_under_the_plan_and_keeps_the_most_energy(plan, max_periods):
    plan = np.array(plan)
    periods = schedule_periods(plan, 3, STEP_S, max_periods)
    starts = [start for start, _ in periods]
    assert starts[0] == 0 and all(b > a for a, b in itertools.pairwise(starts))
    assert len(periods) <= max_periods
    emitted = expand(periods, plan.size)
    assert (emitted <= plan).all()
    assert not ((emitted > 0) & (emitted < 60)).any()
    assert emitted.sum() == kept_energy(plan, max_periods)


def test_long_schedules_coarsen_greedily_then_exactly():
    plan = np.random.default_rng(7).choice([0, 60, 95, 160, 320], size=600)
    periods = schedule_periods(plan, 3, STEP_S, 24)
    emitted = expand(periods, plan.size)
    assert len(periods) <= 24 and (emitted <= plan).all()


# --- session payloads --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("unit", ["A", "W"])
def test_payloads_validate_and_carry_unit_phases_and_transaction(version, unit):
    """A one-phase EV on a three-phase charger: numberPhases 1, W = A x 230 x 1."""
    parsed, answer = one_session(
        {"ocpp_version": version, "charging_rate_unit": unit}, {"phases": 1}, [21.46, 21.4, 0, 6]
    )
    [message] = build_ocpp_messages(parsed, answer)
    validate_ocpp_message(message, parsed.site.chargers)  # official schema + our rules
    profile, schedule = profile_of(message), schedule_of(message)
    if version == "1.6":
        assert message["payload"]["connectorId"] == 1
        assert profile["transactionId"] == 4711
    else:
        assert message["payload"]["evseId"] == 1
        assert profile["transactionId"] == "4711"
    assert profile["chargingProfileKind"] == "Absolute"
    assert profile["stackLevel"] == 1
    assert schedule["startSchedule"] == "2026-11-24T05:00:00Z"
    assert schedule["duration"] == 4 * STEP_S
    assert schedule["chargingRateUnit"] == unit
    periods = schedule["chargingSchedulePeriod"]
    assert {p["numberPhases"] for p in periods} == {1}
    expected = [21.4, 0, 6] if unit == "A" else [4922, 0, 1380]
    assert [p["limit"] for p in periods] == expected
    assert [p["startPeriod"] for p in periods] == [0, 2 * STEP_S, 3 * STEP_S]


def test_dc_is_in_watts_on_three_phases():
    doc = problem(
        [{"id": "dc1", "kind": "dc", "max_power_kw": 50, "ocpp_version": "2.0.1"}],
        [session("s1", "dc1", 20.0, transaction_id="tx-9")],
    )
    messages = build_ocpp_messages(parse_problem(doc), answer_for(doc, {"s1": [11.04] * 4}))
    schedule = schedule_of(messages[0])
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11040, "numberPhases": 3}
    ]


def test_a_session_planned_at_zero_gets_a_zero_profile():
    parsed, answer = one_session({}, {}, [0, 0, 0, 0])
    [message] = build_ocpp_messages(parsed, answer)
    assert schedule_of(message)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 0, "numberPhases": 3}
    ]


def test_below_the_minimum_is_a_pause():
    parsed, answer = one_session({"min_current_a": 6}, {}, [5.9, 6.0, 16.0, 16.0])
    [message] = build_ocpp_messages(parsed, answer)
    assert per_slot(message, 4).tolist() == [0, 6, 16, 16]


def test_max_periods_coarsens_downward_through_the_payload():
    plan = [6, 32, 7, 31, 0, 30, 8, 29]
    doc = problem(
        [charger("c1", max_current_a=32, max_periods=3)],
        [session("s1", "c1", 90.0, departure=at(8))],
        slots=8,
        options={"include_default_profiles": False},
    )
    [message] = build_ocpp_messages(parse_problem(doc), answer_for(doc, {"s1": plan}))
    emitted = per_slot(message, 8)
    assert len(schedule_of(message)["chargingSchedulePeriod"]) <= 3
    assert (emitted <= np.array(plan)).all()
    assert not ((emitted > 0) & (emitted < 6)).any()


def test_profile_ids_are_stable_across_calls_and_processes():
    expected = zlib.crc32(b"test-site\x1fc1\x1fTxProfile\x1f1") & 0x7FFFFFFF
    assert profile_id("test-site", "c1", "TxProfile", 1) == expected  # no hash() salt
    assert profile_id("test-site", "c1", "TxDefaultProfile", 0) != expected
    parsed, answer = one_session({}, {}, [16, 16, 0, 0])
    first, again = build_ocpp_messages(parsed, answer), build_ocpp_messages(parsed, answer)
    assert profile_of(first[0])["chargingProfileId"] == expected
    assert first == again


def test_tx_default_profile_purpose_when_the_charger_rejects_tx_profile():
    doc = problem(
        [charger("c1", profile_purpose="TxDefaultProfile")],
        [
            session("s1", "c1", 5.0, transaction_id="1", departure=at(2)),
            session("s2", "c1", 5.0, transaction_id="2", arrival=at(2)),
        ],
    )
    parsed = parse_problem(doc)
    messages = build_ocpp_messages(parsed, answer_for(doc, {"s1": [16, 8, 0, 0], "s2": [0] * 4}))
    plans = [m for m in messages if m["session_id"]]
    default = next(m for m in messages if m["session_id"] is None)
    for message in plans:
        assert profile_of(message)["chargingProfilePurpose"] == "TxDefaultProfile"
        assert "transactionId" not in profile_of(message)
        # Both carry the charger's whole plan: they share one id, the last one sent stays.
        assert per_slot(message, 4).tolist() == [16, 8, 0, 0]
    assert profile_of(plans[0])["chargingProfileId"] == profile_of(plans[1])["chargingProfileId"]
    assert profile_of(default)["stackLevel"] == 0
    assert profile_of(default)["chargingProfileId"] != profile_of(plans[0])["chargingProfileId"]
    assert "duration" not in schedule_of(default)  # the floor outlives the horizon


def test_no_separate_default_where_the_plan_is_the_stack_0_default():
    doc = problem(
        [charger("c1", profile_purpose="TxDefaultProfile", stack_level=0), charger("c2")],
        [session("s1", "c1", 5.0)],
    )
    messages = build_ocpp_messages(parse_problem(doc), answer_for(doc, {"s1": [16] * 4}))
    assert [(m["charger_id"], m["session_id"]) for m in messages] == [("c1", "s1"), ("c2", None)]


def test_a_session_awaiting_its_transaction_gets_a_tx_default_profile_not_a_tx_profile():
    doc = problem(
        [charger("c1"), charger("c2", ocpp_version="2.0.1"), charger("c3")],
        [
            session("s1", "c1", 5.0, transaction_id=None, arrival=at(1)),
            session("s2", "c2", 5.0, transaction_id=None),
            session("s3", "c3", 5.0),
        ],
        import_limit_kw=40.0,
    )
    parsed = parse_problem(doc)
    answer = answer_for(doc, {"s1": [0, 16, 8, 8], "s2": [16, 16, 0, 0], "s3": [10] * 4})
    messages = build_ocpp_messages(parsed, answer)
    by_session = {m["session_id"]: m for m in messages if m["session_id"]}
    assert {s: m["purpose"] for s, m in by_session.items()} == {
        "s1": "TxDefaultProfile",
        "s2": "TxDefaultProfile",
        "s3": "TxProfile",
    }
    defaults = {m["charger_id"]: m for m in messages if m["session_id"] is None}
    assert set(defaults) == {"c1", "c2", "c3"}  # the stack-0 fail-safe stays under it
    s1 = by_session["s1"]
    assert profile_of(s1)["stackLevel"] == 1 and "transactionId" not in profile_of(s1)
    assert profile_of(s1)["chargingProfileId"] == profile_id(
        doc["site"]["id"], "c1", "TxDefaultProfile", 1
    )
    # s1 arrives in slot 1: before, the profile is the fail-safe default (the charger is idle).
    fail_safe = per_slot(defaults["c1"], 4)
    assert per_slot(s1, 4).tolist() == [fail_safe[0], 16, 8, 8]
    assert fail_safe[0] > 0
    pending = pending_transactions(parsed, answer)
    assert [(p["session_id"], p["planned_limit"]) for p in pending] == [
        ("s1", [None, 16, 8, 8]),
        ("s2", [16, 16, 0, 0]),
    ]
    assert (pending[0]["connector_id"], pending[0]["evse_id"]) == (1, None)
    assert (pending[1]["connector_id"], pending[1]["evse_id"]) == (None, 1)


def test_at_stack_level_0_a_waiting_session_takes_the_fail_safe_defaults_place():
    doc = problem(
        [charger("c1", stack_level=0), charger("c2", stack_level=0)],
        [session("s1", "c1", 5.0, transaction_id=None), session("s2", "c2", 5.0)],
    )
    messages = build_ocpp_messages(parse_problem(doc), answer_for(doc, {"s1": [16] * 4}))
    assert [(m["charger_id"], m["session_id"], m["purpose"]) for m in messages] == [
        ("c1", "s1", "TxDefaultProfile"),
        ("c2", "s2", "TxProfile"),
        ("c2", None, "TxDefaultProfile"),
    ]
    waiting = messages[0]
    assert profile_of(waiting)["chargingProfileId"] == profile_id(
        doc["site"]["id"], "c1", "TxDefaultProfile", 0
    )
    assert "duration" not in schedule_of(waiting)  # it holds after the horizon, like the default


def test_a_waiting_session_rides_on_a_tx_default_profile_without_default_profiles_too():
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 5.0, transaction_id=None, departure=at(2))],
        options={"include_default_profiles": False},
    )
    messages = build_ocpp_messages(parse_problem(doc), answer_for(doc, {"s1": [8, 8, 0, 0]}))
    assert [(m["session_id"], m["purpose"]) for m in messages] == [("s1", "TxDefaultProfile")]
    # After the EV leaves the charger may take the fail-safe share (all of a loose site here).
    assert per_slot(messages[0], 4).tolist() == [8, 8, 16, 16]


# --- validation --------------------------------------------------------------------------------


def test_validation_lists_what_the_schema_and_our_rules_reject():
    parsed, answer = one_session({"max_periods": 2}, {}, [16, 8, 16, 16])
    [message] = build_ocpp_messages(parsed, answer)
    periods = schedule_of(message)["chargingSchedulePeriod"]
    periods[0]["startPeriod"] = 60
    periods[1]["limit"] = 3.0
    periods.append({"startPeriod": 30, "limit": 6})
    profile_of(message)["chargingProfilePurpose"] = "TxDefaultProfile"
    schedule_of(message)["startSchedule"] = "2026-11-24T06:00:00+01:00"
    with pytest.raises(OcppPayloadError) as error:
        validate_ocpp_message(message, parsed.site.chargers)
    for reason in (
        "first period starts at 60",
        "not strictly ascending",
        "more than max_periods",
        "between 0 and the minimum",
        "startSchedule in UTC",
        "transactionId is only valid with a TxProfile",
    ):
        assert reason in str(error.value)


def test_the_official_schemas_decide_types_and_precision():
    parsed, answer = one_session({}, {}, [21.4] * 4)
    [message] = build_ocpp_messages(parsed, answer)
    validate_payload("SetChargingProfile", message["payload"], "1.6")  # 21.4 is a multiple of 0.1
    schedule_of(message)["chargingSchedulePeriod"][0]["limit"] = 21.45
    with pytest.raises(OcppPayloadError, match=r"not a multiple of 0\.1"):
        validate_payload("SetChargingProfile", message["payload"], "1.6")
    del message["payload"]["connectorId"]
    with pytest.raises(OcppPayloadError, match="'connectorId' is a required property"):
        validate_payload("SetChargingProfile", message["payload"], "1.6")
    parsed, answer = one_session({"ocpp_version": "2.0.1"}, {}, [16] * 4)
    [message] = build_ocpp_messages(parsed, answer)
    profile_of(message)["transactionId"] = 4711
    with pytest.raises(OcppPayloadError, match="is not of type 'string'"):
        validate_payload("SetChargingProfile", message["payload"], "2.0.1")


def test_validation_also_runs_inside_an_event_loop():
    parsed, answer = one_session({}, {}, [16] * 4)
    [message] = build_ocpp_messages(parsed, answer)

    async def handler() -> None:
        validate_payload("SetChargingProfile", message["payload"], "1.6")

    asyncio.run(handler())


# --- default profiles --------------------------------------------------------------------------


def hand_computed_site() -> tuple[Problem, dict]:
    """Three 16 A chargers; c1 and c2 under a 16 A panel; c1 charges 10 A in slot 0 only."""
    doc = problem(
        [charger("c1", circuit="panel"), charger("c2", circuit="panel"), charger("c3")],
        [session("s1", "c1", 5.0, departure=at(1))],
        slots=2,
        import_limit_kw=30.0,
        grid={"phase_limit_a": 40.0},
        circuits=[{"id": "panel", "phase_limit_a": 16.0}],
        base_load_kw=10.0,
    )
    return parse_problem(doc), answer_for(doc, {"s1": [10, 0]}, base_kw=10.0)


def test_default_profiles_match_a_hand_computed_case():
    """Slot 0: grid phases have 40 - 10 (plan) - 14.49 (10 kW base) = 15.51 A for c2, c3
    (7.75 A each) and the panel 16 - 10 = 6 A for c2; import 30 - 16.9 = 13.1 kW allows 9.49 A.
    Slot 1: 25.51 A / 3 = 8.50 A on the grid, 16 A / 2 = 8 A on the panel. c1 gets what an idle
    charger under its limits gets."""
    parsed, answer = hand_computed_site()
    defaults = {
        m["charger_id"]: per_slot(m, 2).tolist()
        for m in build_ocpp_messages(parsed, answer)
        if m["session_id"] is None
    }
    assert defaults == {"c1": [6.0, 8.0], "c2": [6.0, 8.0], "c3": [7.7, 8.5]}
    # By summing: in slot 0, c2 and c3 start on top of the plan.
    grid_phase_a = 10 + 10_000 / (3 * V) + 6.0 + 7.7
    assert grid_phase_a <= 40 and 10 + 6.0 <= 16
    assert 10 + 10 * 3 * V / 1000 + (6.0 + 7.7) * 3 * V / 1000 <= 30


def test_a_per_slot_phase_limit_sets_each_slot_s_default():
    """A grid operator's 12 A cap in slot 1 (80 A, 40 A around it): base load 5 kW is 7.25 A per
    phase, 4.75 A are left, below the 6 A minimum: the idle charger's default is 0 there."""
    doc = problem(
        [charger("c1")], [], slots=3, grid={"phase_limit_a": [80.0, 12.0, 40.0]}, base_load_kw=5.0
    )
    [message] = build_ocpp_messages(parse_problem(doc), answer_for(doc, {}, base_kw=5.0))
    assert per_slot(message, 3).tolist() == [16.0, 0.0, 16.0]


@st.composite
def mixed_sites(draw):
    """Small sites with A, W and DC chargers, rotations, one circuit and a random feasible plan."""
    slots = 3
    chargers, sessions, plans = [], [], {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["A", "W", "dc"]))
        fields = {"circuit": "panel" if draw(st.booleans()) else None}
        if kind == "dc":
            fields |= {"kind": "dc", "max_power_kw": 20.0, "min_power_kw": 2.0}
        else:
            phases = draw(st.sampled_from([1, 3]))
            rotation = draw(st.sampled_from(["L1L2L3", "L3L1L2"] if phases == 3 else ["L2", "L3"]))
            fields |= {
                "phases": phases,
                "phase_rotation": rotation,
                "max_current_a": 16,
                "charging_rate_unit": kind,
            }
        chargers.append({"id": f"c{i}", **fields})
        if draw(st.booleans()):
            first = draw(st.integers(0, slots - 1))
            ev_phases = draw(st.sampled_from([1, 3]))
            awaits = {"transaction_id": None} if draw(st.booleans()) else {}
            sessions.append(
                session(f"s{i}", f"c{i}", 5.0, arrival=at(first), phases=ev_phases, **awaits)
            )
            low, high = (2.0, 20.0) if kind == "dc" else (6.0, 16.0)
            value = st.one_of(st.just(0.0), st.floats(low, high).map(lambda v: round(v, 1)))
            plans[f"s{i}"] = [0.0] * first + [draw(value) for _ in range(slots - first)]
    doc = problem(
        chargers,
        sessions,
        slots=slots,
        import_limit_kw=draw(st.sampled_from([20.0, 60.0])),
        # a per-slot cap too: a grid operator's window tightens one slot
        grid={"phase_limit_a": draw(st.sampled_from([40.0, 80.0, [80.0, 12.0, 40.0]]))},
        circuits=[{"id": "panel", "limit_kw": 15.0, "phase_limit_a": 25.0}],
        base_load_kw=5.0,
    )
    return doc, plans


@FAST
@given(mixed_sites())
def test_defaults_keep_every_limit_if_every_idle_charger_starts(site):
    """Summed independently, worst case: A on each wired phase, W / V on each, DC W / (3 V).

    Whatever the plan leaves under a limit (nothing if the plan itself breaks it) is all that
    the idle chargers together may draw at their defaults. A charger whose session awaits its
    transaction runs its TxDefaultProfile of stack 1 rather than the fail-safe of stack 0: in
    the slots the session covers, its plan; in the others it is what counts here.
    """
    doc, plans = site
    parsed = parse_problem(doc)
    answer = answer_for(doc, plans, base_kw=5.0)
    messages = build_ocpp_messages(parsed, answer)
    planned, extra = _draws(parsed, answer["sessions"]), _draws(parsed, [])
    planned["grid kW"] += 5.0
    planned["grid A"] += 5000 / (3 * V)
    waiting = {p["session_id"]: p for p in pending_transactions(parsed, answer)}
    ruling = {}  # per charger the default profile of the highest stack level
    for message in messages:
        if profile_of(message)["chargingProfilePurpose"] == "TxDefaultProfile":
            previous = ruling.get(message["charger_id"])
            if (
                previous is None
                or profile_of(previous)["stackLevel"] < profile_of(message)["stackLevel"]
            ):
                ruling[message["charger_id"]] = message
    for message in ruling.values():
        idle = _idle(parsed, message["charger_id"])
        limit = per_slot(message, parsed.horizon.slots)
        if message["session_id"] is not None:  # awaiting its transaction: the plan, elsewhere
            planned_limit = waiting[message["session_id"]]["planned_limit"]
            assert [v for v, i in zip(limit, idle, strict=True) if not i] == [
                v for v in planned_limit if v is not None
            ]
        _add_default(extra, parsed, message["charger_id"], limit * idle)
    grid = doc["site"]["grid"]
    limits = {
        "grid kW": grid["import_limit_kw"],
        "grid A": np.asarray(grid["phase_limit_a"]),
        "panel kW": 15.0,
        "panel A": 25.0,
    }
    for name, limit in limits.items():
        room = np.maximum(limit - planned[name], 0.0)
        assert (extra[name] <= room + 1e-6).all(), name


def _draws(parsed: Problem, entries: list[dict]) -> dict[str, np.ndarray]:
    """kW and per-grid-phase A of planned sessions, at the grid and under the panel."""
    slots, chargers = parsed.horizon.slots, {c.id: c for c in parsed.site.chargers}
    draws = {"grid kW": np.zeros(slots), "panel kW": np.zeros(slots)}
    draws |= {"grid A": np.zeros((3, slots)), "panel A": np.zeros((3, slots))}
    for s, entry in zip(parsed.sessions, entries, strict=False):
        c = chargers[s.charger_id]
        phase_a = np.zeros((3, slots))
        if c.kind == "dc":
            phase_a += np.array(entry["power_kw"]) * 1000 / (3 * V)
        else:
            for grid_phase in c.grid_phases[: session_phases(s, c)]:
                phase_a[GRID_PHASES.index(grid_phase)] += entry["current_a"]
        for where in ("grid", "panel") if c.circuit else ("grid",):
            draws[f"{where} kW"] += entry["power_kw"]
            draws[f"{where} A"] += phase_a
    return draws


def _add_default(draws: dict, parsed: Problem, charger_id: str, limit: np.ndarray) -> None:
    c = next(c for c in parsed.site.chargers if c.id == charger_id)
    in_watts = c.kind == "dc" or c.charging_rate_unit == "W"
    kw = limit / 1000 if in_watts else limit * V * c.phases / 1000
    per_phase = limit / (3 * V) if c.kind == "dc" else limit / V if in_watts else limit
    wired = np.array([g in c.grid_phases for g in GRID_PHASES], dtype=float)
    for where in ("grid", "panel") if c.circuit else ("grid",):
        draws[f"{where} kW"] += kw
        draws[f"{where} A"] += np.outer(wired, per_phase)


def _idle(parsed: Problem, charger_id: str) -> np.ndarray:
    """1 in the slots no session covers whole on this (TxProfile) charger, else 0."""
    horizon = parsed.horizon
    idle = np.ones(horizon.slots)
    for s in parsed.sessions:
        for t in range(horizon.slots):
            begin = horizon.start + t * horizon.step
            if (
                s.charger_id == charger_id
                and s.arrival <= begin < begin + horizon.step <= s.departure
            ):
                idle[t] = 0
    return idle
