"""The independent checker on SPEC §4 (batteries, V2G, phase switching): a tiny site whose
correct answer is worked out by hand, and each rule caught where and by how much when it is
broken (an absent rule would let its case through).

The site (230 V, 2 slots of 15 min, 0.25 h each): import 50 kW, export 20 kW, 100 A per
phase; base load 5 kW, no PV; import 0.2, export 0.05 per kWh.

    panel (20 kW, 40 A)  <- cp-v2g (AC 3-phase 16 A, OCPP 2.1, bidirectional), bess-1
    cp-sw (AC 3-phase 16 A, OCPP 2.0.1, phase switching), on no circuit

    bess-1: 10 kWh at the start, 2..18 kWh, ends >= 9 kWh, 10 kW each way, eta 0.81
            (0.9 each way), 0.1 per kWh discharged. Power 8, -7.2 kW: 10 + 8 x 0.9 x 0.25 =
            11.8, then 11.8 - 7.2 / 0.9 x 0.25 = 9.8 kWh; cycle cost 0.1 x 7.2 x 0.25 = 0.18.
    s-v2g:  wants 1.035 kWh, may discharge 6.9 kW and 2 kWh: 16 A, then -10 A (11.04, -6.9
            kW); net 1.035 kWh (all it wants), discharged 1.725 kWh.
    s-sw:   wants 3 kWh: 10 A on three phases, then 10 A on one (6.9, 2.3 kW): 2.3 kWh.

Site: charging 17.94, -4.6 kW; net 5 + charging + battery = 30.94, -6.8 kW. Panel: 19.04,
-14.1 kW; per phase 16 + 8 / 0.69 = 27.59 A, then -10 - 7.2 / 0.69 = -20.43 A. Grid L1 in slot
0: 16 + 10 + 11.59 + 7.25 (base) = 44.84 A.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from smartcharge.optimizer.check import Violation, check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem
from tests.test_check import assert_found, patched

START = datetime(2026, 11, 24, 6, 0, tzinfo=timezone(timedelta(hours=1)))
V2G, SWITCHING = 0, 1


def at(slot: float) -> str:
    return (START + timedelta(minutes=15 * slot)).isoformat()


PROBLEM: dict[str, Any] = {
    "site": {
        "id": "tiny-storage",
        "grid": {"import_limit_kw": 50, "export_limit_kw": 20, "phase_limit_a": 100},
        "circuits": [{"id": "panel", "limit_kw": 20, "phase_limit_a": 40}],
        "chargers": [
            {
                "id": "cp-v2g",
                "circuit": "panel",
                "phases": 3,
                "max_current_a": 16,
                "ocpp_version": "2.1",
                "bidirectional": True,
            },
            {
                "id": "cp-sw",
                "phases": 3,
                "max_current_a": 16,
                "ocpp_version": "2.0.1",
                "phase_switching": True,
            },
        ],
        "batteries": [
            {
                "id": "bess-1",
                "circuit": "panel",
                "capacity_kwh": 20,
                "soc_kwh": 10,
                "min_soc_kwh": 2,
                "max_soc_kwh": 18,
                "final_soc_kwh": 9,
                "max_charge_kw": 10,
                "max_discharge_kw": 10,
                "efficiency": 0.81,
                "cycle_cost_per_kwh": 0.1,
            }
        ],
    },
    "horizon": {"start": START.isoformat(), "step_minutes": 15, "slots": 2},
    "tariff": {"import_price_per_kwh": 0.2, "export_price_per_kwh": 0.05},
    "base_load_kw": 5.0,
    "pv_kw": 0.0,
    "sessions": [
        {
            "id": "s-v2g",
            "charger_id": "cp-v2g",
            "transaction_id": "1",
            "arrival": at(-1),
            "departure": at(2),
            "energy_kwh": 1.035,
            "discharge": {"max_power_kw": 6.9, "max_energy_kwh": 2},
        },
        {
            "id": "s-sw",
            "charger_id": "cp-sw",
            "transaction_id": "2",
            "arrival": at(-1),
            "departure": at(2),
            "energy_kwh": 3,
        },
    ],
}

ANSWER: dict[str, Any] = {
    "status": "optimal",
    "warnings": [],
    "kpis": {
        "energy_requested_kwh": 4.035,
        "energy_wanted_kwh": 4.035,
        "energy_delivered_kwh": 3.335,
        "unmet_kwh": 0.7,
        "import_cost": 1.547,
        "export_revenue": 0.085,
        "demand_charge": 0.0,
        "total_cost": 1.462,
        "peak_import_kw": 30.94,
        "peak_so_far_kw": 0.0,
        "pv_used_kwh": 0.0,
        "pv_curtailed_kwh": 0.0,
        "battery_cycle_cost": 0.18,
        "v2g_discharged_kwh": 1.725,
    },
    "site": {
        "slot_start": [at(0), at(1)],
        "import_kw": [30.94, 0.0],
        "export_kw": [0.0, 6.8],
        "charging_kw": [17.94, -4.6],
        "base_load_kw": [5.0, 5.0],
        "pv_kw": [0.0, 0.0],
        "pv_available_kw": [0.0, 0.0],
        "import_limit_kw": [50, 50],
        "export_limit_kw": [20, 20],
        "phase_limit_a": [100, 100],
        "import_price_per_kwh": [0.2, 0.2],
        "export_price_per_kwh": [0.05, 0.05],
        "battery_kw": [8.0, -7.2],
    },
    "batteries": [{"id": "bess-1", "power_kw": [8.0, -7.2], "soc_kwh": [11.8, 9.8]}],
    "sessions": [
        {
            "id": "s-v2g",
            "charger_id": "cp-v2g",
            "current_a": [16.0, -10.0],
            "power_kw": [11.04, -6.9],
            "energy_kwh": 1.035,
            "unmet_kwh": 0.0,
            "discharged_kwh": 1.725,
            "limited_by": [],
        },
        {
            "id": "s-sw",
            "charger_id": "cp-sw",
            "current_a": [10.0, 10.0],
            "power_kw": [6.9, 2.3],
            "phases_used": [3, 1],
            "energy_kwh": 2.3,
            "unmet_kwh": 0.7,
            "limited_by": [],
        },
    ],
}


def violations(problem_changes=None, answer_changes=None) -> list[Violation]:
    problem = patched(PROBLEM, problem_changes or {})
    return check_answer(parse_problem(problem), patched(ANSWER, answer_changes or {}))


def test_the_hand_made_answer_is_correct():
    found = violations()
    assert not found, format_violations(found)


BATTERY = ("site", "batteries", 0)
V2G_SESSION = ("sessions", V2G)
ALL_PHASES = ("L1", "L2", "L3")

CASES = [
    (
        "battery-charge-power",
        {(*BATTERY, "max_charge_kw"): 7},
        {},
        [("battery_power", "battery:bess-1", 0, 1.0)],
    ),
    (
        "battery-discharge-power",
        {(*BATTERY, "max_discharge_kw"): 7},
        {},
        [("battery_power", "battery:bess-1", 1, 0.2)],
    ),
    (
        "battery-soc-dynamics",
        {},
        {("batteries", 0, "soc_kwh", 0): 12.0},
        [("battery_soc", "battery:bess-1", 0, 0.2)],
    ),
    (
        "battery-soc-above-max",
        {(*BATTERY, "max_soc_kwh"): 11.5},
        {},
        [("battery_soc_range", "battery:bess-1", 0, 0.3)],
    ),
    (
        "battery-soc-below-min",
        {(*BATTERY, "min_soc_kwh"): 9.9, (*BATTERY, "final_soc_kwh"): 9.9},
        {},
        [
            ("battery_soc_range", "battery:bess-1", 1, 0.1),
            ("battery_final", "battery:bess-1", 1, 0.1),
        ],
    ),
    (
        "battery-final",
        {(*BATTERY, "final_soc_kwh"): 10},
        {},
        [("battery_final", "battery:bess-1", 1, 0.2)],
    ),
    (
        "battery-in-the-balance",
        {},
        {
            ("batteries", 0, "power_kw", 0): 0.0,
            ("batteries", 0, "soc_kwh"): [10.0, 8.0],
            ("kpis", "battery_cycle_cost"): 0.18,
        },
        [("balance", "grid", 0, 8.0), ("battery_final", "battery:bess-1", 1, 1.0)],
    ),
    (
        "battery-in-its-circuit-kw",
        {("site", "circuits", 0, "limit_kw"): 19},
        {},
        [("circuit_power", "circuit:panel", 0, 0.04)],
    ),
    (
        "battery-in-its-circuit-phases",
        {("site", "circuits", 0, "phase_limit_a"): 27},
        {},
        [("circuit_phase", f"circuit:panel:{p}", 0, 8 / 0.69 + 16 - 27) for p in ALL_PHASES],
    ),
    (
        "battery-on-the-grid-phases",
        {("site", "grid", "phase_limit_a"): 44},
        {("site", "phase_limit_a"): [44, 44]},
        [("grid_phase", f"grid:{p}", 0, 26 + 8 / 0.69 + 5 / 0.69 - 44) for p in ALL_PHASES],
    ),
    ("battery-missing", {}, {("batteries",): []}, None),
    (
        "battery-cycle-cost",
        {},
        {("kpis", "battery_cycle_cost"): 0.0},
        [("kpi", "kpis.battery_cycle_cost", None, 0.18)],
    ),
    (
        "v2g-power",
        {(*V2G_SESSION, "discharge", "max_power_kw"): 6},
        {},
        [("v2g_discharge_max", "session:s-v2g", 1, 0.9)],
    ),
    (
        "v2g-energy",
        {(*V2G_SESSION, "discharge", "max_energy_kwh"): 1.5},
        {},
        [("v2g_energy", "session:s-v2g", None, 0.225)],
    ),
    (
        "v2g-short",
        {(*V2G_SESSION, "energy_kwh"): 3},
        {
            ("sessions", V2G, "unmet_kwh"): 1.965,
            ("kpis", "unmet_kwh"): 2.665,
            ("kpis", "energy_requested_kwh"): 6.0,
            ("kpis", "energy_wanted_kwh"): 6.0,
        },
        [("v2g_short", "session:s-v2g", None, 1.965)],
    ),
    (
        "v2g-report",
        {},
        {("sessions", V2G, "discharged_kwh"): 1.0},
        [("v2g_report", "session:s-v2g", None, 1)],
    ),
    (
        "discharge-without-v2g",
        {(*V2G_SESSION, "discharge"): None},
        {},
        [
            ("negative_power", "session:s-v2g", 1, 10.0),
            ("kpi", "kpis.v2g_discharged_kwh", None, 1.725),
        ],
    ),
    (
        "v2g-kpi",
        {},
        {("kpis", "v2g_discharged_kwh"): 0.0},
        [("kpi", "kpis.v2g_discharged_kwh", None, 1.725)],
    ),
    (
        "too-many-switches",
        {("options",): {"max_phase_switches": 0}},
        {},
        [("phase_switches", "session:s-sw", None, 1)],
    ),
    (
        "phases-not-1-or-3",
        {},
        {("sessions", SWITCHING, "phases_used"): [3, 2]},
        [("phases_used", "session:s-sw", None, 2), ("power_current", "session:s-sw", 1, 4.6)],
    ),
    (
        "phases-missing",
        {},
        {("sessions", SWITCHING, "phases_used"): None},
        [("phases_used", "session:s-sw", None, 2), ("power_current", "session:s-sw", 1, 4.6)],
    ),
    (
        "one-phase-power",
        {},
        {("sessions", SWITCHING, "phases_used"): [3, 3]},
        [("power_current", "session:s-sw", 1, 4.6)],
    ),
    (
        "switching-not-allowed",
        {("site", "chargers", 1, "phase_switching"): False},
        {},
        [("phases_used", "session:s-sw", None, 1), ("power_current", "session:s-sw", 1, 4.6)],
    ),
]


@pytest.mark.parametrize(
    ("problem_changes", "answer_changes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_storage_rule_is_caught_where_and_by_how_much(
    problem_changes, answer_changes, expected
):
    found = violations(problem_changes, answer_changes)
    if expected is None:  # the battery's entry is gone: it cannot be read, nothing adds up
        assert {"battery_entries", "balance"} <= {v.rule for v in found}, format_violations(found)
        return
    assert_found(found, expected)


def test_a_final_state_missed_with_a_warning_naming_the_battery_is_accepted():
    warning = "battery 'bess-1' can reach only 9.8 kWh: its final_soc_kwh 10 is not met"
    found = violations({(*BATTERY, "final_soc_kwh"): 10}, {("warnings",): [warning]})
    assert not found, format_violations(found)


@pytest.mark.parametrize(("rotation", "spared"), [(None, "L1"), ("L2L3L1", "L2")])
def test_one_phase_current_is_on_the_chargers_first_phase_after_rotation(rotation, spared):
    """In slot 1 every grid phase carries 7.25 A of base load, -10 A of V2G and -10.43 A of
    battery: -13.19 A, beyond a reverse limit of 13 A, except the phase the switching EV's
    one-phase 10 A is on (the charger's first phase: grid L1, or L2 when wired L2L3L1)."""
    changes = {
        ("site", "chargers", 1, "phase_rotation"): rotation,
        ("site", "grid", "phase_limit_a"): [100, 13],
    }
    found = violations(changes, {("site", "phase_limit_a"): [100, 13]})
    broken = {v.entity for v in found if v.rule == "grid_phase" and v.slot == 1}
    assert broken == {f"grid:{p}" for p in ALL_PHASES} - {f"grid:{spared}"}, format_violations(
        found
    )
    assert {v.rule for v in found} == {"grid_phase"}


def test_a_v2g_session_drained_below_where_it_started_is_caught():
    """Without its 16 A in slot 0 s-v2g ends 1.725 kWh net below where it arrived: the driver
    would pay for the site's discharge with range (the rest of the answer no longer adds up
    either)."""
    found = violations(
        {}, {("sessions", V2G, "current_a", 0): 0.0, ("sessions", V2G, "power_kw", 0): 0.0}
    )
    range_faults = [v for v in found if v.rule == "v2g_range"]
    assert [(v.entity, round(v.amount, 6)) for v in range_faults] == [("session:s-v2g", 1.725)]
