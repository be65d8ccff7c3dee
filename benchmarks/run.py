"""`make bench`: the optimizer's speed at depot scale, easy and hard sites side by side.

For each scenario (seeded problems from `benchmarks.generator`; "hard" ones follow its `HARD`
recipe: scarcity, two priority tiers, PV, gap 0.001), the median of `--repeat` end-to-end
plans (problem JSON in -> answer with OCPP payloads out, in process), with the time of each
stage of the objective order, the energy delivered per tier, and in the same run:
(a) a plain single-shot solve of the same MILP (the weighted objective) with default HiGHS
settings under the same time limit (in its own process, killed at twice the limit + 10 s),
(b) the LP relaxation alone, solved cold ("the limit"),
(c) warm re-plans after one arrival and after one departure (`api.service.replan`), end to
end, against the cold plan. Every answer is passed through the independent checker; a
violation is a failure. Each scenario runs in its own process so that its peak RSS is its own
(measured after the plans, before the plain solve).

    python -m benchmarks.run [--quick] [--repeat 5] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import copy
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
    "hard 200x96": {"n_chargers": 200, "slots": 96, "hard": True},
    "hard 1000x96": {"n_chargers": 1000, "slots": 96, "hard": True},
    "hard 200x288 (5 min)": {"n_chargers": 200, "slots": 288, "step_minutes": 5, "hard": True},
    "hard 1000x96, limit 3 s": {"n_chargers": 1000, "slots": 96, "hard": True, "time_limit_s": 3},
    # SPEC §4: the same depot with a 200 kWh battery and 20 bidirectional sessions (within 2x)
    "depot 120x96": {"n_chargers": 120, "slots": 96},
    "depot 120x96 + battery, 20 V2G": {"n_chargers": 120, "slots": 96, "storage": True},
}
QUICK = ("10x96", "50x96", "200x96", "hard 200x96")
TIME_LIMIT_S = 60.0


@dataclass
class Row:
    scenario: str
    status: str
    build_s: float
    stages: str
    solve_s: float
    total_s: float
    gap: float | None
    objective: float
    tiers_kwh: str
    violations: int
    plain_s: float
    plain_status: str
    plain_gap: float | None
    lp_s: float
    arrival_s: float
    departure_s: float
    rss_mb: float
    speedups: str


def problem_of(name: str, seed: int = 1) -> dict:
    from benchmarks.generator import generate_problem, hard_problem

    spec = dict(SCENARIOS[name])
    time_limit_s = spec.pop("time_limit_s", TIME_LIMIT_S)
    storage = spec.pop("storage", False)
    if spec.pop("hard", False):
        return hard_problem(seed=seed, time_limit_s=time_limit_s, **spec)
    doc = generate_problem(seed=seed, **spec)
    doc["options"] = {**doc.get("options", {}), "time_limit_s": time_limit_s, "mip_gap": 0.005}
    return with_storage(doc) if storage else doc


def with_storage(doc: dict, v2g_sessions: int = 20) -> dict:
    """The site with a 200 kWh battery (100 kW each way, 90 % round trip, 0.02 per kWh of
    cycling) and its first `v2g_sessions` sessions on bidirectional OCPP 2.1 chargers that
    may feed back 11 kW and 10 kWh each (SPEC §4)."""
    doc = copy.deepcopy(doc)
    doc["site"]["batteries"] = [
        {
            "id": "bess-1",
            "capacity_kwh": 200,
            "soc_kwh": 100,
            "min_soc_kwh": 20,
            "max_charge_kw": 100,
            "max_discharge_kw": 100,
            "efficiency": 0.9,
            "cycle_cost_per_kwh": 0.02,
        }
    ]
    chargers = {c["id"]: c for c in doc["site"]["chargers"]}
    for session in doc["sessions"][:v2g_sessions]:
        chargers[session["charger_id"]].update(ocpp_version="2.1", bidirectional=True)
        session["discharge"] = {"max_power_kw": 11.0, "max_energy_kwh": 10.0}
    return doc


def run_scenario(name: str, repeat: int, seed: int = 1) -> Row:
    """Everything measured for one scenario, in this process."""
    from smartcharge.api.service import plan
    from smartcharge.api.solver_pool import preload_solver_stack
    from smartcharge.optimizer.check import check_answer
    from smartcharge.optimizer.problem import parse_problem

    preload_solver_stack()  # as a solver process would be: first-use costs paid once
    doc = problem_of(name, seed)
    text = json.dumps(doc)
    totals, answers = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        result, answer = plan(json.loads(text))
        totals.append(time.perf_counter() - started)
        answers.append(answer)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    answer = answers[-1]
    problem = parse_problem(doc)
    violations = sum(len(check_answer(problem, a)) for a in answers)
    arrival_s, departure_s = warm_replan_s(doc)
    plain_s, plain_status, plain_gap, lp_s = plain_and_relaxation(name, seed)
    solver = answer["solver"]
    return Row(
        scenario=name,
        status=answer["status"],
        build_s=solver["build_s"],
        stages=", ".join(
            f"{stage} {seconds:.2f}"
            for stage, seconds in zip(solver["stages"], solver["stage_s"], strict=True)
        ),
        solve_s=solver["solve_s"],
        total_s=statistics.median(totals),
        gap=solver["mip_gap"],
        objective=answer["kpis"]["total_cost"],
        tiers_kwh=tier_energy(result),
        violations=violations,
        plain_s=plain_s,
        plain_status=plain_status,
        plain_gap=plain_gap,
        lp_s=lp_s,
        arrival_s=arrival_s,
        departure_s=departure_s,
        rss_mb=rss_mb,
        speedups=",".join(solver.get("speedups", [])),
    )


def tier_energy(result) -> str:
    """Energy that counts delivered per priority tier [kWh], highest first."""
    from smartcharge.optimizer.kpis import session_energy

    index = result.index
    _, unmet = session_energy(index, result.setpoint)
    delivered = index.energy_counts_kwh - unmet
    tiers = sorted(set(index.priority.tolist()), reverse=True)
    return " / ".join(f"p{t} {delivered[index.priority == t].sum():.0f}" for t in tiers)


def plain_and_relaxation(name: str, seed: int) -> tuple[float, str, float | None, float]:
    """(plain single-shot MILP seconds, its status, its gap, cold LP relaxation seconds).

    The plain solve runs in a process of its own, killed at twice its time limit + 10 s:
    HiGHS's root cut loop does not look at the clock (200 x 96 under a 1 s limit: 13 s)."""
    limit_s = parse_limit(name)
    started = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.run", "--plain", name, "--seed", str(seed)],
            capture_output=True,
            text=True,
            check=True,
            timeout=2 * limit_s + 10,
        )
        plain_s, status, gap = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        plain_s, status, gap = time.perf_counter() - started, "killed, no answer", None
    return plain_s, status, gap, relaxation_s(problem_of(name, seed))


def parse_limit(name: str) -> float:
    return SCENARIOS[name].get("time_limit_s", TIME_LIMIT_S)


def relaxation_s(doc: dict) -> float:
    """Seconds of a cold solve of the LP relaxation."""
    from smartcharge.optimizer.index import build_index
    from smartcharge.optimizer.matrix_model import MatrixModel
    from smartcharge.optimizer.problem import parse_problem

    relaxation = MatrixModel(build_index(parse_problem(doc))).relaxation
    started = time.perf_counter()
    solved = relaxation.solve(time.perf_counter() + 600)
    assert solved is not None
    return time.perf_counter() - started


def plain_solve(doc: dict) -> tuple[float, str, float | None]:
    """The same MILP (weighted objective) by HiGHS alone, default settings, same limit."""
    from smartcharge.optimizer.index import build_index
    from smartcharge.optimizer.matrix_model import MatrixModel
    from smartcharge.optimizer.problem import parse_problem
    from smartcharge.optimizer.solve import SolveResult, termination_of

    problem = parse_problem(doc)
    index = build_index(problem)
    plain = MatrixModel(index).mip
    plain.setOptionValue("time_limit", problem.options.time_limit_s)
    plain.setOptionValue("mip_rel_gap", problem.options.mip_gap)
    started = time.perf_counter()
    plain.run()
    plain_s = time.perf_counter() - started
    info = plain.getInfo()
    has_solution = info.primal_solution_status == 2
    termination = termination_of(plain.getModelStatus())
    plain_gap = SolveResult(
        termination,
        has_solution,
        info.objective_function_value if has_solution else None,
        info.mip_dual_bound,
        plain_s,
    ).gap
    status = str(termination) if has_solution else f"{termination}, no schedule"
    return plain_s, status, plain_gap


def warm_replan_s(doc: dict) -> tuple[float, float]:
    """Seconds to re-plan end to end after one arrival and after one departure, continuing
    from the plan before (`api.service.replan`)."""
    from smartcharge.api.service import plan, replan

    before = copy.deepcopy(doc)
    arriving = before["sessions"].pop()
    previous, previous_answer = plan(before)
    started = time.perf_counter()
    after_arrival, answer = replan(previous, previous_answer, doc)
    arrival_s = time.perf_counter() - started
    assert arriving["id"] in after_arrival.index.session_ids
    departed = copy.deepcopy(doc)
    del departed["sessions"][0]
    started = time.perf_counter()
    replan(after_arrival, answer, departed)
    return arrival_s, time.perf_counter() - started


def format_table(rows: list[Row]) -> str:
    header = (
        "| scenario | status | total s (median) | build s | solve s | stages s | gap | cost "
        "| energy per tier kWh | checker | plain HiGHS s (status, gap) | x faster "
        "| LP relaxation s | total / LP | warm arrival s | warm departure s | warm / cold "
        "| peak RSS MB | speed-ups |"
    )
    lines = [header, "|" + "---|" * 19]
    for r in rows:
        plain_gap = "none" if r.plain_gap is None else f"{100 * r.plain_gap:.2f} %"
        gap = "n/a" if r.gap is None else f"{100 * r.gap:.3f} %"
        warm = max(r.arrival_s, r.departure_s) / r.total_s
        lines.append(
            f"| {r.scenario} | {r.status} | {r.total_s:.2f} | {r.build_s:.2f} | {r.solve_s:.2f} "
            f"| {r.stages} | {gap} | {r.objective:.2f} | {r.tiers_kwh} "
            f"| {'ok' if r.violations == 0 else r.violations} "
            f"| {r.plain_s:.2f} ({r.plain_status}, {plain_gap}) | {r.plain_s / r.total_s:.1f} "
            f"| {r.lp_s:.2f} | {r.total_s / max(r.lp_s, 1e-9):.2f} | {r.arrival_s:.2f} "
            f"| {r.departure_s:.2f} | {warm:.2f} | {r.rss_mb:.0f} | {r.speedups} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small scenarios")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="these scenarios")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain:
        print(json.dumps(plain_solve(problem_of(args.plain, args.seed))))
        return 0
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.repeat).__dict__))
        return 0
    names = args.only or (QUICK if args.quick else tuple(SCENARIOS))
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
