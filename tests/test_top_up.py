"""The top-up (water-filling over what a schedule leaves, tier by tier) on random problems.

Whatever schedule it starts from — nothing, the rules' schedule cut down, a solver's schedule
of which a stage cut short served only the higher tier — the topped-up schedule passes the
independent checker, only ever raises set-points (nothing a higher tier had is given up),
never gives a session more than it asked for, and leaves no room behind: topping it up again
changes nothing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.fallback import water_fill
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.kpis import session_energy
from smartcharge.optimizer.optimize import Plan, optimize
from smartcharge.optimizer.problem import ProblemError, parse_problem
from smartcharge.optimizer.rounding import round_setpoints
from smartcharge.optimizer.top_up import top_up
from tests.strategies import problems

RANDOM = settings(
    max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _checked(problem, index, setpoint, pv_hint=None) -> None:
    flows = site_flows(index, setpoint, pv_hint)
    plan = Plan(index, setpoint, flows, "feasible", list(index.warnings))
    violations = check_answer(problem, plan.to_answer())
    assert not violations, format_violations(violations)


def _assert_topped_up(problem, index, start, pv_hint=None) -> np.ndarray:
    topped, hint = top_up(index, start, pv_hint_kw=pv_hint)
    _checked(problem, index, topped, hint)
    assert (topped >= start - 1e-9).all()  # only raises
    delivered, _ = session_energy(index, topped)
    before, _ = session_energy(index, start)
    asked = np.maximum(index.energy_kwh, before)  # a start may already exceed what counts
    assert (delivered <= asked + 1e-6).all()
    again, _ = top_up(index, topped, pv_hint_kw=hint)
    np.testing.assert_allclose(again, topped)  # no room left for a short session
    return topped


def _parsed(doc):
    try:
        problem = parse_problem(doc)
    except ProblemError:
        return None, None
    return problem, build_index(problem)


@RANDOM
@given(problems(), st.floats(0.0, 1.0))
def test_topping_up_a_cut_down_rules_schedule(doc, share):
    problem, index = _parsed(doc)
    if problem is None:
        return
    start = round_setpoints(index, water_fill(index) * share)
    _checked(problem, index, start)
    _assert_topped_up(problem, index, start)


@RANDOM
@given(problems())
def test_topping_up_nothing_serves_the_higher_tier_first(doc):
    problem, index = _parsed(doc)
    if problem is None:
        return
    topped = _assert_topped_up(problem, index, np.zeros(index.plugged.shape))
    _, unmet = session_energy(index, topped)
    _, rules_unmet = session_energy(index, water_fill(index))
    top = index.priority == index.priority.max(initial=0)
    assert unmet[top].sum() <= rules_unmet[top].sum() + 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_topping_up_a_schedule_a_stage_left_to_the_higher_tier(doc):
    """What a time limit may leave: the higher tier's schedule, nothing yet for the others."""
    problem, index = _parsed(doc)
    if problem is None:
        return
    plan = optimize(problem)
    start = plan.setpoint.copy()
    start[index.priority < index.priority.max(initial=0)] = 0.0
    topped = _assert_topped_up(problem, index, start, plan.flows.pv_used_kw)
    lower = index.priority < index.priority.max(initial=0)
    _, unmet = session_energy(index, topped)
    _, start_unmet = session_energy(index, start)
    assert unmet[lower].sum() <= start_unmet[lower].sum() + 1e-9
