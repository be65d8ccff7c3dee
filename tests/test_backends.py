"""The fast sparse-matrix model and the Pyomo reference model reach the same optimum."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.optimize import optimize
from optimizer.problem import ProblemError
from tests.strategies import problems


def solve_both(doc: dict) -> tuple[dict, dict]:
    answers = []
    for model in ("matrix", "pyomo"):
        variant = copy.deepcopy(doc)
        variant["options"]["model"] = model
        answers.append(optimize(variant).to_answer())
    return answers[0], answers[1]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@given(problems())
def test_matrix_and_pyomo_models_agree_on_energy_and_cost(doc):
    try:
        fast, reference = solve_both(doc)
    except ProblemError:
        return
    assert fast["status"] == reference["status"] == "optimal"
    assert fast["kpis"]["unmet_kwh"] == pytest.approx(reference["kpis"]["unmet_kwh"], abs=0.01)
    assert fast["kpis"]["total_cost"] == pytest.approx(
        reference["kpis"]["total_cost"], rel=1e-3, abs=1e-3
    )
    assert fast["solver"]["stages"] == reference["solver"]["stages"]
