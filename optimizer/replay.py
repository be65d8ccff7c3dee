"""Replay: play sessions through time, re-planning every slot with what is known then.

At each slot the strategy sees a `view`: a SPEC problem that starts at that slot, holds only
the sessions plugged in (their `energy_kwh` is what is left), and carries the site's prices
and base load from then on. It returns the set-points of that first slot: the offers. What the
EVs really draw of them is the EV model's (`optimizer.ev_model`: `ideal` or `taper`), and what
they draw advances them. Strategies never see the simulator, nor sessions that have not
arrived: the same code could drive a real site (ACN-Sim's interface idea).

What a CSMS is not told can be hidden (`ReplayOptions.hide`: `departure`, `energy`, `ev_max`,
`phases`): the view then carries the engine's estimates (`optimizer.session_estimates`, from
the sessions finished so far in the replay, else the site kind's distributions) and, for a
strategy that learns, what the simulated meter values taught (`optimizer.ev_learning`). The
KPIs are always measured against the truth.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from smartcharge.optimizer.check import check_answer
from smartcharge.optimizer.ev_learning import EvSpec, EvState, learn
from smartcharge.optimizer.ev_model import EV_MODELS, SimulatedEvs, meter_reading
from smartcharge.optimizer.flows import site_flows
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.kpis import compute_kpis
from smartcharge.optimizer.optimize import Plan
from smartcharge.optimizer.problem import Problem, parse_problem
from smartcharge.optimizer.replay_view import (
    HIDEABLE,
    as_seen_at,
    believed_kw_per_unit,
    map_series,
    seen_session,
    with_series_length,
)
from smartcharge.optimizer.session_estimates import SessionHistory, estimate_sessions

Strategy = Callable[[Problem], np.ndarray]  # view -> set-points of its first slot, per session


@dataclass(frozen=True)
class ReplayOptions:
    """What the EVs really do and what the strategies are not told."""

    ev_model: str = "ideal"
    hide: frozenset[str] = frozenset()
    learn: bool = True  # fold the meter values into what the view says about each EV

    def __post_init__(self) -> None:
        if self.ev_model not in EV_MODELS:
            raise ValueError(
                f"ev model must be one of {', '.join(EV_MODELS)}, not {self.ev_model!r}"
            )
        unknown = sorted(set(self.hide) - set(HIDEABLE))
        if unknown:
            raise ValueError(f"cannot hide {', '.join(unknown)} (only {', '.join(HIDEABLE)})")


@dataclass
class ReplayResult:
    strategy: str
    problem: Problem  # the whole replay as one problem (all sessions, all slots), the truth
    setpoint: np.ndarray  # (S, T) what the EVs drew, in set-point units (A on AC, kW on DC)
    replan_s: list[float] = field(default_factory=list)
    offered_kw: np.ndarray | None = None  # (S, T) what was offered, as the strategy saw it
    learnt: dict[str, dict] = field(default_factory=dict)  # per session: the inference log

    def plan(self) -> Plan:
        index = build_index(self.problem)
        return Plan(
            index, self.setpoint, site_flows(index, self.setpoint), "replay", index.warnings
        )

    def kpis(self) -> dict[str, Any]:
        plan = self.plan()
        answer = plan.to_answer()
        kpis = compute_kpis(plan.index, self.setpoint, plan.flows)
        wanted = plan.index.energy_kwh
        delivered = np.array([s["energy_kwh"] for s in answer["sessions"]])
        violations = check_answer(self.problem, answer)
        limit_rules = {"grid_import", "grid_export", "grid_phase", "circuit_power", "circuit_phase"}
        breaches = [v for v in violations if v.rule in limit_rules]
        pv_available = float(plan.index.pv_kw.sum() * plan.index.step_h)
        offered_kwh = (
            float(self.offered_kw.sum() * plan.index.step_h)
            if self.offered_kw is not None
            else float(delivered.sum())
        )
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
            "cost_per_kwh": round(kpis["total_cost"] / max(float(delivered.sum()), 1e-9), 4),
            "demand_charge": kpis["demand_charge"],
            "peak_import_kw": kpis["peak_import_kw"],
            "pv_self_consumption_pct": round(100 * kpis["pv_used_kwh"] / pv_available, 2)
            if pv_available > 0
            else None,
            "offered_not_drawn_kwh": round(max(offered_kwh - float(delivered.sum()), 0.0), 3),
            "violations": len(breaches),
            "worst_violation": round(max((v.amount for v in breaches), default=0.0), 3),
            "replan_median_s": round(statistics.median(self.replan_s), 4) if self.replan_s else 0,
            "replan_max_s": round(max(self.replan_s), 4) if self.replan_s else 0,
        }


def arriving_within(
    site: dict[str, Any], sessions: list[dict[str, Any]], slots: int
) -> list[dict[str, Any]]:
    """The sessions that arrive within the first `slots` of the replay (`--days`)."""
    start = datetime.fromisoformat(site["horizon"]["start"])
    end = start + slots * timedelta(minutes=site["horizon"].get("step_minutes", 15))
    return [s for s in sessions if datetime.fromisoformat(s["arrival"]) < end]


def replay_slots(site: dict[str, Any], sessions: list[dict[str, Any]], slots: int) -> int:
    """`slots`, extended to the last departure: no session is cut off by the replay's end,
    whose energy would otherwise not count (SPEC: energy deliverable after the horizon)."""
    start = datetime.fromisoformat(site["horizon"]["start"])
    step = timedelta(minutes=site["horizon"].get("step_minutes", 15))
    last = max((datetime.fromisoformat(s["departure"]) for s in sessions), default=start)
    return max(slots, math.ceil((last - start) / step))


def whole_replay(site: dict[str, Any], sessions: list[dict[str, Any]], slots: int) -> Problem:
    """The replay period as one SPEC problem: the site document with every session."""
    doc = with_series_length(site, slots)
    doc["sessions"] = [_without_battery(s) for s in sessions]
    doc["options"] = {**doc.get("options", {}), "include_default_profiles": False}
    return parse_problem(doc)


def _without_battery(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k != "battery_kwh"}


def replay(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    strategy: Strategy,
    name: str,
    slots: int,
    lookahead_slots: int = 96,
    progress: bool = False,
    options: ReplayOptions | None = None,
) -> ReplayResult:
    """Run `strategy` slot by slot from the site's horizon start over the sessions arriving
    in the first `slots` slots, until the last of them departs."""
    run = _Run(site, sessions, slots, options or ReplayOptions(), lookahead_slots)
    from tqdm import tqdm

    for t in tqdm(range(run.slots), desc=name, disable=not progress, leave=False):
        run.finish_departed(t)
        present = run.present(t)
        if present.size == 0:
            continue
        view = run.view(t, present)
        started = time.perf_counter()
        first_slot = strategy(view)
        run.timings.append(time.perf_counter() - started)
        run.apply(t, present, np.asarray(first_slot, dtype=float), believed_kw_per_unit(view))
    return run.result(name)


class _Run:
    """The truth of one replay and what the CSMS has seen of it so far."""

    def __init__(
        self,
        site: dict[str, Any],
        sessions: list[dict[str, Any]],
        slots: int,
        options: ReplayOptions,
        lookahead_slots: int = 96,
    ) -> None:
        sessions = arriving_within(site, sessions, slots)
        self.slots = replay_slots(site, sessions, slots)
        self.options = options
        self.full = whole_replay(site, sessions, self.slots)
        self.index = index = build_index(self.full)
        self.evs = SimulatedEvs.of(
            options.ev_model, index.energy_kwh, [s.get("battery_kwh") for s in sessions]
        )
        self.step = timedelta(minutes=self.full.horizon.step_minutes)
        # Views look ahead the same distance at every slot, past the replay's end too (an
        # estimated departure may lie beyond it): the site's series continue as they repeat.
        self.lookahead_slots = lookahead_slots
        self.base_doc = with_series_length(site, self.slots + lookahead_slots)
        self.base_doc.pop("sessions", None)
        self.session_docs = [
            s.model_dump(mode="json", exclude_none=True) for s in self.full.sessions
        ]
        n = index.n_sessions
        self.delivered_kwh = np.zeros(n)
        self.drawn = np.zeros((n, self.slots))
        self.offered_kw = np.zeros((n, self.slots))
        self.ev_states = [EvState() for _ in range(n)]
        self.specs = [self._spec(s) for s in range(n)]
        self.finished = np.zeros(n, dtype=bool)
        self.departure_s = np.array([s.departure.timestamp() for s in self.full.sessions])
        self.history: SessionHistory | None = None
        self.timings: list[float] = []

    def _spec(self, s: int) -> EvSpec:
        index, charger = self.index, self.full.site.chargers[self.index.charger_of_session[s]]
        return EvSpec(
            charger_phases=charger.phases,
            min_current_a=charger.min_current_a,
            voltage_v=index.voltage_v,
            is_dc=not index.is_ac[s],
            min_power_kw=charger.min_power_kw,
            given_phases=None if "phases" in self.options.hide else self.full.sessions[s].phases,
        )

    def present(self, t: int) -> np.ndarray:
        """Sessions plugged in; when the CSMS knows their energy, only those still wanting."""
        plugged = self.index.plugged[:, t]
        if "energy" not in self.options.hide:
            plugged = plugged & (self.index.energy_kwh - self.delivered_kwh > 1e-6)
        return np.flatnonzero(plugged)

    def finish_departed(self, t: int) -> None:
        """Sessions gone by slot t join the history the estimates learn from."""
        start = self.full.horizon.start + t * self.step
        gone = np.flatnonzero(~self.finished & (self.departure_s <= start.timestamp()))
        if gone.size == 0:
            return
        self.finished[gone] = True
        done = np.flatnonzero(self.finished)
        known_need = "energy" not in self.options.hide
        energy = self.index.energy_kwh if known_need else self.delivered_kwh
        self.history = SessionHistory.of(
            [
                (self.full.sessions[s].arrival, self.full.sessions[s].departure, energy[s])
                for s in done
            ],
            self.full.site.timezone,
        )

    def view(self, t: int, present: np.ndarray) -> Problem:
        slots = self.lookahead_slots
        doc = copy.deepcopy(self.base_doc)
        start = self.full.horizon.start + t * self.step
        doc["horizon"] = {
            "start": start.isoformat(),
            "step_minutes": self.full.horizon.step_minutes,
            "slots": slots,
        }
        per_day = round(24 * 60 / self.full.horizon.step_minutes)
        for name in ("base_load_kw", "pv_kw"):
            if isinstance(doc.get(name), list):
                doc[name] = as_seen_at(doc[name], t, slots, per_day).tolist()
        map_series(doc, lambda values: values[t : t + slots])
        doc["sessions"] = [self._seen(s) for s in present]
        view, _ = estimate_sessions(parse_problem(doc), self.history)
        return view

    def _seen(self, s: int) -> dict[str, Any]:
        """Session s as the CSMS knows it now."""
        return seen_session(
            self.session_docs[s],
            self.options.hide,
            float(max(self.index.energy_kwh[s] - self.delivered_kwh[s], 0.0)),
            float(self.delivered_kwh[s]),
            bool(self.index.is_ac[s]),
            self.ev_states[s] if self.options.learn else None,
        )

    def apply(
        self, t: int, present: np.ndarray, offer: np.ndarray, believed_kw_per_unit: np.ndarray
    ) -> None:
        """What the EVs draw of the offers; the meter values that tells the CSMS."""
        index, step_h = self.index, self.index.step_h
        offer = np.maximum(offer, 0.0)
        capped = np.minimum(offer, index.unit_max[present])
        energy = self.evs.energy_kwh(
            present,
            capped * index.kw_per_unit[present],
            index.unit_max[present] * index.kw_per_unit[present],
            self.delivered_kwh[present],
            step_h,
        )
        self.drawn[present, t] = energy / (index.kw_per_unit[present] * step_h)
        self.offered_kw[present, t] = offer * believed_kw_per_unit
        self.delivered_kwh[present] += energy
        if not self.options.learn:
            return
        end = self.full.horizon.start + (t + 1) * self.step
        for i, s in enumerate(present):
            reading = meter_reading(
                end,
                float(self.drawn[s, t]) if index.is_ac[s] else None,
                int(index.phases_used[s]),
                self.specs[s].charger_phases,
                float(energy[i] / step_h),
                float(self.delivered_kwh[s]),
                float(offer[i]),
            )
            self.ev_states[s] = learn(self.specs[s], [reading], self.ev_states[s])

    def result(self, name: str) -> ReplayResult:
        learnt = {
            self.full.sessions[s].id: state.summary()
            for s, state in enumerate(self.ev_states)
            if state.log
        }
        return ReplayResult(
            name, self.full, self.drawn, self.timings, offered_kw=self.offered_kw, learnt=learnt
        )


def offline(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    slots: int,
    options: ReplayOptions | None = None,
) -> ReplayResult:
    """Perfect foresight: one plan over the whole replay with every session known from the
    start, everything about it told (nothing hidden). Its offers reach the same EV model: under
    `taper` it knows every session but not when each battery tapers."""
    from smartcharge.optimizer.optimize import optimize

    options = options or ReplayOptions()
    run = _Run(site, sessions, slots, ReplayOptions(ev_model=options.ev_model, learn=False))
    started = time.perf_counter()
    plan = optimize(run.full)
    run.timings.append(time.perf_counter() - started)
    for t in range(run.slots):
        present = np.flatnonzero(run.index.plugged[:, t])
        if present.size:
            truth_kw_per_unit = run.index.kw_per_unit[present]
            run.apply(t, present, plan.setpoint[present, t], truth_kw_per_unit)
    return run.result("offline")


class UnknownStrategyError(ValueError):
    """A strategy name that is none of the known ones."""


def run_strategies(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    names: list[str],
    slots: int,
    progress: bool = False,
    ev_model: str = "ideal",
    hide: Iterable[str] = (),
) -> list[ReplayResult]:
    """Replay the same sessions under each strategy named (`offline`: perfect foresight).
    Raises `UnknownStrategyError` naming the unknown ones before replaying any, `ValueError`
    for an unknown EV model or hidden field."""
    from smartcharge.optimizer.strategies import NAIVE, STRATEGIES

    known = [*STRATEGIES, "offline"]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownStrategyError(f"unknown {', '.join(unknown)} (known: {', '.join(known)})")
    hidden = frozenset(hide)
    ReplayOptions(ev_model=ev_model, hide=hidden)  # a bad model or field fails before any replay
    results = []
    for name in names:
        options = ReplayOptions(ev_model=ev_model, hide=hidden, learn=name not in NAIVE)
        if name == "offline":
            results.append(offline(site, sessions, slots, options))
        else:
            results.append(
                replay(
                    site,
                    sessions,
                    STRATEGIES[name],
                    name,
                    slots,
                    progress=progress,
                    options=options,
                )
            )
    return results


def served_tolerance_kwh(wanted_kwh: np.ndarray) -> np.ndarray:
    """A session is fully served within 1 % of what counts (at least 0.1 kWh): set-points are
    rounded down to 0.1 A for OCPP, which over a long session leaves a few tens of Wh even
    under perfect foresight; counting those as "not served" would say nothing about service."""
    return np.maximum(0.1, 0.01 * wanted_kwh)
