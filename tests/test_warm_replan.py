"""A re-plan that reuses the previous plan's model reaches the same optimum as a cold plan."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.generator import generate_problem
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.strategies import problems


def compare_warm_and_cold(doc: dict, departed: int = 0) -> None:
    first = optimize(doc)
    replan = copy.deepcopy(doc)
    del replan["sessions"][departed]
    warm = optimize(replan, previous=first)
    cold = optimize(replan)
    assert "model_reused" in warm.solver["speedups"]
    gap = parse_problem(doc).options.mip_gap
    warm_kpis, cold_kpis = warm.to_answer()["kpis"], cold.to_answer()["kpis"]
    requested = cold_kpis["energy_requested_kwh"]
    assert warm_kpis["unmet_kwh"] == pytest.approx(
        cold_kpis["unmet_kwh"], abs=gap * requested + 1e-3
    )
    assert warm_kpis["total_cost"] == pytest.approx(
        cold_kpis["total_cost"], rel=2 * gap + 1e-3, abs=1e-2
    )


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_warm_replan_after_a_departure_matches_a_cold_one(doc):
    try:
        parse_problem(doc)
    except ProblemError:
        return
    if len(doc["sessions"]) < 2:
        return
    compare_warm_and_cold(doc)


def test_warm_replan_on_a_generated_depot():
    compare_warm_and_cold(generate_problem(40, slots=48, seed=3), departed=5)


def test_a_changed_site_is_planned_cold():
    doc = generate_problem(10, slots=24, seed=2)
    first = optimize(doc)
    changed = copy.deepcopy(doc)
    changed["site"]["grid"]["import_limit_kw"] = 20.0
    assert "model_reused" not in optimize(changed, previous=first).solver["speedups"]
