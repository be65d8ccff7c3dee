"""`make bench`: the optimizer's speed at depot scale, side by side in one run.

For each scenario (seeded problems from `benchmarks.generator`), median of `--repeat` runs of
the end-to-end path (problem JSON in -> answer with OCPP payloads out), and in the same run:
(a) a plain single-shot solve of the same MILP with default HiGHS settings (no relaxation
tricks, no staging) under the same time limit, and (b) the LP relaxation alone ("the limit").
Every answer is passed through the independent checker; a violation is a failure.
Each scenario runs in its own process so that its peak RSS is its own.

    python -m benchmarks.run [--quick] [--repeat 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

SCENARIOS: dict[str, dict] = {
    "10x96": {"n_chargers": 10, "slots": 96},
    "50x96": {"n_chargers": 50, "slots": 96},
    "200x96": {"n_chargers": 200, "slots": 96},
    "1000x96": {"n_chargers": 1000, "slots": 96},
    "200x288 (5 min)": {"n_chargers": 200, "slots": 288, "step_minutes": 5},
    # time_limit_s must be honoured: the answer within the limit + 10 %
    "1000x96, limit 1 s": {"n_chargers": 1000, "slots": 96, "time_limit_s": 1.0},
}
QUICK = ("10x96", "50x96", "200x96")
TIME_LIMIT_S = 60.0


@dataclass
class Row:
    scenario: str
    status: str
    build_s: float
    solve_s: float
    total_s: float
    gap: float | None
    objective: float
    violations: int
    plain_s: float
    plain_gap: float | None
    lp_s: float
    replan_s: float
    peak_rss_mb: float
    speedups: str


def run_scenario(name: str, repeat: int, seed: int = 1) -> Row:
    """Everything measured for one scenario, in this process."""
    from benchmarks.generator import generate_problem
    from smartcharge.api.service import plan
    from smartcharge.optimizer.check import check_answer
    from smartcharge.optimizer.problem import parse_problem

    spec = dict(SCENARIOS[name])
    time_limit_s = spec.pop("time_limit_s", TIME_LIMIT_S)
    doc = generate_problem(seed=seed, **spec)
    doc["options"] = {**doc.get("options", {}), "time_limit_s": time_limit_s, "mip_gap": 0.005}
    text = json.dumps(doc)
    totals, answers = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        _, answer = plan(json.loads(text))
        totals.append(time.perf_counter() - started)
        answers.append(answer)
    answer = answers[-1]
    problem = parse_problem(doc)
    violations = sum(len(check_answer(problem, a)) for a in answers)
    plain_s, plain_gap, lp_s = plain_and_relaxation(doc)
    replan_s = warm_replan_s(doc)
    solver = answer["solver"]
    return Row(
        scenario=name,
        status=answer["status"],
        build_s=solver["build_s"],
        solve_s=solver["solve_s"],
        total_s=statistics.median(totals),
        gap=solver["mip_gap"],
        objective=answer["kpis"]["total_cost"],
        violations=violations,
        plain_s=plain_s,
        plain_gap=plain_gap,
        lp_s=lp_s,
        replan_s=replan_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        speedups=",".join(solver.get("speedups", [])),
    )


def plain_and_relaxation(doc: dict) -> tuple[float, float | None, float]:
    """(plain single-shot MILP seconds, its gap, LP relaxation seconds) of the same model."""
    import highspy
    import numpy as np

    from smartcharge.optimizer.index import build_index
    from smartcharge.optimizer.matrix_model import MatrixModel
    from smartcharge.optimizer.problem import parse_problem
    from smartcharge.optimizer.solve import SolveResult, termination_of

    index = build_index(parse_problem(doc))
    plain = MatrixModel(index).highs
    plain.setOptionValue("time_limit", TIME_LIMIT_S)
    started = time.perf_counter()
    plain.run()
    plain_s = time.perf_counter() - started
    info = plain.getInfo()
    has_solution = info.primal_solution_status == 2
    plain_gap = SolveResult(
        termination_of(plain.getModelStatus()),
        has_solution,
        info.objective_function_value if has_solution else None,
        info.mip_dual_bound,
        plain_s,
    ).gap
    relaxation = MatrixModel(index).relaxation
    relaxation.setOptionValue("time_limit", TIME_LIMIT_S)
    started = time.perf_counter()
    relaxation.run()
    lp_s = time.perf_counter() - started
    assert np.isfinite(relaxation.getInfo().objective_function_value)
    del highspy
    return plain_s, plain_gap, lp_s


def warm_replan_s(doc: dict) -> float:
    """Seconds to re-plan after one departure, starting from the previous plan's schedule."""
    from smartcharge.optimizer.optimize import optimize

    first = optimize(doc)
    replan = json.loads(json.dumps(doc))
    replan["sessions"] = replan["sessions"][1:]
    started = time.perf_counter()
    optimize(replan, previous=first)
    return time.perf_counter() - started


def format_table(rows: list[Row]) -> str:
    header = (
        "| scenario | status | build s | solve s | total s (median) | gap | cost | checker "
        "| plain HiGHS s (gap) | x faster | LP relaxation s | total / LP | warm re-plan s "
        "| warm / cold | peak RSS MB | speed-ups |"
    )
    lines = [header, "|" + "---|" * 16]
    for r in rows:
        plain_gap = "none" if r.plain_gap is None else f"{100 * r.plain_gap:.2f} %"
        gap = "n/a" if r.gap is None else f"{100 * r.gap:.3f} %"
        lines.append(
            f"| {r.scenario} | {r.status} | {r.build_s:.2f} | {r.solve_s:.2f} | {r.total_s:.2f} "
            f"| {gap} | {r.objective:.2f} | {'ok' if r.violations == 0 else r.violations} "
            f"| {r.plain_s:.2f} ({plain_gap}) | {r.plain_s / r.total_s:.1f} | {r.lp_s:.2f} "
            f"| {r.total_s / max(r.lp_s, 1e-9):.2f} | {r.replan_s:.2f} "
            f"| {r.replan_s / r.total_s:.2f} | {r.peak_rss_mb:.0f} | {r.speedups} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small scenarios")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.repeat).__dict__))
        return 0
    names = QUICK if args.quick else tuple(SCENARIOS)
    rows = []
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.run",
                "--scenario",
                name,
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(Row(**json.loads(out.stdout.strip().splitlines()[-1])))
        print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(format_table(rows))
    return 1 if any(r.violations for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
