"""Every shipped example solves to optimal, passes the checker, and its payloads validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartcharge.api.ocpp.validation import validate_ocpp_message
from smartcharge.api.service import plan
from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.problem import parse_problem

EXAMPLES = sorted((Path(__file__).parent.parent / "data" / "examples").glob("*.json"))


def test_the_five_examples_are_shipped():
    assert {p.stem for p in EXAMPLES} == {
        "workplace-20",
        "depot-120",
        "garage-8",
        "dc-hub",
        "scarcity-priorities",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_optimal_checked_and_emitted(path):
    doc = json.loads(path.read_text())
    problem = parse_problem(doc)
    _, answer = plan(doc)
    assert answer["status"] == "optimal"
    assert answer["solver"]["mip_gap"] <= problem.options.mip_gap
    violations = check_answer(problem, answer)
    assert not violations, format_violations(violations)
    session_profiles = {m["session_id"] for m in answer["ocpp"] if m["session_id"]}
    assert session_profiles == {s.id for s in problem.sessions}
    for message in answer["ocpp"]:
        validate_ocpp_message(message, problem.site.chargers)


def test_scarcity_priorities_decide_who_charges():
    """With priorities, the top half of the tiers misses less than when all are equal."""
    doc = json.loads((EXAMPLES[0].parent / "scarcity-priorities.json").read_text())
    top = {s["id"] for s in doc["sessions"] if s["priority"] >= 5}

    def top_shortfall(document: dict) -> float:
        _, answer = plan(document)
        return sum(s["unmet_kwh"] for s in answer["sessions"] if s["id"] in top)

    with_priorities = top_shortfall(doc)
    for session in doc["sessions"]:
        session["priority"] = 0
    assert with_priorities < top_shortfall(doc) - 1.0
