"""`time_limit_s` on a hard depot: the wall time it takes and what each limit buys.

One seeded site of the hard recipe (`benchmarks.generator.HARD`: 1000 chargers, 96 slots,
two tiers, scarcity, PV, gap 0.001) planned end to end in process (answer and OCPP payloads
included, in a process whose solver stack is loaded, as a solver worker's is) under each time
limit, `--repeat` times. For each limit: the median wall time against the limit's allowance
(limit + 10 % + 0.3 s), status and the stages reached, the energy that counts delivered per
tier against the optimum's (the answer under the longest limit), the cost, the PV curtailed
while a session that is short of energy is plugged in below its maximum, and whether a longer
limit ever gave a worse answer (energy per tier first, then cost, beyond the gap).

    python -m benchmarks.time_limits [--chargers 1000] [--limits 1,2,3,5,10,30,60,200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class Outcome:
    limit_s: float
    wall_s: float
    status: str
    stages: list[str]
    tiers_kwh: dict[int, float]
    cost: float
    curtailed_kwh: float
    curtailed_while_short_kwh: float

    @property
    def allowance_s(self) -> float:
        return 1.1 * self.limit_s + 0.3


def plan_once(doc: dict) -> tuple[float, object, dict]:
    from smartcharge.api.service import plan

    started = time.perf_counter()
    result, answer = plan(doc)
    return time.perf_counter() - started, result, answer


def outcome_of(limit_s: float, walls: list[float], result, answer: dict) -> Outcome:
    from smartcharge.optimizer.kpis import session_energy
    from smartcharge.optimizer.rounding import CURRENT_STEP_A

    index = result.index
    _, unmet = session_energy(index, result.setpoint)
    delivered = index.energy_counts_kwh - unmet
    tiers = {int(t): float(delivered[index.priority == t].sum()) for t in np.unique(index.priority)}
    curtailed_kw = index.pv_kw - result.flows.pv_used_kw
    short = (unmet > 1e-3)[:, None] & index.plugged
    below_max = result.setpoint < index.unit_max[:, None] - CURRENT_STEP_A
    could_take = (short & below_max).any(axis=0)
    return Outcome(
        limit_s=limit_s,
        wall_s=statistics.median(walls),
        status=answer["status"],
        stages=answer["solver"]["stages"],
        tiers_kwh=tiers,
        cost=answer["kpis"]["total_cost"],
        curtailed_kwh=float(curtailed_kw.sum() * index.step_h),
        curtailed_while_short_kwh=float(curtailed_kw[could_take].sum() * index.step_h),
    )


def worse(longer: Outcome, shorter: Outcome, gap: float) -> bool:
    """Whether the longer limit's answer is worse: a tier (highest first) with less energy
    beyond the gap, or, energy equal within the gap, a higher cost beyond it."""
    for tier in sorted(longer.tiers_kwh, reverse=True):
        a, b = longer.tiers_kwh[tier], shorter.tiers_kwh[tier]
        if a < b - gap * max(b, 1.0):
            return True
        if a > b + gap * max(b, 1.0):
            return False
    return longer.cost > shorter.cost + gap * max(abs(shorter.cost), 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=96)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limits", default="1,2,3,5,10,30,60,200")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from benchmarks.generator import HARD, hard_problem
    from smartcharge.api.solver_pool import preload_solver_stack

    preload_solver_stack()
    limits = sorted(float(v) for v in args.limits.split(","))
    outcomes = []
    for limit_s in limits:
        doc = hard_problem(args.chargers, args.slots, seed=args.seed, time_limit_s=limit_s)
        runs = [plan_once(doc) for _ in range(args.repeat)]
        outcome = outcome_of(limit_s, [w for w, _, _ in runs], runs[-1][1], runs[-1][2])
        outcomes.append(outcome)
        print(f"[limits] {limit_s:g} s: {outcome.wall_s:.2f} s {outcome.status}", file=sys.stderr)

    best = outcomes[-1]
    print(
        "| time_limit_s | wall s (median) | allowance s | kept | status | stages reached "
        "| energy per tier kWh (% of the optimum's) | cost | PV curtailed kWh "
        "| of which while a session is short | worse than a shorter limit |"
    )
    print("|" + "---|" * 11)
    failures = 0
    for i, o in enumerate(outcomes):
        kept = o.wall_s <= o.allowance_s
        tiers = " / ".join(
            f"p{t} {o.tiers_kwh[t]:.0f} ({100 * o.tiers_kwh[t] / max(best.tiers_kwh[t], 1e-9):.2f} %)"  # noqa: E501
            for t in sorted(o.tiers_kwh, reverse=True)
        )
        regressed = any(worse(o, shorter, HARD["mip_gap"]) for shorter in outcomes[:i])
        failures += (not kept) + regressed
        print(
            f"| {o.limit_s:g} | {o.wall_s:.2f} | {o.allowance_s:.2f} | {'yes' if kept else 'NO'} "
            f"| {o.status} | {len(o.stages)}: {', '.join(o.stages)} | {tiers} | {o.cost:.2f} "
            f"| {o.curtailed_kwh:.1f} | {o.curtailed_while_short_kwh:.1f} "
            f"| {'YES' if regressed else 'no'} |"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
