"""A re-plan that reuses the previous plan's model (patched in place: arrivals appended,
departures fixed at 0) reaches the same optimum as a cold plan, and its answer, with the
explanations and payloads of unchanged chargers carried over, passes the checker."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.generator import generate_problem
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.strategies import problems


def compare_warm_and_cold(doc: dict, departed: int = 0, arriving: int | None = None) -> None:
    """Plan `doc` without session `arriving`, then re-plan it with that session and without
    session `departed`, warm and cold."""
    start = copy.deepcopy(doc)
    if arriving is not None:
        del start["sessions"][arriving]
    first = optimize(start)
    replan = copy.deepcopy(doc)
    del replan["sessions"][departed]
    warm = optimize(replan, previous=first)
    cold = optimize(replan)
    tiers_before = {s.get("priority", 0) for s in start["sessions"]}
    if {s.get("priority", 0) for s in replan["sessions"]} <= tiers_before:
        assert "model_reused" in warm.solver["speedups"]  # a new tier renumbers: built cold
    gap = parse_problem(doc).options.mip_gap
    warm_kpis, cold_kpis = warm.to_answer()["kpis"], cold.to_answer()["kpis"]
    requested = cold_kpis["energy_requested_kwh"]
    assert warm_kpis["unmet_kwh"] == pytest.approx(
        cold_kpis["unmet_kwh"], abs=gap * requested + 1e-3
    )
    assert warm_kpis["total_cost"] == pytest.approx(
        cold_kpis["total_cost"], rel=2 * gap + 1e-3, abs=1e-2
    )


def _with_sessions(doc: dict, at_least: int) -> bool:
    try:
        parse_problem(doc)
    except ProblemError:
        return False
    return len(doc["sessions"]) >= at_least


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_warm_replan_after_a_departure_matches_a_cold_one(doc):
    if _with_sessions(doc, 2):
        compare_warm_and_cold(doc)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_warm_replan_after_an_arrival_and_a_departure_matches_a_cold_one(doc):
    if _with_sessions(doc, 3):
        compare_warm_and_cold(doc, departed=0, arriving=len(doc["sessions"]) - 1)


def test_warm_replan_on_a_generated_depot():
    compare_warm_and_cold(generate_problem(40, slots=48, seed=3), departed=5)


def test_an_arrival_is_appended_to_the_live_model_not_built():
    doc = generate_problem(40, slots=48, seed=4, priority_levels=(0, 0, 0, 1))
    compare_warm_and_cold(doc, departed=2, arriving=9)
    arrived = doc["sessions"][9]
    first_doc = copy.deepcopy(doc)
    del first_doc["sessions"][9]
    first = optimize(first_doc)
    live = first.model.relaxation
    columns_before = live.highs.getNumCol()
    warm = optimize(doc, previous=first)
    assert warm.model.relaxation is live  # the same HiGHS instance, patched
    assert live.highs.getNumCol() > columns_before  # the arrival's columns were appended
    assert arrived["id"] in warm.index.session_ids


def test_a_replan_carries_over_what_did_not_change_and_passes_the_checker():
    from smartcharge.api.service import plan, replan
    from smartcharge.optimizer.check import check_answer, format_violations

    doc = generate_problem(30, slots=48, seed=5, priority_levels=(0, 0, 0, 1))
    previous, previous_answer = plan(doc)
    later = copy.deepcopy(doc)
    del later["sessions"][4]
    _, answer = replan(previous, previous_answer, later)
    violations = check_answer(parse_problem(later), answer)
    assert not violations, format_violations(violations)
    cold = plan(later)[1]
    assert {m["session_id"] for m in answer["ocpp"]} == {m["session_id"] for m in cold["ocpp"]}
    before = {m["session_id"]: m for m in previous_answer["ocpp"] if m["session_id"]}
    carried = [m for m in answer["ocpp"] if m["session_id"] and m is before.get(m["session_id"])]
    assert carried  # unchanged chargers' payloads are the very messages sent before


def test_a_changed_site_is_planned_cold():
    doc = generate_problem(10, slots=24, seed=2)
    first = optimize(doc)
    changed = copy.deepcopy(doc)
    changed["site"]["grid"]["import_limit_kw"] = 20.0
    assert "model_reused" not in optimize(changed, previous=first).solver["speedups"]
