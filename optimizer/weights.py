"""Objective weights of the weighted first solve, and the tie-break budget.

The weighted solve is a fast path (see `optimizer.objective_order`): when it meets all energy
that counts, it is optimal in the strict order; otherwise the order is enforced stage by stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcharge.optimizer.index import ProblemIndex
from smartcharge.optimizer.pairs import change_window_slots

# Tie-breaks (earlier delivery, fewer set-point changes) may move the objective by at most
# this share of (dearest energy price x energy): 0.1 %, below the default mip_gap of 0.5 %,
# so a tie-break never buys a worse cost by more than the gap a user accepts (SPEC §1), yet
# large enough to stand clear of the solver's optimality tolerances (1e-7), which a share of
# a tiny mip_gap would not.
TIE_BREAK_SHARE = 1e-3

# How much more a kWh of a tier weighs than one of the tier below. Physically one kWh given to
# a session displaces at most a few of another's (an ampere of a one-phase session frees a
# third of what a three-phase session needs on that phase), so a thousand is exact in practice;
# it is not relied on: whenever energy is short, every tier's shortfall and fairness are proven
# by their own stage (`optimizer.objective_order`). A ratio as large as a whole tier's energy
# (the bound that needs no physics) made the weighted objective span 1e11 and its solves lose
# the cost to round-off. With many tiers the ratio shrinks so that the highest tier's weight
# stays within `MAX_TIER_SPAN` of the lowest's (HiGHS treats costs of 1e20 as infinite).
TIER_RATIO = 1e3
MAX_TIER_SPAN = 1e6


@dataclass(frozen=True)
class EnergyWeights:
    """Objective weights of the weighted first solve.

    `per_kwh_by_tier[r]` is the cost of one unmet kWh in the r-th lowest priority tier present.
    The lowest tier's weight exceeds the largest amount one delivered kWh can add to the cost
    (the dearest import price plus the export revenue it forgoes plus the demand charge of the
    peak it raises by at most 1/dt kW), so energy dominates cost; each higher tier weighs
    `TIER_RATIO` times more. `fairness_per_fraction` weighs the largest unmet fraction in a
    tier against its total shortfall.
    """

    tiers: tuple[int, ...]
    per_kwh_by_tier: tuple[float, ...]
    fairness_kwh_per_fraction: tuple[float, ...]
    earlier_delivery_per_kwh_slot: float
    setpoint_change_per_kw: float


def energy_weights(index: ProblemIndex) -> EnergyWeights:
    tiers = tuple(sorted(set(index.priority.tolist())))
    price_scale = float(
        np.max(np.abs(index.import_price), initial=0.0)
        + np.max(np.abs(index.export_price), initial=0.0)
        + index.problem.tariff.demand_charge_per_kw / index.step_h
    )
    base = 10.0 * (price_scale + 1.0)
    weights, fairness = [], []
    weight = base
    ratio = min(TIER_RATIO, MAX_TIER_SPAN ** (1.0 / max(len(tiers) - 1, 1)))
    for tier in tiers:
        in_tier = index.priority == tier
        tier_energy = float(index.energy_counts_kwh[in_tier].sum())
        weights.append(weight)
        # A whole unmet fraction is worth 1 % of the tier's energy: fairness only re-shares a
        # shortfall, it never buys less energy in total.
        fairness.append(0.01 * max(tier_energy, 1e-3))
        weight *= ratio
    total_energy = float(index.energy_counts_kwh.sum())
    energy_price = max(
        float(np.max(np.abs(index.import_price), initial=0.0)),
        float(np.max(np.abs(index.export_price), initial=0.0)),
        0.01,
    )
    budget = TIE_BREAK_SHARE * energy_price * max(total_energy, 1.0)
    # Earlier delivery costs at most budget/2 over all energy; changes at most budget/2 over the
    # sum of every session's ramps (bounded by its max power per slot).
    window = index.plugged[:, : change_window_slots(index.step_h)]
    ramp_bound_kw = float((index.max_power_kw * window.sum(axis=1)).sum()) or 1.0
    return EnergyWeights(
        tiers=tiers,
        per_kwh_by_tier=tuple(weights),
        fairness_kwh_per_fraction=tuple(fairness),
        earlier_delivery_per_kwh_slot=0.5 * budget / (max(total_energy, 1.0) * index.slots),
        setpoint_change_per_kw=0.5 * budget / ramp_bound_kw,
    )
