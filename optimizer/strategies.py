"""Charging strategies with one interface: a view (a SPEC problem starting now, with the
sessions present and what they still want, estimates filled in) -> set-points of its first
slot, per session.

Set-points are what chargers execute: A per phase on AC, kW on DC, 0 or at least the minimum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from smartcharge.optimizer.fallback import fill_slot
from smartcharge.optimizer.index import ProblemIndex, build_index
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import Problem
from smartcharge.optimizer.replay import FirstSlot
from smartcharge.optimizer.rounding import round_setpoints


def _wanted(index: ProblemIndex) -> np.ndarray:
    """What each session could take in the first slot: its max, or what it still needs, but
    at least the minimum set-point (an EV that needs less stops when it has it)."""
    needed = index.energy_kwh / (index.kw_per_unit * index.step_h)
    wanted = np.where(needed > 1e-9, np.maximum(needed, index.unit_min), 0.0)
    return np.where(index.plugged[:, 0], np.minimum(index.unit_max, wanted), 0.0)


def uncontrolled(view: Problem) -> np.ndarray:
    """Full power on arrival, every limit ignored (what the limits would have suffered)."""
    index = build_index(view)
    return round_setpoints(index, _wanted(index)[:, None])[:, 0]


def equal_share(view: Problem) -> np.ndarray:
    """The import headroom split equally among connected EVs, then cut to every limit."""
    index = build_index(view)
    wanted = _wanted(index)
    present = wanted > 0
    headroom_kw = index.import_limit_kw[0] - index.base_load_kw[0] + index.pv_kw[0]
    share_kw = max(headroom_kw, 0.0) / max(int(present.sum()), 1)
    wanted = np.minimum(wanted, share_kw / index.kw_per_unit)
    return fill_slot(index, 0, np.arange(index.n_sessions), wanted)


def edf(view: Problem) -> np.ndarray:
    """Earliest deadline first: sessions by departure, each given all the limits leave."""
    index = build_index(view)
    departure = np.array([s.departure.timestamp() for s in view.sessions])
    order = np.lexsort((departure, -index.priority)) if index.n_sessions else np.zeros(0, int)
    return fill_slot(index, 0, order, _wanted(index))


def llf(view: Problem) -> np.ndarray:
    """Least laxity first: LAX_i(t) = (departure_i - t) - remaining_i(t) / max_rate_i."""
    index = build_index(view)
    start = view.horizon.start.timestamp()
    hours_left = np.array([(s.departure.timestamp() - start) / 3600 for s in view.sessions])
    laxity_h = hours_left - index.energy_kwh / np.maximum(index.max_power_kw, 1e-9)
    order = np.lexsort((laxity_h, -index.priority)) if index.n_sessions else np.zeros(0, int)
    return fill_slot(index, 0, order, _wanted(index))


def milp(view: Problem) -> FirstSlot:
    """Ours: the MILP over the view's horizon, first slot executed (rolling horizon),
    batteries and phase settings included (SPEC §4)."""
    plan = optimize(view)
    return FirstSlot(
        plan.setpoint[:, 0],
        None if plan.battery_kw is None else plan.battery_kw[:, 0],
        None if plan.phases is None else plan.phases[:, 0],
    )


STRATEGIES: dict[str, Callable[[Problem], np.ndarray | FirstSlot]] = {
    "uncontrolled": uncontrolled,
    "equal-share": equal_share,
    "edf": edf,
    "llf": llf,
    "milp": milp,
    "milp-naive": milp,
}
# The strategies not told what meter values teach about the EVs (SPEC §6): they plan every EV
# as drawing what it is offered, as the baselines are defined (ACN-Sim's EDF and LLF know the
# EV's rate limit or nothing). Only `milp` learns; `milp-naive` is the same MILP without it.
NAIVE = frozenset({"uncontrolled", "equal-share", "edf", "llf", "milp-naive"})
