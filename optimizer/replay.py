"""Replay: play sessions through time, re-planning every slot with what is known then.

At each slot the strategy sees a `view`: a SPEC problem that starts at that slot, holds only
the sessions that have arrived and still want energy (their `energy_kwh` is what is left), and
carries the site's prices and base load from then on. It returns the set-points of that first
slot, which are applied (already rounded as chargers execute them) and advance the EVs.
Strategies never see the simulator, nor sessions that have not arrived: the same code could
drive a real site (ACN-Sim's interface idea).

With SPEC §4 parts: a strategy may return a `FirstSlot` with the batteries' power and the phases
used besides the set-points (`milp` does); the batteries follow it and their state carries from
slot to slot (each view starts from it). A strategy that returns set-points only (the rule-based
baselines) leaves the batteries idle and every session on its nominal phases. A V2G session's
view may discharge only what its `max_energy_kwh` still allows.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from smartcharge.optimizer.check import check_answer
from smartcharge.optimizer.flows import session_power_kw, site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.optimize import Plan
from smartcharge.optimizer.problem import Problem, parse_problem


@dataclass(frozen=True)
class FirstSlot:
    """What a strategy executes now: set-points (S,), the batteries' power (B,) [kW, +
    charging] and the phases each session uses (S,)."""

    setpoint: np.ndarray
    battery_kw: np.ndarray | None = None
    phases: np.ndarray | None = None


# view -> set-points of its first slot, per session (or a `FirstSlot`)
Strategy = Callable[[Problem], "np.ndarray | FirstSlot"]


@dataclass
class ReplayResult:
    strategy: str
    problem: Problem  # the whole replay as one problem (all sessions, all slots)
    setpoint: np.ndarray  # (S, T) what was applied
    replan_s: list[float] = field(default_factory=list)
    battery_kw: np.ndarray | None = None  # (B, T) what the batteries did (None: idle)
    phases: np.ndarray | None = None  # (S, T) the phases used (None: the nominal ones)

    def plan(self) -> Plan:
        index = build_index(self.problem)
        flows = site_flows(index, self.setpoint, None, self.battery_kw, self.phases)
        return Plan(
            index,
            self.setpoint,
            flows,
            "replay",
            index.warnings,
            battery_kw=self.battery_kw,
            phases=self.phases,
        )

    def kpis(self) -> dict[str, Any]:
        plan = self.plan()
        answer = plan.to_answer()
        kpis = answer["kpis"]
        wanted = plan.index.energy_kwh
        delivered = np.array([s["energy_kwh"] for s in answer["sessions"]])
        violations = check_answer(self.problem, answer)
        limit_rules = {"grid_import", "grid_export", "grid_phase", "circuit_power", "circuit_phase"}
        breaches = [v for v in violations if v.rule in limit_rules]
        pv_available = float(plan.index.pv_kw.sum() * plan.index.step_h)
        return {
            "strategy": self.strategy,
            "energy_requested_kwh": round(float(wanted.sum()), 3),
            "energy_delivered_kwh": round(float(delivered.sum()), 3),
            "energy_delivered_pct": round(100 * delivered.sum() / max(wanted.sum(), 1e-9), 2),
            "sessions_fully_served_pct": round(
                100 * float(np.mean(delivered >= wanted - served_tolerance_kwh(wanted)))
                if len(wanted)
                else 100.0,
                2,
            ),
            "total_cost": kpis["total_cost"],
            "demand_charge": kpis["demand_charge"],
            "peak_import_kw": kpis["peak_import_kw"],
            "pv_self_consumption_pct": round(100 * kpis["pv_used_kwh"] / pv_available, 2)
            if pv_available > 0
            else None,
            "violations": len(breaches),
            "worst_violation": round(max((v.amount for v in breaches), default=0.0), 3),
            "replan_median_s": round(statistics.median(self.replan_s), 4) if self.replan_s else 0,
            "replan_max_s": round(max(self.replan_s), 4) if self.replan_s else 0,
        }


def replay_slots(site: dict[str, Any], sessions: list[dict[str, Any]], slots: int) -> int:
    """`slots`, extended to the last departure: no session is cut off by the replay's end,
    whose energy would otherwise not count (SPEC: energy deliverable after the horizon)."""
    start = datetime.fromisoformat(site["horizon"]["start"])
    step = timedelta(minutes=site["horizon"].get("step_minutes", 15))
    last = max((datetime.fromisoformat(s["departure"]) for s in sessions), default=start)
    return max(slots, math.ceil((last - start) / step))


def whole_replay(site: dict[str, Any], sessions: list[dict[str, Any]], slots: int) -> Problem:
    """The replay period as one SPEC problem: the site document with every session."""
    doc = _with_series_length(site, slots)
    doc["sessions"] = sessions
    doc["options"] = {**doc.get("options", {}), "include_default_profiles": False}
    return parse_problem(doc)


def replay(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    strategy: Strategy,
    name: str,
    slots: int,
    lookahead_slots: int = 96,
    progress: bool = False,
) -> ReplayResult:
    """Run `strategy` slot by slot from the site's horizon start, for `slots` slots or until
    the last departure."""
    slots = replay_slots(site, sessions, slots)
    full = whole_replay(site, sessions, slots)
    index = build_index(full)
    step = timedelta(minutes=full.horizon.step_minutes)
    remaining_kwh = index.energy_kwh.copy()
    discharged_kwh = np.zeros(index.n_sessions)
    setpoint = np.zeros((index.n_sessions, slots))
    phases = index.nominal_phases()
    battery_kw = np.zeros((index.n_batteries, slots))
    soc_kwh = np.array([b.soc_kwh for b in full.site.batteries], dtype=float)
    timings = []
    from tqdm import tqdm

    for t in tqdm(range(slots), desc=name, disable=not progress, leave=False):
        present = np.flatnonzero(index.plugged[:, t] & (remaining_kwh > 1e-6))
        if present.size == 0 and not index.n_batteries:
            continue
        view = _view(
            site,
            full,
            t,
            present,
            remaining_kwh,
            min(lookahead_slots, slots - t),
            step,
            soc_kwh,
            discharged_kwh,
        )
        started = time.perf_counter()
        first_slot = strategy(view)
        timings.append(time.perf_counter() - started)
        if not isinstance(first_slot, FirstSlot):
            first_slot = FirstSlot(np.asarray(first_slot))
        if first_slot.phases is not None:
            phases[present, t] = first_slot.phases
        applied = np.minimum(first_slot.setpoint, index.unit_max[present])
        if first_slot.phases is not None and index.unit_max_one is not None:
            one = first_slot.phases == 1
            applied = np.where(
                one, np.minimum(first_slot.setpoint, index.unit_max_one[present]), applied
            )
        now = np.zeros((index.n_sessions, 1))
        now[present, 0] = applied
        energy = session_power_kw(index, now, phases[:, t : t + 1])[present, 0] * index.step_h
        applied = np.where(energy > remaining_kwh[present] + 1e-6, 0.0, applied)
        energy = np.where(energy > remaining_kwh[present] + 1e-6, 0.0, energy)
        setpoint[present, t] = applied
        remaining_kwh[present] -= energy
        discharged_kwh[present] += np.maximum(-energy, 0.0)
        if first_slot.battery_kw is not None and index.batteries is not None:
            battery_kw[:, t] = first_slot.battery_kw
            soc_kwh = index.batteries.soc_kwh(battery_kw[:, t : t + 1], index.step_h)[:, 0]
            index = dataclasses.replace(
                index, batteries=dataclasses.replace(index.batteries, soc0_kwh=soc_kwh)
            )
    return ReplayResult(
        name,
        full,
        setpoint,
        timings,
        battery_kw if battery_kw.any() else None,
        phases if index.switches.any() else None,
    )


def _view(
    site: dict[str, Any],
    full: Problem,
    t: int,
    present: np.ndarray,
    remaining_kwh: np.ndarray,
    slots: int,
    step: timedelta,
    soc_kwh: np.ndarray | None = None,
    discharged_kwh: np.ndarray | None = None,
) -> Problem:
    doc = full.model_dump(mode="json")
    for battery, original, soc in zip(
        doc["site"]["batteries"],
        full.site.batteries,
        soc_kwh if soc_kwh is not None else [],
        strict=False,
    ):
        battery["soc_kwh"] = float(min(max(soc, 0.0), battery["capacity_kwh"]))
        # Every view keeps the replay's own final state as its target, within the range.
        battery["final_soc_kwh"] = float(
            min(max(original.final_target_kwh, original.min_soc_kwh), original.upper_soc_kwh)
        )
    start = full.horizon.start + t * step
    doc["horizon"] = {
        "start": start.isoformat(),
        "step_minutes": full.horizon.step_minutes,
        "slots": slots,
    }
    per_day = round(24 * 60 / full.horizon.step_minutes)
    for name in ("base_load_kw", "pv_kw"):
        if isinstance(doc.get(name), list):
            doc[name] = as_seen_at(doc[name], t, slots, per_day).tolist()
    _map_series(doc, lambda values: values[t : t + slots])
    doc["sessions"] = [
        {**doc["sessions"][s], "energy_kwh": float(max(remaining_kwh[s], 0.0))} for s in present
    ]
    if discharged_kwh is not None:
        for entry, s in zip(doc["sessions"], present, strict=True):
            if entry.get("discharge"):
                left = max(entry["discharge"]["max_energy_kwh"] - float(discharged_kwh[s]), 0.0)
                entry["discharge"] = {**entry["discharge"], "max_energy_kwh": left}
    return parse_problem(doc)


def as_seen_at(actual_kw: list[float], t: int, slots: int, per_day: int) -> np.ndarray:
    """A measured series as a controller at slot `t` knows it, over the whole replay: the
    past and the present as measured; slot k > t as the latest measured slot at the same
    time of day (seasonal naive), or the present value where there is no such day yet. The
    set-points applied at `t` meet the measured value; the rest of the plan is a forecast."""
    values = np.asarray(actual_kw, dtype=float)
    seen = values.copy()
    later = np.arange(t + 1, min(t + slots, values.size))
    same_time_before = later - per_day * np.ceil((later - t) / per_day).astype(int)
    seen[later] = np.where(
        same_time_before >= 0, values[np.maximum(same_time_before, 0)], values[t]
    )
    return seen


# Per-slot arrays of a problem document (each may also be a single number).
SERIES_PATHS = (
    ("tariff", "import_price_per_kwh"),
    ("tariff", "export_price_per_kwh"),
    ("base_load_kw",),
    ("pv_kw",),
    ("site", "grid", "import_limit_kw"),
    ("site", "grid", "export_limit_kw"),
    ("site", "grid", "phase_limit_a"),
)


def _map_series(doc: dict[str, Any], change: Callable[[list], list]) -> None:
    """Apply `change` to every per-slot array the document holds as a list, in place."""
    for path in SERIES_PATHS:
        node = doc
        for key in path[:-1]:
            node = node.get(key, {})
        value = node.get(path[-1])
        if isinstance(value, list) and value:
            node[path[-1]] = change(value)


def _with_series_length(site: dict[str, Any], slots: int) -> dict[str, Any]:
    """The site document with every per-slot array repeated (daily profiles) to `slots`."""
    doc = copy.deepcopy(site)
    doc["horizon"] = {**doc["horizon"], "slots": slots}
    _map_series(doc, lambda values: [values[i % len(values)] for i in range(slots)])
    return doc


def offline(site: dict[str, Any], sessions: list[dict[str, Any]], slots: int) -> ReplayResult:
    """Perfect foresight: one plan over the whole replay with every session known from the
    start (the best any strategy could do under the same limits)."""
    from smartcharge.optimizer.optimize import optimize

    full = whole_replay(site, sessions, replay_slots(site, sessions, slots))
    started = time.perf_counter()
    plan = optimize(full)
    return ReplayResult(
        "offline",
        full,
        plan.setpoint,
        [time.perf_counter() - started],
        plan.battery_kw,
        plan.phases,
    )


class UnknownStrategyError(ValueError):
    """A strategy name that is none of the known ones."""


def run_strategies(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    names: list[str],
    slots: int,
    progress: bool = False,
) -> list[ReplayResult]:
    """Replay the same sessions under each strategy named (`offline`: perfect foresight).
    Raises `UnknownStrategyError` naming the unknown ones before replaying any."""
    from smartcharge.optimizer.strategies import STRATEGIES

    known = [*STRATEGIES, "offline"]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownStrategyError(f"unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return [
        offline(site, sessions, slots)
        if name == "offline"
        else replay(site, sessions, STRATEGIES[name], name, slots, progress=progress)
        for name in names
    ]


def served_tolerance_kwh(wanted_kwh: np.ndarray) -> np.ndarray:
    """A session is fully served within 1 % of what counts (at least 0.1 kWh): set-points are
    rounded down to 0.1 A for OCPP, which over a long session leaves a few tens of Wh even
    under perfect foresight; counting those as "not served" would say nothing about service."""
    return np.maximum(0.1, 0.01 * wanted_kwh)
