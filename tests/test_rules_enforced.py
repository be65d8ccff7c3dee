"""Each hard rule of SPEC §1 is enforced by the model: dropping it lets the checker catch a
violation on a problem where it binds, and keeping it does not.

Rules held by rows are dropped by skipping their row block; rules held by variable bounds or
by where variables exist are dropped by widening the index the model is built from. The raw
solver schedule (before rounding, which would hide some breaches) is what is checked.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager

import numpy as np
import pytest

import smartcharge.optimizer.sparse_lp as sparse_lp
from smartcharge.optimizer.check import check_answer
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.matrix_model import MatrixModel
from smartcharge.optimizer.objective_order import solve_in_objective_order
from smartcharge.optimizer.optimize import Plan
from smartcharge.optimizer.problem import parse_problem
from tests.builders import at, charger, problem, session

THREE_PHASE_KW_PER_A = 0.69


@contextmanager
def rows_dropped(name: str | None):
    original = sparse_lp.SparseLP.add_rows

    def add_rows(self, block, *args, **kwargs):
        if block != name:
            original(self, block, *args, **kwargs)

    sparse_lp.SparseLP.add_rows = add_rows
    try:
        yield
    finally:
        sparse_lp.SparseLP.add_rows = original


def raw_violations(doc: dict, rows: str | None = None, widen=None) -> set[str]:
    """Rules the unrounded solver schedule breaks, with a row block or a bound dropped."""
    parsed = parse_problem(doc)
    index = build_index(parsed)
    modelled = widen(index) if widen else index
    with rows_dropped(rows):
        model = MatrixModel(modelled)
    staged = solve_in_objective_order(model, 1e-6, time.perf_counter() + 20)
    assert staged.has_solution
    setpoint, pv_used = model.setpoints()
    plan = Plan(index, setpoint, site_flows(index, setpoint, pv_used), "optimal", index.warnings)
    rules = {v.rule for v in check_answer(parsed, plan.to_answer())} - {"rounding"}
    # Site flows re-derive PV use within the true limits, which would hide a breach of the
    # grid's own variables: read those from the solver.
    blocks = model.lp.blocks
    grid_import = model.values[blocks["grid_import_kw"]]
    grid_export = model.values[blocks["grid_export_kw"]]
    if (np.minimum(grid_import, grid_export) > 1e-6).any():
        rules.add("import_export_both")
    if (grid_export > index.export_limit_kw + 1e-6).any():
        rules.add("grid_export")
    return rules


def two_evs(**fields) -> dict:
    return problem(
        [charger("c1", max_current_a=32), charger("c2", max_current_a=32)],
        [session("s1", "c1", 30), session("s2", "c2", 30)],
        **fields,
    )


CASES = [
    # (rule the checker reports, rows to drop, widening, problem where it binds)
    ("semi_continuous", "semi_continuous_floor", None, two_evs(import_limit_kw=7 * 0.69)),
    (
        "grid_phase",
        "grid_phase_limit",
        None,
        problem(
            [charger("c1", max_current_a=32), charger("c2", max_current_a=32)],
            [session("s1", "c1", 30, phases=1), session("s2", "c2", 30, phases=1)],
            grid={"phase_limit_a": 20},
        ),
    ),
    (
        # A grid operator's per-slot cap (20 A in slot 1 only): a model that plans against the
        # loosest cap of the horizon breaks it there.
        "grid_phase",
        None,
        lambda ix: dataclasses.replace(
            ix,
            phase_upper_a=np.full_like(ix.phase_upper_a, ix.phase_upper_a.max()),
            phase_lower_a=np.full_like(ix.phase_lower_a, ix.phase_lower_a.min()),
        ),
        problem(
            [charger("c1", max_current_a=32), charger("c2", max_current_a=32)],
            [session("s1", "c1", 30, phases=1), session("s2", "c2", 30, phases=1)],
            grid={"phase_limit_a": [40, 20, 40, 40]},
        ),
    ),
    (
        "circuit_power",
        "circuit_power_limit",
        None,
        problem(
            [charger("c1", circuit="p"), charger("c2", circuit="p")],
            [session("s1", "c1", 30), session("s2", "c2", 30)],
            circuits=[{"id": "p", "limit_kw": 11.04}],
        ),
    ),
    (
        "circuit_phase",
        "circuit_phase_limit",
        None,
        problem(
            [charger("c1", circuit="p"), charger("c2", circuit="p")],
            [session("s1", "c1", 30), session("s2", "c2", 30)],
            circuits=[{"id": "root", "phase_limit_a": 20}, {"id": "p", "parent": "root"}],
        ),
    ),
    (
        "energy_cap",
        "energy_cap",
        None,
        problem(
            [charger("c1")],
            [session("s1", "c1", 1.0)],
            tariff={"import_price_per_kwh": -0.1},
        ),
    ),
    (
        "import_export_both",
        "import_only_when_importing",
        None,
        problem(
            [charger("c1")],
            [session("s1", "c1", 1.0)],
            pv_kw=20.0,
            grid={"export_limit_kw": 50},
            tariff={"import_price_per_kwh": -0.05, "export_price_per_kwh": 0.10},
        ),
    ),
    (
        "grid_import",
        None,
        lambda ix: dataclasses.replace(ix, import_limit_kw=ix.import_limit_kw + 100),
        two_evs(import_limit_kw=10),
    ),
    (
        "grid_export",
        None,
        lambda ix: dataclasses.replace(ix, export_limit_kw=ix.export_limit_kw + 100),
        problem(
            [charger("c1")],
            [session("s1", "c1", 1.0)],
            pv_kw=30.0,
            grid={"export_limit_kw": 5},
            tariff={"export_price_per_kwh": 0.1},
        ),
    ),
    (
        "session_max",
        None,
        lambda ix: dataclasses.replace(ix, unit_max=ix.unit_max * 2),
        problem([charger("c1")], [session("s1", "c1", 30, max_current_a=10)]),
    ),
    (
        "session_window",
        None,
        lambda ix: dataclasses.replace(ix, plugged=np.ones_like(ix.plugged)),
        problem([charger("c1")], [session("s1", "c1", 30, arrival=at(2))]),
    ),
]


@pytest.mark.parametrize(("rule", "rows", "widen", "doc"), CASES, ids=[c[0] for c in CASES])
def test_rule_is_enforced_and_its_absence_is_caught(rule, rows, widen, doc):
    assert rule not in raw_violations(doc)
    assert rule in raw_violations(doc, rows=rows, widen=widen)
