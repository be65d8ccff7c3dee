"""SPEC §4 (batteries, V2G, phase switching) with what other issues built around the MILP.

SPEC §6: an early departure (an estimated one's protective quantile) counts the energy in the
car net of V2G discharge, and the early stage runs with battery, discharge and one-phase
columns in the model; a replay executes V2G discharge whatever the EV model, and a slot a
switching session spends on one phase teaches no one-phase EV. SPEC §7: the rule-based plan a
service answers when it gives up on a solve leaves batteries idle and says so. Worked by hand,
every plan through the checker."""

from __future__ import annotations

import numpy as np
import pytest

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.optimize import fallback_plan, optimize
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.replay import ReplayOptions, replay
from smartcharge.optimizer.strategies import STRATEGIES
from tests.builders import at, charger, problem, session

MODELS = ["matrix", "pyomo"]


def planned(doc: dict, model: str):
    doc = {**doc, "options": {**doc["options"], "model": model}}
    plan = optimize(doc)
    answer = plan.to_answer()
    violations = check_answer(parse_problem(doc), answer)
    assert not violations, format_violations(violations)
    return plan, answer


def v2g_doc(**fields) -> dict:
    """One V2G EV wanting 5.52 kWh (two slots at 16 A, 11.04 kW) over four slots, export paid
    1.0 in slot 2: without an early departure it charges 16 A in slots 0, 1, 3 and discharges
    16 A into the spike (test_storage_known_answers)."""
    discharge = {"max_power_kw": 11.04, "max_energy_kwh": 10}
    return problem(
        [charger("v1", ocpp_version="2.1", bidirectional=True)],
        [session("s1", "v1", 5.52, discharge=discharge, **fields)],
        tariff={"import_price_per_kwh": 0.2, "export_price_per_kwh": [0, 0, 1.0, 0]},
        grid={"export_limit_kw": 50},
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_v2g_session_that_may_leave_before_the_spike_ends_is_not_discharged_into_it(model):
    """The driver may leave at the end of slot 2: all 5.52 kWh fit by then (three slots at
    11.04 kW), so all of it is due then, net. Discharging 2.76 kWh in slot 2 would leave the
    car 2.76 kWh short at that moment: the early stage (above cost) keeps it from exporting,
    and the EV has its 5.52 kWh by the end of slot 2."""
    _, spike = planned(v2g_doc(), model)
    assert spike["sessions"][0]["discharged_kwh"] == pytest.approx(2.76)
    _, answer = planned(v2g_doc(departure_early=at(3)), model)
    entry = answer["sessions"][0]
    assert entry["discharged_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert sum(entry["power_kw"][:3]) * 0.25 == pytest.approx(5.52, abs=1e-3)
    assert entry["energy_kwh"] == pytest.approx(5.52, abs=1e-3)


@pytest.mark.parametrize("model", MODELS)
def test_the_early_stage_runs_with_a_battery_and_a_switching_charger(model):
    """A shortage (the staged path): two EVs wanting 20 kWh each, both of whom may leave
    after the first hour, share an 11.04 kW import limit with a lossless 5 kW battery at
    5 kWh that must end at 2 kWh; one charger switches phases. Energy first: 22.08 kWh of
    import and the battery's 3 kWh, however timed. Then the early parts (11.04 kWh each by
    the first hour): the battery discharges 5 kW for the whole first hour (empty) and
    recharges 2 kWh in the second, which moves 2 kWh more before the early departures at no
    loss of energy."""
    sessions = [
        session(f"s{i}", f"c{i}", 20.0, arrival=at(0), departure=at(8), departure_early=at(4))
        for i in range(2)
    ]
    chargers = [charger("c0", ocpp_version="2.0.1", phase_switching=True), charger("c1")]
    doc = problem(chargers, sessions, slots=8, import_limit_kw=11.04)
    doc["site"]["batteries"] = [
        {
            "id": "bess-1",
            "capacity_kwh": 10,
            "soc_kwh": 5,
            "final_soc_kwh": 2,
            "max_charge_kw": 5,
            "max_discharge_kw": 5,
            "efficiency": 1.0,
        }
    ]
    plan, answer = planned(doc, model)
    assert "early_departure" in plan.solver["stages"]
    assert answer["kpis"]["energy_delivered_kwh"] == pytest.approx(22.08 + 3.0, abs=0.1)
    battery_kw = np.asarray(answer["batteries"][0]["power_kw"])
    assert -battery_kw[:4].sum() * 0.25 == pytest.approx(5.0, abs=0.05)
    assert battery_kw[4:].sum() * 0.25 == pytest.approx(2.0, abs=0.05)
    early_kwh = sum(sum(s["power_kw"][:4]) for s in answer["sessions"]) * 0.25
    assert early_kwh == pytest.approx(11.04 + 5.0, abs=0.1)


def test_the_plan_a_service_falls_back_to_leaves_batteries_idle_and_says_so():
    """A solve given up on (SPEC §7): the rule-based schedule charges the EV, never discharges
    it, keeps the battery idle and warns that its final state is not reached."""
    doc = v2g_doc()
    doc["site"]["batteries"] = [
        {"id": "bess-1", "capacity_kwh": 10, "soc_kwh": 2, "final_soc_kwh": 6,
         "max_charge_kw": 5, "max_discharge_kw": 5}
    ]  # fmt: skip
    answer = fallback_plan(doc, "the solver was abandoned").to_answer()
    violations = check_answer(parse_problem(doc), answer)
    assert not violations, format_violations(violations)
    assert answer["status"] == "fallback"
    assert any("bess-1" in w and "final_soc_kwh" in w for w in answer["warnings"])
    np.testing.assert_allclose(answer["batteries"][0]["power_kw"], 0.0)
    assert answer["sessions"][0]["discharged_kwh"] == 0.0
    assert answer["sessions"][0]["energy_kwh"] == pytest.approx(5.52, abs=0.01)


def test_a_replay_with_a_switching_charger_does_not_learn_a_one_phase_ev():
    """2 kW of PV and no import: `milp` charges the switching session on one phase in every
    slot (test_storage_known_answers). The meter then shows current on one phase only, which
    is all the charger offered: the replay must not learn a one-phase EV from it (SPEC §6
    learning, SPEC §4 switching)."""
    doc = problem(
        [charger("c1", ocpp_version="2.0.1", phase_switching=True)],
        [],
        slots=8,
        import_limit_kw=0.0,
        pv_kw=2.0,
    )
    sessions = [session("s1", "c1", 10.0, arrival=at(0), departure=at(8))]
    result = replay(doc, sessions, STRATEGIES["milp"], "milp", 8)
    assert result.phases is not None and (result.phases[0] == 1).all()
    np.testing.assert_allclose(result.setpoint[0], 8.6)
    kinds = [entry["kind"] for entry in result.learnt.get("s1", {}).get("log", [])]
    assert "phases" not in kinds
    assert result.kpis()["violations"] == 0


@pytest.mark.parametrize("ev_model", ["ideal", "taper"])
def test_a_replay_discharges_a_v2g_ev_into_a_spike_and_charges_it_back(ev_model):
    """Export pays 1.0 in slot 1 only. From slot 0 the plan discharges 16 A into the spike
    and charges 16 A in the three slots after it: 5.52 kWh net. The replay executes the
    discharge whatever the EV model (it shapes only what an EV draws): ideal, the EV leaves
    with 5.52 kWh; tapering (arriving at 20 %, its default battery), it takes less in the last
    slot, where it is within 20 % of full."""
    discharge = {"max_power_kw": 11.04, "max_energy_kwh": 10}
    doc = problem(
        [charger("v1", ocpp_version="2.1", bidirectional=True)],
        [],
        slots=5,
        tariff={"import_price_per_kwh": 0.2, "export_price_per_kwh": [0, 1.0, 0, 0, 0]},
        grid={"export_limit_kw": 50},
    )
    sessions = [session("s1", "v1", 5.52, arrival=at(0), departure=at(5), discharge=discharge)]
    options = ReplayOptions(ev_model=ev_model)
    result = replay(doc, sessions, STRATEGIES["milp"], "milp", 5, options=options)
    np.testing.assert_allclose(result.setpoint[0, :4], [0, -16, 16, 16])
    kpis = result.kpis()
    assert kpis["violations"] == 0
    assert result.plan().to_answer()["kpis"]["v2g_discharged_kwh"] == pytest.approx(2.76)
    if ev_model == "ideal":
        assert result.setpoint[0, 4] == pytest.approx(16.0)
        assert kpis["energy_delivered_kwh"] == pytest.approx(5.52, abs=0.01)
    else:
        assert 0 < result.setpoint[0, 4] < 16.0
        assert 5.0 < kpis["energy_delivered_kwh"] < 5.52
