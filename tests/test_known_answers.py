"""Tiny problems whose optimal schedule is worked out by hand (see each docstring)."""

from __future__ import annotations

import numpy as np
import pytest

from smartcharge.optimizer.optimize import optimize
from tests.builders import at, charger, problem, session

# 16 A on three phases at 230 V: 11.04 kW, 2.76 kWh per quarter-hour.
KW_16A_3PH = 16 * 230 * 3 / 1000


def currents(plan) -> np.ndarray:
    return plan.setpoint


def test_flat_price_charges_as_early_as_possible():
    """5.52 kWh at 11.04 kW is two slots; with one price, earlier delivery breaks the tie."""
    plan = optimize(problem([charger("c1")], [session("s1", "c1", 5.52)]))
    assert plan.status == "optimal"
    np.testing.assert_allclose(plan.setpoint[0], [16, 16, 0, 0])


def test_time_of_use_price_picks_the_cheapest_slots():
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 5.52)],
        tariff={"import_price_per_kwh": [0.3, 0.1, 0.2, 0.1]},
    )
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint[0], [0, 16, 0, 16])
    assert plan.to_answer()["kpis"]["import_cost"] == pytest.approx(5.52 * 0.1)


def test_below_minimum_current_means_zero():
    """An import limit of 3.45 kW allows 5 A on three phases: under 6 A, so nothing."""
    plan = optimize(problem([charger("c1")], [session("s1", "c1", 10)], import_limit_kw=3.45))
    np.testing.assert_allclose(plan.setpoint[0], 0)
    assert plan.to_answer()["sessions"][0]["unmet_kwh"] == pytest.approx(10)


def test_minimum_current_exactly_reachable():
    """4.14 kW is exactly 6 A on three phases: the session charges at 6 A."""
    plan = optimize(problem([charger("c1")], [session("s1", "c1", 10)], import_limit_kw=4.14))
    np.testing.assert_allclose(plan.setpoint[0], 6)


def test_energy_past_the_horizon_does_not_count():
    """Departing 1 h after a 1 h horizon at 11.04 kW: 11.04 kWh of 15 can come later."""
    doc = problem([charger("c1")], [session("s1", "c1", 15.0, departure=at(8))])
    answer = optimize(doc).to_answer()
    assert answer["kpis"]["energy_requested_kwh"] == pytest.approx(15 - KW_16A_3PH)
    assert answer["sessions"][0]["unmet_kwh"] == pytest.approx(0, abs=1e-3)


def test_slot_window_respects_arrival_and_departure():
    """Arrival 06:20 and departure 06:50: only slot 2 (06:30-06:45) lies inside."""
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 20, arrival=at(1 + 1 / 3), departure=at(3 + 1 / 3))],
    )
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint[0], [0, 0, 16, 0])


def test_power_limit_of_a_22kw_charger_allows_31_8_amperes():
    doc = problem([charger("c1", max_current_a=32, max_power_kw=22)], [session("s1", "c1", 100)])
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint[0], 31.8)


def test_one_phase_evs_on_rotated_chargers_use_different_grid_phases():
    """Two one-phase EVs, grid phase limit 20 A: on L1 and L2 each gets 20 A; without the
    rotation both would share L1 at 10 A."""
    doc = problem(
        [charger("c1", max_current_a=32), charger("c2", max_current_a=32, phase_rotation="L2L3L1")],
        [session("s1", "c1", 100, phases=1), session("s2", "c2", 100, phases=1)],
        grid={"phase_limit_a": 20},
    )
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint, 20)


def test_circuit_limit_shares_a_panel():
    """A 11.04 kW panel above two 16 A chargers: together at most 16 A on three phases."""
    doc = problem(
        [charger("c1", circuit="p"), charger("c2", circuit="p")],
        [session("s1", "c1", 100), session("s2", "c2", 100)],
        circuits=[{"id": "p", "limit_kw": KW_16A_3PH}],
    )
    plan = optimize(doc)
    total = plan.setpoint.sum(axis=0)
    np.testing.assert_allclose(total, 16, atol=0.2)
    assert (total <= 16 + 1e-9).all()


def test_nested_circuit_phase_limit_counts_the_subtree():
    doc = problem(
        [charger("c1", circuit="child"), charger("c2", circuit="root")],
        [session("s1", "c1", 100), session("s2", "c2", 100)],
        circuits=[{"id": "root", "phase_limit_a": 20}, {"id": "child", "parent": "root"}],
    )
    plan = optimize(doc)
    assert (plan.setpoint.sum(axis=0) <= 20 + 1e-9).all()
    np.testing.assert_allclose(plan.setpoint.sum(axis=0), 20, atol=0.2)


def test_pv_surplus_is_used_and_export_limit_curtails():
    """PV 30 kW, no base load, export limit 5 kW, one 11.04 kW EV wanting 2 slots of energy:
    PV charges it for free, and of 30 kW at most 11.04 + 5 is used."""
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 2 * KW_16A_3PH / 4)],
        pv_kw=30.0,
        grid={"export_limit_kw": 5},
        tariff={"import_price_per_kwh": 0.3, "export_price_per_kwh": 0.05},
    )
    answer = optimize(doc).to_answer()
    site = answer["site"]
    assert max(site["export_kw"]) <= 5 + 1e-9
    assert answer["kpis"]["import_cost"] == pytest.approx(0)
    assert answer["kpis"]["pv_curtailed_kwh"] > 0


def test_demand_charge_flattens_the_peak():
    """16.56 kWh over 1 h: with a demand charge the even 16.56 kW beats 22.08 + 11.04 kW."""
    doc = problem(
        [charger("c1", max_current_a=32)],
        [session("s1", "c1", 16.56)],
        tariff={"import_price_per_kwh": 0.2, "demand_charge_per_kw": 10, "peak_so_far_kw": 0},
    )
    answer = optimize(doc).to_answer()
    assert answer["kpis"]["peak_import_kw"] == pytest.approx(16.56, abs=0.1)


def test_peak_so_far_is_free_headroom():
    doc = problem(
        [charger("c1", max_current_a=32)],
        [session("s1", "c1", 11.04)],
        tariff={"import_price_per_kwh": 0.2, "demand_charge_per_kw": 10, "peak_so_far_kw": 22.08},
    )
    answer = optimize(doc).to_answer()
    assert answer["kpis"]["demand_charge"] == pytest.approx(0)
    np.testing.assert_allclose(answer["sessions"][0]["current_a"], [32, 32, 0, 0])


def test_higher_priority_tier_is_served_first():
    """11.04 kW for two 16 A EVs over one hour: the priority-5 EV gets all it wants."""
    doc = problem(
        [charger("c1"), charger("c2")],
        [session("low", "c1", 11.04), session("high", "c2", 8.28, priority=5)],
        import_limit_kw=KW_16A_3PH,
    )
    answer = optimize(doc).to_answer()
    by_id = {s["id"]: s for s in answer["sessions"]}
    assert by_id["high"]["unmet_kwh"] == pytest.approx(0, abs=1e-3)
    assert by_id["low"]["energy_kwh"] == pytest.approx(11.04 - 8.28, abs=0.05)


def test_shortage_within_a_tier_is_shared_fairly():
    """Two equal-tier EVs wanting 12 and 6 kWh with 13.8 kWh of capacity in the hour: both
    miss 1 - 13.8 / 18 = 23.3 % (13.3 A and 6.7 A, both above the 6 A minimum)."""
    doc = problem(
        [charger("c1", max_current_a=32), charger("c2", max_current_a=32)],
        [session("a", "c1", 12.0), session("b", "c2", 6.0)],
        import_limit_kw=13.8,
    )
    answer = optimize(doc).to_answer()
    fractions = [s["unmet_kwh"] / e for s, e in zip(answer["sessions"], (12.0, 6.0), strict=True)]
    assert fractions == pytest.approx([1 - 13.8 / 18] * 2, abs=0.01)


def test_dc_charger_is_zero_or_above_its_minimum_power():
    doc = problem(
        [{"id": "dc", "kind": "dc", "max_power_kw": 50, "min_power_kw": 20}],
        [session("s1", "dc", 100)],
        import_limit_kw=15,
    )
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint[0], 0)
    assert plan.to_answer()["sessions"][0]["current_a"] is None


def test_base_load_above_the_limit_blocks_charging_with_a_warning():
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 100)],
        import_limit_kw=20,
        base_load_kw=[0, 25, 0, 0],
    )
    plan = optimize(doc)
    assert plan.status == "optimal"
    assert plan.setpoint[0, 1] == 0
    assert any("import limit" in w for w in plan.warnings)


def test_time_varying_import_limit():
    doc = problem(
        [charger("c1", max_current_a=32)],
        [session("s1", "c1", 100)],
        import_limit_kw=[22.08, 11.04, 4.14, 0],
    )
    plan = optimize(doc)
    np.testing.assert_allclose(plan.setpoint[0], [32, 16, 6, 0])


def test_import_and_export_never_both_positive_when_export_pays_more():
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 1.0)],
        pv_kw=20.0,
        grid={"export_limit_kw": 50},
        tariff={"import_price_per_kwh": -0.05, "export_price_per_kwh": 0.10},
    )
    answer = optimize(doc).to_answer()
    site = answer["site"]
    both = np.minimum(site["import_kw"], site["export_kw"])
    assert (both <= 1e-9).all()
