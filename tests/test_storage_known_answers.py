"""SPEC §4 known answers worked by hand: batteries, V2G discharge, phase switching.

Every plan here also passes the independent checker.
"""

from __future__ import annotations

import numpy as np
import pytest

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import parse_problem
from tests.builders import charger, problem, session

MODELS = ["matrix", "pyomo"]


def battery(**fields) -> dict:
    return {
        "id": "bess-1",
        "capacity_kwh": 20,
        "soc_kwh": 10,
        "max_charge_kw": 20,
        "max_discharge_kw": 20,
        "efficiency": 0.81,  # sqrt: 0.9 each way
        **fields,
    }


def planned(doc: dict, model: str = "matrix"):
    doc = {**doc, "options": {**doc["options"], "model": model}}
    plan = optimize(doc)
    answer = plan.to_answer()
    violations = check_answer(parse_problem(doc), answer)
    assert not violations, format_violations(violations)
    return plan, answer


def peak_doc() -> dict:
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 0.0)],
        tariff={"import_price_per_kwh": 0.2, "demand_charge_per_kw": 10.0},
        base_load_kw=[10, 10, 30, 10],
    )
    doc["site"]["batteries"] = [battery()]
    return doc


@pytest.mark.parametrize("model", MODELS)
def test_a_battery_shaves_a_one_slot_peak(model):
    """Base load 10, 10, 30, 10 kW and 10 per kW of peak. The battery ends where it started,
    so what it gives in slot 2 (d kW) it takes back, with losses, in the others (P - 10 each,
    P the peak): 3 (P - 10) 0.9 = (30 - P) / 0.9, so P = 54.3 / 3.43 = 15.8309 kW. Each kW of
    peak saves 10, far more than the losses cost at 0.2 per kWh."""
    _, answer = planned(peak_doc(), model)
    peak = 54.3 / 3.43
    np.testing.assert_allclose(answer["site"]["import_kw"], [peak] * 4, atol=1e-5)
    power = answer["batteries"][0]["power_kw"]
    np.testing.assert_allclose(power, [peak - 10, peak - 10, peak - 30, peak - 10], atol=1e-5)
    assert answer["batteries"][0]["soc_kwh"][-1] == pytest.approx(10, abs=1e-5)
    assert answer["kpis"]["peak_import_kw"] == pytest.approx(peak, abs=1e-5)


def arbitrage_doc(cycle_cost_per_kwh: float) -> dict:
    doc = problem(
        [charger("c1")],
        [session("s1", "c1", 0.0)],
        tariff={"import_price_per_kwh": [0.1, 0.1, 0.3, 0.3]},
        base_load_kw=10.0,
    )
    doc["site"]["batteries"] = [
        battery(
            soc_kwh=5, max_charge_kw=10, max_discharge_kw=10, cycle_cost_per_kwh=cycle_cost_per_kwh
        )
    ]
    return doc


@pytest.mark.parametrize("model", MODELS)
def test_a_battery_buys_cheap_energy_where_it_pays_after_losses_and_cycle_cost(model):
    """A kWh served in a dear slot costs 0.1 / 0.81 = 0.1235 bought cheap, saves 0.3: at a
    cycle cost of 0.15 that pays. The battery charges 10 kW in both cheap slots (4.5 kWh stored)
    and gives it back to the base load in the dear ones: 4.5 x 0.9 = 4.05 kWh (16.2 kW over the
    two slots, split either way)."""
    _, answer = planned(arbitrage_doc(0.15), model)
    power = np.array(answer["batteries"][0]["power_kw"])
    np.testing.assert_allclose(power[:2], [10, 10], atol=1e-5)
    assert power[2:].sum() == pytest.approx(-16.2, abs=1e-5)
    np.testing.assert_allclose(answer["batteries"][0]["soc_kwh"][1:4:2], [9.5, 5], atol=1e-5)
    assert answer["kpis"]["battery_cycle_cost"] == pytest.approx(0.15 * 8.1 * 0.5)


@pytest.mark.parametrize("model", MODELS)
def test_a_battery_stays_idle_when_cycle_cost_exceeds_the_spread_after_losses(model):
    """At a cycle cost of 0.19 a kWh moved earns 0.3 - 0.1235 - 0.19 < 0 (below the bare
    spread of 0.2, above the spread after losses): the battery does nothing."""
    _, answer = planned(arbitrage_doc(0.19), model)
    np.testing.assert_allclose(answer["batteries"][0]["power_kw"], 0, atol=1e-6)
    assert answer["kpis"]["battery_cycle_cost"] == pytest.approx(0)


def v2g_doc(discharge: dict | None) -> dict:
    fields = {"discharge": discharge} if discharge else {}
    return problem(
        [charger("v1", ocpp_version="2.1", bidirectional=True)],
        [session("s1", "v1", 5.52, **fields)],
        tariff={"import_price_per_kwh": 0.2, "export_price_per_kwh": [0, 0, 1.0, 0]},
        grid={"export_limit_kw": 50},
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_v2g_session_exports_into_a_price_spike_and_still_leaves_with_its_energy(model):
    """5.52 kWh is two slots at 16 A (11.04 kW). Exporting 2.76 kWh at 1.0 in slot 2 costs
    2.76 kWh more at 0.2 in the other slots, which the EV has room for (three slots at 16 A
    is 8.28 kWh): it charges 16 A in slots 0, 1, 3, discharges 16 A in slot 2, and leaves
    with all 5.52 kWh."""
    _, answer = planned(v2g_doc({"max_power_kw": 11.04, "max_energy_kwh": 10}), model)
    entry = answer["sessions"][0]
    np.testing.assert_allclose(entry["current_a"], [16, 16, -16, 16])
    np.testing.assert_allclose(entry["power_kw"], [11.04, 11.04, -11.04, 11.04])
    assert entry["energy_kwh"] == pytest.approx(5.52)
    assert entry["unmet_kwh"] == pytest.approx(0)
    assert entry["discharged_kwh"] == pytest.approx(2.76)
    assert answer["kpis"]["v2g_discharged_kwh"] == pytest.approx(2.76)
    assert answer["site"]["export_kw"][2] == pytest.approx(11.04)


@pytest.mark.parametrize("model", MODELS)
def test_v2g_never_costs_the_driver_energy(model):
    """With 8.28 kWh wanted the three other slots are all needed for its own energy: the EV
    does not discharge (it would leave with less), and charges in the spike slot instead."""
    doc = v2g_doc({"max_power_kw": 11.04, "max_energy_kwh": 10})
    doc["sessions"][0]["energy_kwh"] = 8.28
    _, answer = planned(doc, model)
    entry = answer["sessions"][0]
    assert entry["energy_kwh"] == pytest.approx(8.28)
    assert min(entry["power_kw"]) >= 0
    assert entry["discharged_kwh"] == pytest.approx(0)


def switching_doc(phase_switching: bool) -> dict:
    return problem(
        [charger("c1", ocpp_version="2.0.1", phase_switching=phase_switching)],
        [session("s1", "c1", 10.0)],
        import_limit_kw=0.0,
        pv_kw=2.0,
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_2kw_pv_surplus_only_one_phase_charging_can_use(model):
    """No import; 2 kW of PV. On three phases the least an EV takes is 6 A x 3 x 230 V =
    4.14 kW: nothing. On one phase it is 1.38 kW: it charges 2 kW / 230 V = 8.69 A, floored
    to 8.6 A (1.978 kW) in every slot."""
    _, answer = planned(switching_doc(True), model)
    entry = answer["sessions"][0]
    assert entry["phases_used"] == [1, 1, 1, 1]
    np.testing.assert_allclose(entry["current_a"], 8.6)
    np.testing.assert_allclose(entry["power_kw"], 8.6 * 0.23)
    _, fixed = planned(switching_doc(False), model)
    np.testing.assert_allclose(fixed["sessions"][0]["current_a"], 0)
    assert "phases_used" not in fixed["sessions"][0]


@pytest.mark.parametrize(
    "doc",
    [
        peak_doc(),
        arbitrage_doc(0.15),
        arbitrage_doc(0.19),
        v2g_doc({"max_power_kw": 11.04, "max_energy_kwh": 10}),
        switching_doc(True),
    ],
    ids=["peak", "arbitrage", "idle", "v2g", "switching"],
)
def test_both_models_agree_on_energy_and_cost(doc):
    """The Pyomo reference and the matrix model: the same energy, the same cost (bill plus
    cycle cost), whichever of several optimal schedules each picks."""
    answers = [planned(doc, model)[1]["kpis"] for model in ("matrix", "pyomo")]
    for key in ("energy_delivered_kwh", "v2g_discharged_kwh"):
        assert answers[0][key] == pytest.approx(answers[1][key], abs=1e-4)
    costs = [a["total_cost"] + a["battery_cycle_cost"] for a in answers]
    assert costs[0] == pytest.approx(costs[1], abs=1e-3)
