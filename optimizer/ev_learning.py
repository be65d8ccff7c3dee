"""What an EV really does, learnt from its charger's meter values (SPEC §6).

A plan assumes each EV draws what it is offered. Real ones do not: a one-phase onboard charger
on a three-phase offer, a car capped at 16 A, a battery tapering above ~80 % and stopping when
full. What OCPP `MeterValues` carry per connector (`Current.Import` per phase, `Power.Active.
Import`, `Energy.Active.Import.Register`, optionally `SoC`, and `Current.Offered`) is enough to
see each of these, and `learn` folds readings one at a time into an `EvState`:

- **phases**: current on k of the charger's phases (each >= `PHASE_ACTIVE_A`) in
  `CONFIRM_READINGS` readings in a row, k differing from what is believed, makes k the EV's
  phases. Currents are the charger's L1, L2, L3 as its connector meter reports them; the
  charger's `phase_rotation` maps them onto the grid. A one-phase EV seen on another phase than
  the charger's first is noted in the log (the plan assumes its first phase). A reading of a
  phase-switching charger set to fewer phases than its own (`offered_phases`, SPEC §4) does not
  count: the EV draws on those because they are all it is offered.
- **ev_max**: drawing at least `SHORT_A` below an offer of at least the minimum current (and not
  ~0), `CONFIRM_READINGS` times in a row, makes the larger of those draws the EV's maximum
  current. It follows the draws down (a tapering battery), and is dropped when the EV takes all
  of an offer above it (within `SHORT_A` / 2, `CONFIRM_READINGS` times): the plan offers
  `EV_MAX_HEADROOM_A` above the learnt maximum, so an EV that can take more shows it.
- **ev_full**: drawing ~0 (below `IDLE_A`) on an offer of at least the minimum current,
  `CONFIRM_READINGS` times in a row: the battery is full or paused; its energy counts as met
  and its capacity is released. Drawing again (`CONFIRM_READINGS` readings) undoes it.

Hysteresis is the consecutive count: one odd reading never moves the plan. A reading without an
offer (none given and no plan known for its time) still counts for the phases, not for the rest.
The state is a pure function of the readings in time order, so a service can recompute it from
its stored readings and a replay can fold them as they come. DC sessions learn `ev_full` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

CONFIRM_READINGS = 2
PHASE_ACTIVE_A = 1.0  # a phase carries current above this
SHORT_A = 1.0  # "below the offer" means at least this much below
IDLE_A = 0.5  # a draw below this is ~0 (a sleeping EV draws 0-0.3 A)
IDLE_KW = 0.2  # the same for readings in kW only (DC, or AC without currents)
EV_MAX_HEADROOM_A = 1.0
_FULL_SOC_PCT = 97.0
# Set-points are floored to 0.1 A and meters round: "1 A below" allows for that.
_READING_TOLERANCE_A = 0.05


@dataclass(frozen=True)
class MeterReading:
    """One `MeterValues` sample of a connector; any of the measurands may be missing."""

    time: datetime
    current_a: tuple[float | None, float | None, float | None] | None = None  # charger L1..L3
    power_kw: float | None = None
    energy_register_kwh: float | None = None
    soc_pct: float | None = None
    offered_a: float | None = None  # AC: per phase; DC: None (see offered_kw)
    offered_kw: float | None = None
    # The phases the charger offered, where it switches them (SPEC §4 `numberPhases`): fewer
    # than its own say nothing of how many the EV could use.
    offered_phases: int | None = None


@dataclass(frozen=True)
class Inference:
    """One change of what is believed about the EV, with the reading that made it."""

    time: datetime
    kind: str  # phases | ev_max | ev_max_cleared | ev_full | resumed
    value: float | int | bool | None
    reason: str

    def to_dict(self) -> dict:
        return {
            "time": self.time.isoformat(),
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class EvSpec:
    """What the plan knows of the session: the charger's phases and minimum, the voltage."""

    charger_phases: int
    min_current_a: float
    voltage_v: float
    is_dc: bool = False
    min_power_kw: float = 0.0
    given_phases: int | None = None


@dataclass(frozen=True)
class EvState:
    phases: int | None = None
    max_current_a: float | None = None
    full: bool = False
    log: tuple[Inference, ...] = ()
    # hysteresis: the run of consecutive readings of each kind
    phase_run: tuple[int, int] = (0, 0)  # (phases seen, readings in a row)
    short_draws_a: tuple[float, ...] = ()  # the run of draws below the offer
    takes_all_run: int = 0
    idle_run: int = 0
    drawing_run: int = 0
    first_register_kwh: float | None = None
    last_register_kwh: float | None = None
    last_time: datetime | None = field(default=None, compare=False)

    @property
    def delivered_kwh(self) -> float | None:
        """Energy since the first register reading (None without two readings)."""
        if self.first_register_kwh is None or self.last_register_kwh is None:
            return None
        return max(self.last_register_kwh - self.first_register_kwh, 0.0)

    def planned_max_current_a(self) -> float | None:
        """The maximum current a plan uses: the learnt one plus the headroom to notice more."""
        if self.max_current_a is None:
            return None
        return self.max_current_a + EV_MAX_HEADROOM_A

    def summary(self) -> dict:
        return {
            "phases": self.phases,
            "max_current_a": self.max_current_a,
            "full": self.full,
            "log": [i.to_dict() for i in self.log],
        }


def learn(spec: EvSpec, readings: Iterable[MeterReading], state: EvState | None = None) -> EvState:
    """Fold readings (in time order) into the state; readings not after the last are skipped."""
    state = state or EvState()
    for reading in readings:
        if state.last_time is not None and reading.time <= state.last_time:
            continue
        state = _step(spec, state, reading)
    return state


def _step(spec: EvSpec, state: EvState, r: MeterReading) -> EvState:
    state = replace(state, last_time=r.time)
    if r.energy_register_kwh is not None:
        first = state.first_register_kwh
        state = replace(
            state,
            first_register_kwh=r.energy_register_kwh if first is None else first,
            last_register_kwh=r.energy_register_kwh,
        )
    if spec.is_dc:
        draw, offered, minimum, idle = r.power_kw, r.offered_kw, spec.min_power_kw, IDLE_KW
    else:
        draw, offered, minimum, idle = (
            _draw_a(spec, state, r),
            r.offered_a,
            spec.min_current_a,
            IDLE_A,
        )
        state = _learn_phases(spec, state, r)
    if draw is None:
        return state
    offered_enough = offered is not None and offered >= max(minimum, idle) - 1e-9
    if state.full:
        return _while_full(state, r, draw >= idle)
    if not offered_enough:
        return state
    if draw < idle:
        state = replace(state, idle_run=state.idle_run + 1, short_draws_a=(), takes_all_run=0)
        if state.idle_run >= CONFIRM_READINGS:
            soc = f" at {r.soc_pct:g} % SoC" if r.soc_pct is not None else ""
            what = "full" if (r.soc_pct or 0) >= _FULL_SOC_PCT else "full or paused"
            reason = (
                f"drew ~0 ({draw:.2f}) on an offer of {offered:g} for {state.idle_run} readings"
                f"{soc}: battery {what}, its capacity released"
            )
            state = _logged(state, r.time, "ev_full", True, reason)
            state = replace(state, full=True, idle_run=0, drawing_run=0)
        return state
    state = replace(state, idle_run=0)
    if spec.is_dc:
        return state
    return _learn_max(state, r, draw, offered)


def _draw_a(spec: EvSpec, state: EvState, r: MeterReading) -> float | None:
    """The EV's current per phase: the largest phase current, else power over the phases."""
    currents = [c for c in (r.current_a or ()) if c is not None]
    if currents:
        return max(currents)
    if r.power_kw is None:
        return None
    phases = state.phases or spec.given_phases or spec.charger_phases
    return r.power_kw * 1000 / (spec.voltage_v * min(phases, spec.charger_phases))


def _learn_phases(spec: EvSpec, state: EvState, r: MeterReading) -> EvState:
    if r.offered_phases is not None and r.offered_phases < spec.charger_phases:
        return state
    currents = [c if c is not None else 0.0 for c in (r.current_a or ())][: spec.charger_phases]
    if not currents or max(currents) < 2 * PHASE_ACTIVE_A:
        return state
    active = [i for i, c in enumerate(currents) if c >= PHASE_ACTIVE_A]
    seen = len(active)
    run = state.phase_run[1] + 1 if state.phase_run[0] == seen else 1
    state = replace(state, phase_run=(seen, run))
    believed = state.phases or spec.given_phases or spec.charger_phases
    if run < CONFIRM_READINGS or seen == believed:
        return state
    where = ", ".join(f"L{i + 1}" for i in active)
    reason = f"current on {seen} of the charger's phases ({where}) in {run} readings"
    if seen == 1 and active[0] != 0:
        reason += "; the plan assumes a one-phase EV on the charger's L1: check phase_rotation"
    return _logged(replace(state, phases=seen), r.time, "phases", seen, reason)


def _learn_max(state: EvState, r: MeterReading, draw_a: float, offered_a: float) -> EvState:
    if draw_a <= offered_a - SHORT_A + _READING_TOLERANCE_A:
        recent = (*state.short_draws_a, draw_a)[-CONFIRM_READINGS:]
        state = replace(state, short_draws_a=recent, takes_all_run=0)
        if len(recent) < CONFIRM_READINGS:
            return state
        # The larger of the last readings: a single low one does not lower the cap.
        learnt = round(max(recent), 1)
        previous = state.max_current_a
        state = replace(state, max_current_a=learnt)
        if previous is None or abs(previous - learnt) >= SHORT_A:
            reason = (
                f"drew {learnt:g} A or less on offers >= {SHORT_A:g} A above it for "
                f"{len(recent)} readings: its maximum is {learnt:g} A"
            )
            state = _logged(state, r.time, "ev_max", learnt, reason)
        return state
    state = replace(state, short_draws_a=())
    takes_all = draw_a >= offered_a - SHORT_A / 2
    above_learnt = state.max_current_a is not None and offered_a > state.max_current_a + 0.5
    if not (takes_all and above_learnt):
        return replace(state, takes_all_run=0)
    state = replace(state, takes_all_run=state.takes_all_run + 1)
    if state.takes_all_run < CONFIRM_READINGS:
        return state
    reason = (
        f"took {draw_a:.1f} A of an offer of {offered_a:g} A, above its learnt "
        f"{state.max_current_a:g} A, for {state.takes_all_run} readings"
    )
    state = _logged(state, r.time, "ev_max_cleared", None, reason)
    return replace(state, max_current_a=None, takes_all_run=0)


def _while_full(state: EvState, r: MeterReading, drawing: bool) -> EvState:
    if not drawing:
        return replace(state, drawing_run=0)
    state = replace(state, drawing_run=state.drawing_run + 1)
    if state.drawing_run < CONFIRM_READINGS:
        return state
    reason = f"draws again for {state.drawing_run} readings: not full"
    state = _logged(state, r.time, "resumed", False, reason)
    return replace(state, full=False, drawing_run=0, idle_run=0)


def _logged(state: EvState, time: datetime, kind: str, value, reason: str) -> EvState:
    return replace(state, log=(*state.log, Inference(time, kind, value, reason)))
