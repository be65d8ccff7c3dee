"""A solve in the solver pool with a deadline, and the answer when it is missed.

A solve runs under its `time_limit_s` (the solver stops itself, and the optimizer answers with
the rule-based fallback when it found nothing), so one that is still running long after is
hung, not slow: a solver bug, a worker swapping. It is abandoned twice its limit after it
started (and never sooner than `grace_s` past the limit, SMARTCHARGE_SOLVE_GRACE_S: forecasts
and a fresh worker's imports are not the solver's time), its worker is killed, and the
rule-based schedule is answered instead, with a warning that says so.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from smartcharge.api.service import fallback_answer, optimize_answer
from smartcharge.api.solver_pool import BACKGROUND, SolveAbandoned, SolverPool

log = logging.getLogger("smartcharge.solve")


def abandon_after_s(time_limit_s: float, grace_s: float) -> float:
    return max(2 * time_limit_s, time_limit_s + grace_s)


async def solve_in_pool(
    pool: SolverPool,
    problem: dict[str, Any],
    histories: dict[str, pd.Series | pd.DataFrame | None],
    time_limit_s: float,
    grace_s: float,
    priority: int = BACKGROUND,
) -> dict[str, Any]:
    """The answer to `problem` (with `options.time_limit_s` = `time_limit_s`); the fallback
    when the solve is abandoned. SolveAbandoned if the fallback is too."""
    deadline_s = abandon_after_s(time_limit_s, grace_s)
    try:
        return await pool.run(
            optimize_answer, problem, deadline_s=deadline_s, priority=priority, **histories
        )
    except SolveAbandoned:
        reason = (
            f"the solve was abandoned after {deadline_s:g} s (its time limit is "
            f"{time_limit_s:g} s): a rule-based schedule is returned"
        )
        log.warning("site %s: %s", problem["site"]["id"], reason)
        return await pool.run(
            fallback_answer, problem, reason, deadline_s=deadline_s, priority=priority, **histories
        )
