"""The independent checker on a tiny site whose correct answer is worked out by hand.

The site (230 V, 4 slots of 15 min, so 0.25 h each):

    grid: import 60 kW, export 10 kW, 100 A per phase
    panel-a (30 kW, 40 A)  <- cp-rot (AC 3-phase, rotation L2L3L1, 32 A)
      panel-b (11.04 kW)   <- cp-ac  (AC 3-phase, 16 A)
    cp-dc (DC, 5..50 kW), on no circuit
    base load 6.9 kW; PV 0, 6.9, 13.8, 20.7 kW

    s-ac  on cp-ac,  3-phase, plugged in all horizon, wants 3.45 kWh: 10 A in slots 0, 1
    s-1ph on cp-rot, 1-phase, from slot 1 to 0.5 h past the end, wants 5 kWh: 10 A in 1, 2
    s-dc  on cp-dc,  from slot 0 to the middle of slot 3, wants 20 kWh: 6.9 kW, 13.8 kW in 1, 2

10 A on three phases is 6.9 kW, on one phase 2.3 kW; 6.9 kW DC is 10 A on each grid phase.
The one-phase EV draws on cp-rot's L1, which rotation L2L3L1 wires to grid L2.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from smartcharge.optimizer.check import Violation, check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem

START = datetime(2026, 11, 24, 6, 0, tzinfo=timezone(timedelta(hours=1)))
AC, ONE_PHASE, DC = 0, 1, 2  # session (and answer entry) positions


def at(slot: float) -> str:
    return (START + timedelta(minutes=15 * slot)).isoformat()


EARLIER = datetime(2026, 11, 23, 23, 45, tzinfo=START.tzinfo)  # 15 min before local midnight


def before(time: str) -> str:
    """`time` moved as far back as the horizon starting at EARLIER instead of START."""
    return (datetime.fromisoformat(time) - (START - EARLIER)).isoformat()


PROBLEM: dict[str, Any] = {
    "site": {
        "id": "tiny",
        "grid": {
            "import_limit_kw": 60,
            "export_limit_kw": 10,
            "phase_limit_a": 100,
            "voltage_v": 230,
        },
        "circuits": [
            {"id": "panel-a", "parent": None, "limit_kw": 30, "phase_limit_a": 40},
            {"id": "panel-b", "parent": "panel-a", "limit_kw": 11.04},
        ],
        "chargers": [
            {"id": "cp-ac", "circuit": "panel-b", "phases": 3, "max_current_a": 16},
            {
                "id": "cp-rot",
                "circuit": "panel-a",
                "phases": 3,
                "phase_rotation": "L2L3L1",
                "max_current_a": 32,
            },
            {"id": "cp-dc", "kind": "dc", "max_power_kw": 50, "min_power_kw": 5},
        ],
    },
    "horizon": {"start": START.isoformat(), "step_minutes": 15, "slots": 4},
    "tariff": {
        "import_price_per_kwh": [0.2, 0.3, 0.2, 0.1],
        "export_price_per_kwh": 0.05,
        "demand_charge_per_kw": 10,
        "peak_so_far_kw": 15,
    },
    "base_load_kw": 6.9,
    "pv_kw": [0.0, 6.9, 13.8, 20.7],
    "sessions": [
        {
            "id": "s-ac",
            "charger_id": "cp-ac",
            "transaction_id": 1,
            "arrival": at(-1),
            "departure": at(4),
            "energy_kwh": 3.45,
        },
        {
            "id": "s-1ph",
            "charger_id": "cp-rot",
            "transaction_id": 2,
            "arrival": at(1),
            "departure": at(6),
            "energy_kwh": 5,
            "max_current_a": 16,
            "phases": 1,
        },
        {
            "id": "s-dc",
            "charger_id": "cp-dc",
            "transaction_id": 3,
            "arrival": at(0),
            "departure": at(3.5),
            "energy_kwh": 20,
            "max_power_kw": 40,
        },
    ],
}

# s-1ph may draw 16 A x 230 V = 3.68 kW for the 0.5 h past the end: 1.84 kWh of its 5 do not
# count, 3.16 kWh do, 1.15 delivered, 2.01 unmet. Slot 3: net -13.8 kW would export over 10 kW,
# so 3.8 kW of PV is curtailed.
ANSWER: dict[str, Any] = {
    "status": "optimal",
    "warnings": [],
    "kpis": {
        "energy_requested_kwh": 26.61,  # 3.45 + 3.16 + 20
        "energy_delivered_kwh": 9.775,  # 3.45 + 1.15 + 5.175
        "unmet_kwh": 16.835,  # 0 + 2.01 + 14.825
        "import_cost": 2.3575,  # 0.25 * (13.8*0.2 + 16.1*0.3 + 9.2*0.2)
        "export_revenue": 0.125,  # 0.25 * 10 * 0.05
        "demand_charge": 11.0,  # 10 * (16.1 - 15)
        "total_cost": 13.2325,
        "peak_import_kw": 16.1,
        "pv_used_kwh": 9.4,  # 0.25 * (6.9 + 13.8 + 16.9)
        "pv_curtailed_kwh": 0.95,  # 0.25 * 3.8
    },
    "site": {
        "import_kw": [13.8, 16.1, 9.2, 0.0],
        "export_kw": [0.0, 0.0, 0.0, 10.0],
        "charging_kw": [6.9, 16.1, 16.1, 0.0],
        "base_load_kw": [6.9, 6.9, 6.9, 6.9],
        "pv_kw": [0.0, 6.9, 13.8, 16.9],
        "pv_available_kw": [0.0, 6.9, 13.8, 20.7],
        "slot_start": [at(t) for t in range(4)],
        # the inputs the plan used (SPEC §5): `echoing` fills them from the problem
    },
    "sessions": [
        {
            "id": "s-ac",
            "charger_id": "cp-ac",
            "current_a": [10.0, 10.0, 0.0, 0.0],
            "power_kw": [6.9, 6.9, 0.0, 0.0],
            "energy_kwh": 3.45,
            "unmet_kwh": 0.0,
            "limited_by": [],
        },
        {
            "id": "s-1ph",
            "charger_id": "cp-rot",
            "current_a": [0.0, 10.0, 10.0, 0.0],
            "power_kw": [0.0, 2.3, 2.3, 0.0],
            "energy_kwh": 1.15,
            "unmet_kwh": 2.01,
            "limited_by": [],
        },
        {
            "id": "s-dc",
            "charger_id": "cp-dc",
            "current_a": None,
            "power_kw": [0.0, 6.9, 13.8, 0.0],
            "energy_kwh": 5.175,
            "unmet_kwh": 14.825,
            "limited_by": [],
        },
    ],
}


def patched(doc: dict[str, Any], changes: dict[tuple, Any]) -> dict[str, Any]:
    """A deep copy of `doc` with each path (keys and list positions) set to its value."""
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return doc


def echoing(answer: dict[str, Any], problem: dict[str, Any]) -> dict[str, Any]:
    """The answer reporting the limits and (flat) prices the problem gives, per slot."""
    answer = copy.deepcopy(answer)
    grid, tariff = problem["site"]["grid"], problem["tariff"]
    for name, value in (
        ("import_limit_kw", grid["import_limit_kw"]),
        ("export_limit_kw", grid["export_limit_kw"]),
        ("phase_limit_a", grid["phase_limit_a"]),
        ("import_price_per_kwh", tariff["import_price_per_kwh"]),
        ("export_price_per_kwh", tariff["export_price_per_kwh"]),
    ):
        answer["site"][name] = value if isinstance(value, list) else [value] * 4
    return answer


def violations(
    problem_changes: dict[tuple, Any] | None = None,
    answer_changes: dict[tuple, Any] | None = None,
) -> list[Violation]:
    problem = patched(PROBLEM, problem_changes or {})
    return check_answer(
        parse_problem(problem), patched(echoing(ANSWER, problem), answer_changes or {})
    )


def assert_found(found: list[Violation], expected: list[tuple[str, str, int | None, float]]):
    got = sorted((v.rule, v.entity, -1 if v.slot is None else v.slot) for v in found)
    want = sorted(
        (rule, entity, -1 if slot is None else slot) for rule, entity, slot, _ in expected
    )
    assert got == want, format_violations(found)
    amounts = {(v.rule, v.entity, v.slot): v.amount for v in found}
    for rule, entity, slot, amount in expected:
        assert amounts[(rule, entity, slot)] == pytest.approx(amount, abs=1e-9), format_violations(
            found
        )


def test_the_hand_made_answer_is_correct():
    found = violations()
    assert found == [], format_violations(found)


def test_forecast_inputs_are_read_from_the_answer():
    """With base load and PV null, the answer's own arrays are what it is checked against."""
    assert violations({("base_load_kw",): None, ("pv_kw",): None}) == []
    # The engine says it planned against 7.9 kW of base load in slot 2: then its import is
    # 1 kW short there, and that breaks the balance (no problem value to compare with).
    found = violations({("base_load_kw",): None}, {("site", "base_load_kw", 2): 7.9})
    assert_found(found, [("balance", "grid", 2, 1.0)])


# Each case: (id, problem changes, answer changes, [(rule, entity, slot, amount)]).
# Problem changes tighten a limit so the same schedule breaks it; answer changes are worked out
# by hand so that only the rule under test breaks (every total still adds up).
CASES = [
    (
        "grid-phase-rotated-onto-L2",
        {("site", "grid", "phase_limit_a"): 29},
        {},
        # slot 1: L2 = 10 (s-ac) + 10 (s-1ph via L2L3L1) + 10 (6.9 kW DC) + 0 (base - PV)
        [("grid_phase", "grid:L2", 1, 1.0)],
    ),
    (
        "grid-phase-unrotated-onto-L1",
        {("site", "grid", "phase_limit_a"): 29, ("site", "chargers", 1, "phase_rotation"): None},
        {},
        [("grid_phase", "grid:L1", 1, 1.0)],
    ),
    (
        "grid-phase-rotated-onto-L3",
        {
            ("site", "grid", "phase_limit_a"): 29,
            ("site", "chargers", 1, "phase_rotation"): "L3L1L2",
        },
        {},
        [("grid_phase", "grid:L3", 1, 1.0)],
    ),
    (
        "grid-phase-export-direction",
        # slot 3 with 30 kW of PV all used: (6.9 - 30) kW * 1000 / 690 = -33.48 A on every phase
        {
            ("site", "grid", "phase_limit_a"): 31,
            ("site", "grid", "export_limit_kw"): 30,
            ("pv_kw", 3): 30.0,
        },
        {
            ("site", "pv_kw", 3): 30.0,
            ("site", "pv_available_kw", 3): 30.0,
            ("site", "export_kw", 3): 23.1,
            ("kpis", "pv_used_kwh"): 12.675,
            ("kpis", "pv_curtailed_kwh"): 0.0,
            ("kpis", "export_revenue"): 0.28875,
            ("kpis", "total_cost"): 13.06875,
        },
        [("grid_phase", f"grid:{p}", 3, 23_100 / 690 - 31) for p in ("L1", "L2", "L3")],
    ),
    (
        "circuit-phase-counts-the-subtree",
        # panel-a L2 in slot 1: 10 A of s-ac (on panel-b below it) + 10 A of s-1ph
        {("site", "circuits", 0, "phase_limit_a"): 15},
        {},
        [("circuit_phase", "circuit:panel-a:L2", 1, 5.0)],
    ),
    (
        "circuit-power-counts-the-subtree",
        {("site", "circuits", 0, "limit_kw"): 9},  # slot 1: 6.9 + 2.3 kW
        {},
        [("circuit_power", "circuit:panel-a", 1, 0.2)],
    ),
    (
        "circuit-power-leaf",
        {("site", "circuits", 1, "limit_kw"): 6.5},
        {},
        [
            ("circuit_power", "circuit:panel-b", 0, 0.4),
            ("circuit_power", "circuit:panel-b", 1, 0.4),
        ],
    ),
    (
        "grid-import",
        {("site", "grid", "import_limit_kw"): 16},
        {},
        [("grid_import", "grid", 1, 0.1)],
    ),
    (
        "grid-import-per-slot",
        {("site", "grid", "import_limit_kw"): [60, 60, 5, 60]},
        {},
        [("grid_import", "grid", 2, 4.2)],
    ),
    (
        "grid-export",
        {("site", "grid", "export_limit_kw"): 8},
        {},
        [("grid_export", "grid", 3, 2.0)],
    ),
    (
        "grid-export-per-slot",
        {("site", "grid", "export_limit_kw"): [0, 0, 0, 9.5]},
        {},
        [("grid_export", "grid", 3, 0.5)],
    ),
    (
        "grid-export-pv-not-curtailed",
        {},
        {
            ("site", "pv_kw", 3): 20.7,
            ("site", "export_kw", 3): 13.8,
            ("kpis", "pv_used_kwh"): 10.35,
            ("kpis", "pv_curtailed_kwh"): 0.0,
            ("kpis", "export_revenue"): 0.1725,
            ("kpis", "total_cost"): 13.185,
        },
        [("grid_export", "grid", 3, 3.8)],
    ),
    (
        "session-max-current-of-charger",
        {("site", "chargers", 0, "max_current_a"): 9.5},
        {},
        [("session_max", "session:s-ac", 0, 0.5), ("session_max", "session:s-ac", 1, 0.5)],
    ),
    (
        "session-max-power-converted-to-current",
        # 6 kW at 3 x 230 V is 8.6957 A
        {("sessions", AC, "max_power_kw"): 6},
        {},
        [
            ("session_max", "session:s-ac", 0, 10 - 6000 / 690),
            ("session_max", "session:s-ac", 1, 10 - 6000 / 690),
        ],
    ),
    (
        "session-max-dc-power",
        {("sessions", DC, "max_power_kw"): 10},
        {},
        [("session_max", "session:s-dc", 2, 3.8)],
    ),
    (
        "semi-continuous-ac",
        {("site", "chargers", 1, "min_current_a"): 10.5},
        {},
        [
            ("semi_continuous", "session:s-1ph", 1, 0.5),
            ("semi_continuous", "session:s-1ph", 2, 0.5),
        ],
    ),
    (
        "semi-continuous-dc",
        {("site", "chargers", 2, "min_power_kw"): 7},
        {},
        [("semi_continuous", "session:s-dc", 1, 0.1)],
    ),
    (
        "session-window-departure",
        {("sessions", DC, "departure"): at(2.5)},
        {},
        [("session_window", "session:s-dc", 2, 13.8)],
    ),
    (
        "session-window-arrival-mid-slot",
        {("sessions", ONE_PHASE, "arrival"): at(1.5)},
        {},
        [("session_window", "session:s-1ph", 1, 2.3)],
    ),
    (
        "energy-cap",
        {("sessions", AC, "energy_kwh"): 3.0},
        {("kpis", "energy_requested_kwh"): 26.16},
        [("energy_cap", "session:s-ac", None, 0.45)],
    ),
    (
        "energy-report",
        {},
        {("sessions", DC, "energy_kwh"): 5.0},
        [("energy_report", "session:s-dc", None, 0.175)],
    ),
    (
        "unmet-counts-only-energy-before-departure",
        {},
        {("sessions", ONE_PHASE, "unmet_kwh"): 3.85},  # 5 - 1.15, as if all 5 kWh counted
        [("unmet_report", "session:s-1ph", None, 1.84)],
    ),
    (
        "pv-used-above-available",
        {},
        {
            ("site", "pv_kw", 2): 14.8,
            ("site", "import_kw", 2): 8.2,
            ("kpis", "import_cost"): 2.3075,
            ("kpis", "total_cost"): 13.1825,
            ("kpis", "pv_used_kwh"): 9.65,
            ("kpis", "pv_curtailed_kwh"): 0.7,
        },
        [("pv_used", "pv", 2, 1.0)],
    ),
    (
        "balance",
        {},
        {
            ("site", "import_kw", 2): 9.7,
            ("kpis", "import_cost"): 2.3825,
            ("kpis", "total_cost"): 13.2575,
        },
        [("balance", "grid", 2, 0.5)],
    ),
    (
        "charging-sum",
        {},
        {
            ("site", "charging_kw", 0): 7.9,
            ("site", "import_kw", 0): 14.8,
            ("kpis", "import_cost"): 2.4075,
            ("kpis", "total_cost"): 13.2825,
        },
        [("balance", "site.charging_kw", 0, 1.0)],
    ),
    (
        "negative-import",
        {},
        {
            ("site", "import_kw", 3): -10.0,
            ("site", "export_kw", 3): 0.0,
            ("kpis", "import_cost"): 2.1075,
            ("kpis", "export_revenue"): 0.0,
            ("kpis", "total_cost"): 13.1075,
        },
        [("negative_flow", "grid", 3, 10.0)],
    ),
    (
        "import-and-export-at-once",
        {},
        {
            ("site", "import_kw", 2): 10.2,
            ("site", "export_kw", 2): 1.0,
            ("kpis", "import_cost"): 2.4075,
            ("kpis", "export_revenue"): 0.1375,
            ("kpis", "total_cost"): 13.27,
        },
        [("import_export_both", "grid", 2, 1.0)],
    ),
    (
        "rounding-to-tenths",
        {},
        # 10.05 + 9.95 A: the same energy, split off the 0.1 A grid
        {
            ("sessions", ONE_PHASE, "current_a"): [0.0, 10.05, 9.95, 0.0],
            ("sessions", ONE_PHASE, "power_kw"): [0.0, 2.3115, 2.2885, 0.0],
            ("site", "charging_kw"): [6.9, 16.1115, 16.0885, 0.0],
            ("site", "import_kw"): [13.8, 16.1115, 9.1885, 0.0],
            ("kpis", "import_cost"): 2.3577875,
            ("kpis", "peak_import_kw"): 16.1115,
            ("kpis", "demand_charge"): 11.115,
            ("kpis", "total_cost"): 13.3477875,
        },
        [("rounding", "session:s-1ph", 1, 0.05), ("rounding", "session:s-1ph", 2, 0.05)],
    ),
    (
        "power-is-current-times-voltage",
        {},
        {("sessions", ONE_PHASE, "current_a", 1): 10.1},  # 2.323 kW, not 2.3
        [("power_current", "session:s-1ph", 1, 0.023)],
    ),
    (
        "negative-current",
        {},
        {
            ("sessions", AC, "current_a", 2): -1.0,
            ("sessions", AC, "power_kw", 2): -0.69,
            ("sessions", AC, "energy_kwh"): 3.2775,
            ("sessions", AC, "unmet_kwh"): 0.1725,
            ("site", "charging_kw", 2): 15.41,
            ("site", "import_kw", 2): 8.51,
            ("kpis", "energy_delivered_kwh"): 9.6025,
            ("kpis", "unmet_kwh"): 17.0075,
            ("kpis", "import_cost"): 2.323,
            ("kpis", "total_cost"): 13.198,
        },
        [("negative_power", "session:s-ac", 2, 1.0)],
    ),
    (
        "dc-reports-no-current",
        {},
        {("sessions", DC, "current_a"): [0.0, 0.0, 0.0, 0.0]},
        [("dc_current", "session:s-dc", None, 1)],
    ),
    (
        "kpi-peak",
        {},
        {("kpis", "peak_import_kw"): 16.0},
        [("kpi", "kpis.peak_import_kw", None, 0.1)],
    ),
    (
        "kpi-demand-charge-above-peak-so-far",
        {("tariff", "peak_so_far_kw"): 16.1},
        {("kpis", "total_cost"): 2.2325},  # the demand charge is 0 now, the answer says 11
        [("kpi", "kpis.demand_charge", None, 11.0)],
    ),
    (
        "kpi-missing",
        {},
        {("kpis",): {k: v for k, v in ANSWER["kpis"].items() if k != "pv_used_kwh"}},
        [("kpi", "kpis.pv_used_kwh", None, 1)],
    ),
    (
        "kpi-demand-periods",
        # one period (November, UTC: the site's time zone): 15 kW paid, 16.1 kW, 11.0 charged
        {},
        {
            ("kpis", "peak_so_far_kw"): 14.0,
            ("demand_periods",): [
                {
                    "start": "2026-11-01T01:00:00+01:00",
                    "end": "2026-12-01T00:00:00+00:00",
                    "peak_so_far_kw": 15.0,
                    "peak_kw": 16.1,
                    "charge": 10.0,
                }
            ],
        },
        [
            ("kpi", "kpis.peak_so_far_kw", None, 1.0),
            ("kpi", "demand_periods[0].charge", None, 1.0),
        ],
    ),
    (
        "base-load-not-echoed",
        {},
        {("site", "base_load_kw", 2): 7.0},
        [("input_mismatch", "site.base_load_kw", 2, 0.1)],
    ),
    (
        "pv-available-not-echoed",
        {},
        {("site", "pv_available_kw", 0): 1.0},
        [("input_mismatch", "site.pv_available_kw", 0, 1.0)],
    ),
    (
        "price-not-echoed",
        {},
        {("site", "import_price_per_kwh", 1): 0.25},
        [("input_mismatch", "site.import_price_per_kwh", 1, 0.05)],
    ),
    (
        "per-slot-phase-limit-not-echoed",
        {("site", "grid", "phase_limit_a"): [100, None, 100, 100]},
        {("site", "phase_limit_a", 1): 100},
        [("input_mismatch", "site.phase_limit_a", 1, math.inf)],
    ),
    (
        "used-inputs-not-reported",
        {},
        {("site", "export_limit_kw"): None, ("site", "slot_start", 2): at(3)},
        [
            ("input_report", "site.export_limit_kw", None, 4),
            ("input_report", "site.slot_start", 2, 1),
        ],
    ),
    (
        "grid-phase-per-slot",
        {("site", "grid", "phase_limit_a"): [100, 29, None, 100]},
        {},
        [("grid_phase", "grid:L2", 1, 1.0)],
    ),
    (
        "demand-charge-of-each-billing-day",
        # The same plan 6 h 15 min earlier: slot 0 on 23 Nov (15 kW paid, 13.8 kW: no charge),
        # slots 1-3 on 24 Nov (nothing paid, 16.1 kW): 10 x 16.1 = 161, not the 11 answered.
        {
            **{("horizon", "start"): EARLIER.isoformat()},
            **{("sessions", s, "arrival"): before(at(a)) for s, a in ((0, -1), (1, 1), (2, 0))},
            **{("sessions", s, "departure"): before(at(d)) for s, d in ((0, 4), (1, 6), (2, 3.5))},
            ("tariff", "demand_charge_period"): "day",
            ("site", "timezone"): "Europe/Amsterdam",
        },
        {("site", "slot_start"): [before(at(t)) for t in range(4)]},
        [("kpi", "kpis.demand_charge", None, 150.0), ("kpi", "kpis.total_cost", None, 150.0)],
    ),
    (
        "status",
        {},
        {("status",): "infeasible"},
        [("status", "answer", None, 1)],
    ),
    (
        "array-length-session",
        {},
        {("sessions", AC, "power_kw"): [6.9, 6.9, 0.0]},
        [("array_length", "session:s-ac.power_kw", None, 1)],
    ),
    (
        "array-length-site",
        {},
        {("site", "import_kw"): [13.8, 16.1, 9.2, 0.0, 0.0]},
        [("array_length", "site.import_kw", None, 1)],
    ),
    (
        "not-finite",
        {},
        {("site", "export_kw", 1): float("nan")},
        [("not_finite", "site.export_kw", None, 1)],
    ),
    (
        "missing-session",
        {},
        {("sessions",): ANSWER["sessions"][:2]},
        [("session_entries", "session:s-dc", None, 1)],
    ),
]


@pytest.mark.parametrize(
    ("problem_changes", "answer_changes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_rule_is_caught_where_and_by_how_much(problem_changes, answer_changes, expected):
    assert_found(violations(problem_changes, answer_changes), expected)


# Slot 0 is blocked when the import limit there is 5 kW: base load 6.9 kW with no PV breaks it
# whatever the engine does. The correct answer does not charge there and says so.
BLOCKED = {("site", "grid", "import_limit_kw"): [5, 60, 60, 60]}
WARNING = "base load minus PV alone breaks the import limit in slot 0: no charging planned there"
BLOCKED_ANSWER = {
    ("warnings",): [WARNING],
    ("sessions", AC, "current_a", 0): 0.0,
    ("sessions", AC, "power_kw", 0): 0.0,
    ("sessions", AC, "energy_kwh"): 1.725,
    ("sessions", AC, "unmet_kwh"): 1.725,
    ("site", "charging_kw", 0): 0.0,
    ("site", "import_kw", 0): 6.9,
    ("kpis", "energy_delivered_kwh"): 8.05,
    ("kpis", "unmet_kwh"): 18.56,
    ("kpis", "import_cost"): 2.0125,  # 2.3575 - 0.25 * 6.9 * 0.2
    ("kpis", "total_cost"): 12.8875,
}


def test_a_blocked_slot_without_charging_and_with_a_warning_is_correct():
    found = violations(BLOCKED, BLOCKED_ANSWER)
    assert found == [], format_violations(found)


def test_a_blocked_slot_needs_a_warning():
    found = violations(BLOCKED, {**BLOCKED_ANSWER, ("warnings",): []})
    assert_found(found, [("missing_warning", "grid", 0, 1)])


def test_charging_in_a_blocked_slot_is_the_violation_not_the_import():
    found = violations(BLOCKED, {("warnings",): [WARNING]})
    assert_found(found, [("blocked_slot_charging", "grid", 0, 6.9)])


def test_curtailing_pv_in_a_blocked_slot_still_breaks_the_import_limit():
    """With 1 kW of PV in slot 0, 5.9 kW of import cannot be avoided; leaving the PV unused
    imports 6.9 kW, and that extra 1 kW is the engine's doing."""
    problem_changes = {
        ("site", "grid", "import_limit_kw"): [5, 60, 60, 60],
        ("pv_kw", 0): 1.0,  # unavoidable import 5.9 kW: still blocked
    }
    answer_changes = {
        **BLOCKED_ANSWER,
        ("site", "pv_available_kw", 0): 1.0,
        ("kpis", "pv_curtailed_kwh"): 1.2,  # 0.95 + 0.25 * 1.0: PV in slot 0 left unused
    }
    found = violations(problem_changes, answer_changes)
    assert_found(found, [("grid_import", "grid", 0, 1.0)])


def test_base_load_exporting_over_the_limit_is_allowed_with_a_warning():
    """Net metering: a negative base load of -12 kW exports 12 kW even with all PV curtailed."""
    problem_changes = {("base_load_kw",): [6.9, 6.9, 6.9, -12.0], ("pv_kw", 3): 0.0}
    answer_changes = {
        ("site", "base_load_kw", 3): -12.0,
        ("site", "pv_kw", 3): 0.0,
        ("site", "pv_available_kw", 3): 0.0,
        ("site", "export_kw", 3): 12.0,
        ("kpis", "export_revenue"): 0.15,
        ("kpis", "total_cost"): 13.2075,
        ("kpis", "pv_used_kwh"): 5.175,
        ("kpis", "pv_curtailed_kwh"): 0.0,
    }
    assert_found(violations(problem_changes, answer_changes), [("missing_warning", "grid", 3, 1)])
    answer_changes[("warnings",)] = ["base load alone breaks the export limit in slot 3"]
    assert violations(problem_changes, answer_changes) == []


def test_base_load_breaking_a_phase_limit_is_allowed_with_a_warning():
    """No sessions, 9 A per phase: base load 6.9 kW is 10 A in slot 0 whatever the engine does.
    In slots 2 and 3 PV is curtailed to 13.11 kW so the export stays within -9 A (6.21 kW)."""
    problem_changes = {("sessions",): [], ("site", "grid", "phase_limit_a"): 9}
    answer = {
        "status": "optimal",
        "warnings": ["base load minus PV alone breaks the grid phase limit in slot 0"],
        "kpis": {
            "energy_requested_kwh": 0.0,
            "energy_delivered_kwh": 0.0,
            "unmet_kwh": 0.0,
            "import_cost": 0.345,  # 0.25 * 6.9 * 0.2
            "export_revenue": 0.15525,  # 0.25 * 2 * 6.21 * 0.05
            "demand_charge": 0.0,
            "total_cost": 0.18975,
            "peak_import_kw": 6.9,
            "pv_used_kwh": 8.28,  # 0.25 * (6.9 + 2 * 13.11)
            "pv_curtailed_kwh": 2.07,  # 0.25 * (0.69 + 7.59)
        },
        "site": {
            "import_kw": [6.9, 0.0, 0.0, 0.0],
            "export_kw": [0.0, 0.0, 6.21, 6.21],
            "charging_kw": [0.0, 0.0, 0.0, 0.0],
            "base_load_kw": [6.9, 6.9, 6.9, 6.9],
            "pv_kw": [0.0, 6.9, 13.11, 13.11],
            "pv_available_kw": [0.0, 6.9, 13.8, 20.7],
        },
        "sessions": [],
    }
    problem_doc = patched(PROBLEM, problem_changes)
    answer = echoing(answer, problem_doc)
    answer["site"]["slot_start"] = ANSWER["site"]["slot_start"]
    problem = parse_problem(problem_doc)
    found = check_answer(problem, answer)
    assert found == [], format_violations(found)
    found = check_answer(problem, {**answer, "warnings": []})
    assert_found(found, [("missing_warning", "grid", 0, 1)])


def test_format_violations_names_rule_entity_slot_and_amount():
    text = format_violations(violations({("site", "grid", "phase_limit_a"): 29}))
    line = text.splitlines()[1]
    assert "grid_phase" in line and "grid:L2" in line and " 1 " in line and "30" in line
    assert format_violations([]) == "no violations"
