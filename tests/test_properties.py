"""Property tests: on many random small problems every answer passes the independent checker
and never delivers less energy (tier by tier) than the rule-based fallback."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.fallback import water_fill
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.kpis import session_energy
from smartcharge.optimizer.optimize import Plan, optimize
from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.strategies import problems

RANDOM_PROBLEMS = settings(
    max_examples=220,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@RANDOM_PROBLEMS
@given(problems())
def test_every_answer_passes_the_checker_and_beats_the_fallback(doc):
    checked = checked_plan(doc)
    if checked is None:
        return
    plan, answer = checked
    assert answer["status"] in ("optimal", "fallback")
    assert_never_below_the_rules(plan)


def checked_plan(doc: dict) -> tuple[Plan, dict] | None:
    """The plan and answer of a random document that passes the checker (None: the document
    is invalid, which the generator allows)."""
    try:
        problem = parse_problem(doc)
    except ProblemError:
        return None
    plan = optimize(problem)
    answer = plan.to_answer()
    violations = check_answer(problem, answer)
    assert not violations, format_violations(violations)
    return plan, answer


def assert_never_below_the_rules(plan: Plan) -> None:
    """Tier by tier, the plan leaves no more unmet than water-filling on the problem it
    planned (estimates filled in)."""
    index = build_index(plan.problem)
    _, plan_unmet = session_energy(index, plan.setpoint)
    _, rules_unmet = session_energy(index, water_fill(index))
    tolerance_kwh = plan.problem.options.mip_gap * index.energy_counts_kwh.sum() + 1e-6
    for tier in sorted(set(index.priority.tolist()), reverse=True):
        in_tier = index.priority == tier
        plan_short, rules_short = plan_unmet[in_tier].sum(), rules_unmet[in_tier].sum()
        assert plan_short <= rules_short + tolerance_kwh, f"tier {tier}"
        if plan_short < rules_short - 1e-6:
            break


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(problems())
def test_the_fallback_alone_respects_every_limit(doc):
    """The rule-based schedule is what a time-out returns: it must pass on its own."""
    try:
        problem = parse_problem(doc)
    except ProblemError:
        return
    index = build_index(problem)
    setpoint = water_fill(index)
    plan = Plan(index, setpoint, site_flows(index, setpoint), "fallback", list(index.warnings))
    violations = check_answer(problem, plan.to_answer())
    assert not violations, format_violations(violations)


@settings(
    max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(problems(csms=True))
def test_sessions_as_a_csms_knows_them_pass_the_checker(doc):
    """Unknown departures and energies, early departures, EVs capped or full (SPEC §6): every
    answer keeps to the estimates it declares and to every limit, and never delivers less
    than the rules would on the problem as estimated."""
    checked = checked_plan(doc)
    if checked is None:
        return
    plan, answer = checked
    declared = [s.estimated for s in parse_problem(doc).sessions]
    assert [s["estimated"] for s in answer["sessions"]] == declared
    assert_never_below_the_rules(plan)
