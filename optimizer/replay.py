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

With SPEC §4 parts: a strategy may return a `FirstSlot` with the batteries' power and the phases
used besides the set-points (`milp` does); the batteries follow it and their state carries from
slot to slot (each view starts from it). A strategy that returns set-points only (the rule-based
baselines) leaves the batteries idle and every session on its nominal phases. A V2G session's
negative set-point is executed as given (the EV model shapes only what an EV draws), within what
its `max_energy_kwh` still allows, which is all its view may discharge. A slot a switching
session spends on one phase teaches nothing about the EV's phases (`MeterReading.
offered_phases`).
"""

from __future__ import annotations

import copy
import dataclasses
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


@dataclass(frozen=True)
class FirstSlot:
    """What a strategy executes now: set-points (S,), the batteries' power (B,) [kW, +
    charging] and the phases each session uses (S,)."""

    setpoint: np.ndarray
    battery_kw: np.ndarray | None = None
    phases: np.ndarray | None = None


# view -> set-points of its first slot, per session (or a `FirstSlot`)
Strategy = Callable[[Problem], "np.ndarray | FirstSlot"]


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
        if present.size == 0 and not run.index.n_batteries:
            continue
        view = run.view(t, present)
        started = time.perf_counter()
        first_slot = strategy(view)
        run.timings.append(time.perf_counter() - started)
        if not isinstance(first_slot, FirstSlot):
            first_slot = FirstSlot(np.asarray(first_slot, dtype=float))
        run.apply(t, present, first_slot, believed_kw_per_unit(view))
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
        self.delivered_kwh = np.zeros(n)  # net of V2G discharge
        self.discharged_kwh = np.zeros(n)
        self.phases = index.nominal_phases()
        self.battery_kw = np.zeros((index.n_batteries, self.slots))
        self.soc_kwh = np.array([b.soc_kwh for b in self.full.site.batteries], dtype=float)
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
        self._storage_as_now(doc)
        view, _ = estimate_sessions(parse_problem(doc), self.history)
        return view

    def _storage_as_now(self, doc: dict[str, Any]) -> None:
        """Each battery from its state now, aiming at the replay's own final state (within its
        range); each V2G session with what it may still feed back."""
        for battery, original, soc in zip(
            doc["site"].get("batteries") or [], self.full.site.batteries, self.soc_kwh, strict=True
        ):
            battery["soc_kwh"] = float(min(max(soc, 0.0), original.capacity_kwh))
            battery["final_soc_kwh"] = float(
                min(max(original.final_target_kwh, original.min_soc_kwh), original.upper_soc_kwh)
            )
        ids = {s.id: i for i, s in enumerate(self.full.sessions)}
        for entry in doc["sessions"]:
            if entry.get("discharge"):
                fed_kwh = float(self.discharged_kwh[ids[entry["id"]]])
                left = max(entry["discharge"]["max_energy_kwh"] - fed_kwh, 0.0)
                entry["discharge"] = {**entry["discharge"], "max_energy_kwh": left}

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
        self, t: int, present: np.ndarray, first_slot: FirstSlot, believed_kw_per_unit: np.ndarray
    ) -> None:
        """What the EVs draw of the offers (and feed back where told to discharge), what the
        batteries do; the meter values that tells the CSMS."""
        index, step_h = self.index, self.index.step_h
        self._apply_batteries(t, first_slot.battery_kw)
        if present.size == 0:
            return
        if first_slot.phases is not None:
            self.phases[present, t] = first_slot.phases
        phases = self.phases[present, t]
        kw_per_unit = index.kw_per_unit_at(self.phases[:, t : t + 1])[present, 0]
        unit_max = index.unit_max[present]
        if index.unit_max_one is not None:
            one = index.switches[present] & (phases == 1)
            unit_max = np.where(one, index.unit_max_one[present], unit_max)
        setpoint = np.asarray(first_slot.setpoint, dtype=float)
        offer = np.maximum(setpoint, 0.0)
        charged = self.evs.energy_kwh(
            present,
            np.minimum(offer, unit_max) * kw_per_unit,
            unit_max * kw_per_unit,
            self.delivered_kwh[present],
            step_h,
        )
        discharged = self._discharged_kwh(present, setpoint, kw_per_unit)
        energy = charged - discharged
        self.drawn[present, t] = energy / (kw_per_unit * step_h)
        self.offered_kw[present, t] = offer * believed_kw_per_unit
        self.delivered_kwh[present] += energy
        self.discharged_kwh[present] += discharged
        if not self.options.learn:
            return
        end = self.full.horizon.start + (t + 1) * self.step
        for i, s in enumerate(present):
            if discharged[i] > 0:
                continue  # a slot feeding the site says nothing of how the EV charges
            # A switching session on fewer phases than its charger's: the charger offered those.
            offered_phases = int(phases[i]) if index.switches[s] else None
            reading = meter_reading(
                end,
                float(self.drawn[s, t]) if index.is_ac[s] else None,
                min(int(index.phases_used[s]), int(phases[i])),
                self.specs[s].charger_phases,
                float(energy[i] / step_h),
                float(self.delivered_kwh[s]),
                float(offer[i]),
            )
            reading = dataclasses.replace(reading, offered_phases=offered_phases)
            self.ev_states[s] = learn(self.specs[s], [reading], self.ev_states[s])

    def _discharged_kwh(
        self, present: np.ndarray, setpoint: np.ndarray, kw_per_unit: np.ndarray
    ) -> np.ndarray:
        """What each V2G session feeds back in the slot: its negative set-point, within its
        discharge limits."""
        index = self.index
        if index.discharge_max_unit is None or index.discharge_max_kwh is None:
            return np.zeros(present.size)
        units = np.minimum(np.maximum(-setpoint, 0.0), index.discharge_max_unit[present])
        left_kwh = np.maximum(index.discharge_max_kwh[present] - self.discharged_kwh[present], 0)
        return np.minimum(units * kw_per_unit * index.step_h, left_kwh)

    def _apply_batteries(self, t: int, battery_kw: np.ndarray | None) -> None:
        """The batteries follow the strategy's first slot (idle where it says nothing)."""
        batteries = self.index.batteries
        if battery_kw is None or batteries is None:
            return
        self.battery_kw[:, t] = battery_kw
        now = dataclasses.replace(batteries, soc0_kwh=self.soc_kwh)
        self.soc_kwh = now.soc_kwh(self.battery_kw[:, t : t + 1], self.index.step_h)[:, 0]

    def result(self, name: str) -> ReplayResult:
        learnt = {
            self.full.sessions[s].id: state.summary()
            for s, state in enumerate(self.ev_states)
            if state.log
        }
        return ReplayResult(
            name,
            self.full,
            self.drawn,
            self.timings,
            offered_kw=self.offered_kw,
            learnt=learnt,
            battery_kw=self.battery_kw if self.battery_kw.any() else None,
            phases=self.phases if self.index.switches.any() else None,
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
        if present.size or run.index.n_batteries:
            truth_kw_per_unit = run.index.kw_per_unit_at(plan.phases)[present, t]
            first_slot = FirstSlot(
                plan.setpoint[present, t],
                None if plan.battery_kw is None else plan.battery_kw[:, t],
                None if plan.phases is None else plan.phases[present, t],
            )
            run.apply(t, present, first_slot, truth_kw_per_unit)
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
