"""Replay with a battery (SPEC §4): it follows each plan's first slot, its state carries from
slot to slot, and the rule-based baselines leave it idle."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from smartcharge.optimizer.replay import replay
from smartcharge.optimizer.strategies import STRATEGIES
from tests.builders import at, charger, problem, session


def site_with_battery() -> dict:
    """Base load 10 kW with a 30 kW half hour, 10 per kW of peak: a 20 kWh battery can take
    some of the peak off the bill."""
    doc = problem(
        [charger("c1")],
        [],
        slots=8,
        import_limit_kw=60.0,
        tariff={"import_price_per_kwh": 0.2, "demand_charge_per_kw": 10.0},
        base_load_kw=[10, 10, 30, 30, 10, 10, 10, 10],
    )
    doc["site"]["batteries"] = [
        {
            "id": "bess-1",
            "capacity_kwh": 20,
            "soc_kwh": 10,
            "max_charge_kw": 20,
            "max_discharge_kw": 20,
            "efficiency": 0.81,
        }
    ]
    return doc


SESSIONS = [session("s1", "c1", 5.52, arrival=at(0), departure=at(8))]


def test_the_battery_follows_each_plans_first_slot():
    result = replay(site_with_battery(), copy.deepcopy(SESSIONS), STRATEGIES["milp"], "milp", 8)
    assert result.battery_kw is not None
    kpis = result.kpis()
    assert kpis["violations"] == 0
    assert kpis["energy_delivered_kwh"] == pytest.approx(5.52, abs=0.01)
    answer = result.plan().to_answer()
    soc = np.array(answer["batteries"][0]["soc_kwh"])
    assert soc.min() >= -1e-6 and soc.max() <= 20 + 1e-6
    # The whole replay as one answer keeps every battery rule (power, state, range), but for
    # the final state, which only each view's plan aims at ("replay" is no answer status).
    from smartcharge.optimizer.check import check_answer

    rules = {v.rule for v in check_answer(result.problem, answer)} - {"battery_final", "status"}
    assert not rules
    # A controller that sees 30 kW from slot 2 on (its forecast is the present) discharges there.
    assert (result.battery_kw[0, 2:4] < 0).all()


@pytest.mark.parametrize("name", ["edf", "llf", "equal-share"])
def test_baselines_leave_the_battery_idle(name):
    result = replay(site_with_battery(), copy.deepcopy(SESSIONS), STRATEGIES[name], name, 8)
    assert result.battery_kw is None
    kpis = result.kpis()
    assert kpis["violations"] == 0
    assert kpis["peak_import_kw"] >= 30
