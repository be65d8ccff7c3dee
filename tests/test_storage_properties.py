"""Property tests of SPEC §4 on random small problems with batteries, bidirectional sessions
and phase-switching chargers: every answer passes the checker; a battery never makes the plan
worse; discharge never costs a driver energy; switching never lowers the energy delivered.

A few dozen examples each, so that the file runs in seconds.
"""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import HealthCheck, given, settings

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.strategies import storage_problems

FEW = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def both_optimal(*answers: dict | None) -> bool:
    """The claims are about optimal plans: a stage cut short by a stall or the time limit
    (`feasible`) promises only a schedule that keeps every rule."""
    return all(a is not None and a["status"] == "optimal" for a in answers)


def answered(doc: dict) -> dict | None:
    try:
        problem = parse_problem(doc)
    except ProblemError:
        return None
    answer = optimize(problem).to_answer()
    violations = check_answer(problem, answer)
    assert not violations, format_violations(violations)
    return answer


def unmet_by_tier(doc: dict, answer: dict) -> list[float]:
    """Unmet energy per priority tier, highest first."""
    unmet: dict[int, float] = {}
    for session, entry in zip(doc["sessions"], answer["sessions"], strict=True):
        tier = session.get("priority", 0)
        unmet[tier] = unmet.get(tier, 0.0) + entry["unmet_kwh"]
    return [unmet[t] for t in sorted(unmet, reverse=True)]


def energy_tolerance_kwh(doc: dict) -> float:
    """The gap on (1) plus what rounding to 0.1 A may cost each session in each slot."""
    total = sum(s["energy_kwh"] for s in doc["sessions"])
    slots = doc["horizon"]["slots"] * doc["horizon"]["step_minutes"] / 60.0
    return doc["options"]["mip_gap"] * total + 0.1 * 0.69 * slots * len(doc["sessions"]) + 1e-6


def no_worse_in_energy(better: list[float], worse: list[float], tol: float) -> bool:
    """Lexicographically, tier by tier from the highest: `better` is short by no more."""
    for b, w in zip(better, worse, strict=True):
        if b > w + tol:
            return False
        if b < w - tol:
            return True
    return True


@FEW
@given(storage_problems())
def test_every_storage_answer_passes_the_checker(doc):
    answer = answered(doc)
    if answer is not None:
        assert answer["status"] in ("optimal", "feasible", "fallback")


@FEW
@given(storage_problems())
def test_adding_a_battery_never_raises_the_optimal_cost(doc):
    """Idle is always open to a battery whose final state is its starting one (the default):
    with it, the plan is no worse in energy, and where energy is the same, costs no more
    (bill plus cycle cost) beyond the gap and rounding."""
    for battery in doc["site"]["batteries"]:
        battery.pop("final_soc_kwh", None)
    without = copy.deepcopy(doc)
    without["site"]["batteries"] = []
    with_answer, without_answer = answered(doc), answered(without)
    if not both_optimal(with_answer, without_answer) or not doc["site"]["batteries"]:
        return
    tol = energy_tolerance_kwh(doc)
    assert no_worse_in_energy(
        unmet_by_tier(doc, with_answer), unmet_by_tier(doc, without_answer), tol
    )
    same_energy = np.allclose(
        unmet_by_tier(doc, with_answer), unmet_by_tier(doc, without_answer), atol=1e-3
    )
    if same_energy:
        cost_with = with_answer["kpis"]["total_cost"] + with_answer["kpis"]["battery_cycle_cost"]
        cost_without = without_answer["kpis"]["total_cost"]
        # Rounding set-points down may move either plan's cost by a few cents of energy.
        slack = doc["options"]["mip_gap"] * abs(cost_without) + 0.05 + 0.01 * abs(cost_without)
        assert cost_with <= cost_without + slack


@FEW
@given(storage_problems())
def test_allowing_discharge_never_lowers_a_sessions_net_energy(doc):
    """Every session that discharges ends with at least the net energy it gets when no session
    may discharge, and no tier is shorter."""
    without = copy.deepcopy(doc)
    for session in without["sessions"]:
        session.pop("discharge", None)
    with_answer, without_answer = answered(doc), answered(without)
    if not both_optimal(with_answer, without_answer):
        return
    tol = energy_tolerance_kwh(doc)
    assert no_worse_in_energy(
        unmet_by_tier(doc, with_answer), unmet_by_tier(doc, without_answer), tol
    )
    for entry, before in zip(with_answer["sessions"], without_answer["sessions"], strict=True):
        if entry.get("discharged_kwh", 0.0) > 1e-6:
            assert entry["unmet_kwh"] <= before["unmet_kwh"] + tol, entry["id"]


@FEW
@given(storage_problems())
def test_allowing_switching_never_lowers_energy(doc):
    without = copy.deepcopy(doc)
    for charger in without["site"]["chargers"]:
        charger["phase_switching"] = False
    with_answer, without_answer = answered(doc), answered(without)
    if not both_optimal(with_answer, without_answer):
        return
    assert no_worse_in_energy(
        unmet_by_tier(doc, with_answer),
        unmet_by_tier(doc, without_answer),
        energy_tolerance_kwh(doc),
    )
