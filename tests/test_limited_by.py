"""`limited_by` names the real reason (SPEC §2, §6): what the EV was seen to do, energy met
within what rounding can cost, and, where no limit binds, what the solver may leave; never a
catch-all that points at limits with room left."""

from __future__ import annotations

import numpy as np
import pytest

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.optimize import Plan, optimize
from smartcharge.optimizer.problem import parse_problem
from tests.builders import at, charger, problem, session


def reasons(entry: dict) -> dict[str, list[int]]:
    return {r["constraint"]: r["slots"] for r in entry["limited_by"]}


def plan_of(doc: dict, setpoint: np.ndarray, status: str = "optimal") -> dict:
    """The answer of a hand-made schedule (the one being explained)."""
    index = build_index(parse_problem(doc))
    return Plan(index, setpoint, site_flows(index, setpoint), status, []).to_answer()


def flat_site(energy_kwh: float) -> dict:
    """One 3 x 16 A EV plugged in for two hours on a 90 kW connection, a flat tariff."""
    return problem(
        [charger("c1")],
        [session("s1", "c1", energy_kwh, arrival=at(0), departure=at(8))],
        slots=8,
        import_limit_kw=90.0,
    )


def test_short_by_what_rounding_costs_is_energy_met_not_site_limits():
    """The field case of issue 20: a charger at 0 A for hours on a site far below its limits,
    its session 0.05 kWh short after set-points were floored to 0.1 A: energy met."""
    kwh_per_a = 230 * 3 / 1000 * 0.25
    setpoint = np.zeros((1, 8))
    setpoint[0, :2] = 14.4  # wants what 2 slots at 14.45 A give: short by 2 x 0.05 A
    answer = plan_of(flat_site(2 * 14.45 * kwh_per_a), setpoint)
    assert reasons(answer["sessions"][0]) == {"energy_met": list(range(8))}


@pytest.mark.parametrize(
    ("status", "reason"),
    [("optimal", "solver_gap"), ("feasible", "solver_time_limit"), ("fallback", "fallback")],
)
def test_short_where_nothing_binds_names_what_the_solver_left(status, reason):
    setpoint = np.zeros((1, 8))
    setpoint[0, :2] = 10.0  # wants 10 kWh, gets 3.45: every slot had room
    answer = plan_of(flat_site(10.0), setpoint, status)
    assert reasons(answer["sessions"][0]) == {reason: [0, 1, 2, 3, 4, 5, 6, 7]}


def test_the_evs_own_maximum_is_named_ev_max():
    """Seen taking at most 10 A on a 16 A charger: planned at 10 A while it wants more, the
    reason is the EV, not the site."""
    doc = flat_site(40.0)
    doc["sessions"][0]["ev_max_current_a"] = 10.0
    parsed = parse_problem(doc)
    answer = optimize(parsed).to_answer()
    assert check_answer(parsed, answer) == []
    entry = answer["sessions"][0]
    assert max(entry["current_a"]) == pytest.approx(10.0)
    assert reasons(entry) == {"ev_max": list(range(8))}


def test_an_ev_seen_drawing_below_the_minimum_is_still_offered_the_minimum():
    doc = flat_site(40.0)
    doc["sessions"][0]["ev_max_current_a"] = 3.0
    parsed = parse_problem(doc)
    answer = optimize(parsed).to_answer()
    assert check_answer(parsed, answer) == []
    assert set(answer["sessions"][0]["current_a"]) == {6.0}


def test_a_full_battery_gets_nothing_and_says_why():
    doc = problem(
        [charger("c1"), charger("c2")],
        [
            session("full", "c1", 20.0, arrival=at(0), departure=at(8), ev_full=True),
            session("other", "c2", 5.0, arrival=at(0), departure=at(8)),
        ],
        slots=8,
        import_limit_kw=11.04,
    )
    parsed = parse_problem(doc)
    answer = optimize(parsed).to_answer()
    violations = check_answer(parsed, answer)
    assert not violations, format_violations(violations)
    full = answer["sessions"][0]
    assert not any(full["current_a"]) and full["unmet_kwh"] == 0
    assert reasons(full) == {"ev_full": list(range(8))}
    assert answer["kpis"]["energy_requested_kwh"] == pytest.approx(5.0)
