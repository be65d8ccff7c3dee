"""What meter values teach about an EV (SPEC §6), on synthetic series: one phase, capped at
16 A, tapering, full, paused then resumed; each with the hysteresis that keeps one odd reading
from moving the plan. And the replay's EVs: an exact taper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from smartcharge.optimizer.ev_learning import (
    EV_MAX_HEADROOM_A,
    EvSpec,
    EvState,
    MeterReading,
    learn,
)
from smartcharge.optimizer.ev_model import SimulatedEvs

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
THREE_PHASE = EvSpec(charger_phases=3, min_current_a=6.0, voltage_v=230.0)


def series(currents, offered, **extra) -> list[MeterReading]:
    """One reading a minute: per-phase currents (a tuple, or one number on all three)."""
    out = []
    for i, (current, offer) in enumerate(zip(currents, offered, strict=True)):
        per_phase = current if isinstance(current, tuple) else (current, current, current)
        out.append(
            MeterReading(time=T0 + timedelta(minutes=i), current_a=per_phase, offered_a=offer,
                         **{k: v[i] for k, v in extra.items()})
        )  # fmt: skip
    return out


def kinds(state: EvState) -> list[str]:
    return [i.kind for i in state.log]


def test_one_phase_ev_on_a_three_phase_charger():
    readings = series([(16.0, 0.1, 0.0)] * 3, [16.0] * 3)
    assert learn(THREE_PHASE, readings[:1]).phases is None  # one reading moves nothing
    state = learn(THREE_PHASE, readings)
    assert state.phases == 1 and kinds(state) == ["phases"]
    assert "L1" in state.log[0].reason and "rotation" not in state.log[0].reason


def test_one_phase_seen_on_another_phase_of_the_charger_is_flagged():
    state = learn(THREE_PHASE, series([(0.0, 15.8, 0.0)] * 2, [16.0] * 2))
    assert state.phases == 1 and "phase_rotation" in state.log[0].reason


def test_a_phase_count_needs_two_readings_in_a_row():
    flapping = [(16.0, 0.0, 0.0), (16.0, 16.0, 16.0)] * 3
    assert learn(THREE_PHASE, series(flapping, [16.0] * 6)).phases is None


def test_a_car_capped_at_16_a_on_a_32_a_offer():
    spec = EvSpec(charger_phases=3, min_current_a=6.0, voltage_v=230.0)
    state = learn(spec, series([16.0] * 2, [32.0] * 2))
    assert state.max_current_a == 16.0 and kinds(state) == ["ev_max"]
    assert state.planned_max_current_a() == 16.0 + EV_MAX_HEADROOM_A
    # Offered its cap plus the headroom it still draws 16 A: the cap holds, nothing flaps.
    state = learn(spec, series([16.0] * 6, [17.0] * 6), state)
    assert state.max_current_a == 16.0 and kinds(state) == ["ev_max"]


def test_one_short_reading_is_not_a_cap():
    state = learn(THREE_PHASE, series([16.0, 9.0, 16.0, 9.0], [16.0] * 4))
    assert state.max_current_a is None


def test_a_cap_is_lifted_when_the_ev_takes_more():
    readings = series([10.0, 10.0, 11.0, 11.0], [16.0, 16.0, 11.0, 11.0])
    state = learn(THREE_PHASE, readings[:2])
    assert state.max_current_a == 10.0
    # Offered its cap + 1 A it takes it all, twice: it may take more; the plan offers all again.
    assert learn(THREE_PHASE, readings[2:3], state).max_current_a == 10.0
    state = learn(THREE_PHASE, readings[2:], state)
    assert state.max_current_a is None and kinds(state)[-1] == "ev_max_cleared"


def test_a_tapering_battery_is_followed_down():
    draws = [16.0, 16.0, 13.0, 10.5, 8.0, 6.0, 4.5]
    state = learn(THREE_PHASE, series(draws, [16.0] * len(draws)))
    # The larger of the last two short readings: 6.0 A (one low reading does not lower it).
    assert state.max_current_a == 6.0
    assert state.log[0].value == 13.0 and not state.full


def test_a_full_battery_after_two_readings_at_zero():
    draws = [12.0, 0.2, 0.1]
    state = learn(THREE_PHASE, series(draws[:2], [16.0] * 2))
    assert not state.full  # one reading at ~0 moves nothing
    state = learn(THREE_PHASE, series(draws, [16.0] * 3, soc_pct=[None, None, 100.0]))
    assert state.full and kinds(state) == ["ev_full"]
    assert "battery full" in state.log[0].reason and "paused" not in state.log[0].reason


def test_zero_on_no_offer_says_nothing():
    """A charger offered 0 A (or below the minimum): an EV drawing nothing is not full."""
    state = learn(THREE_PHASE, series([0.0] * 4, [0.0, 0.0, 5.0, 5.0]))
    assert not state.full and state.log == ()


def test_paused_then_resumed():
    draws = [10.0, 0.0, 0.0, 0.0, 9.0, 9.5]
    offers = [16.0, 16.0, 16.0, 0.0, 16.0, 16.0]
    state = learn(THREE_PHASE, series(draws[:4], offers[:4]))
    assert state.full and "full or paused" in state.log[0].reason
    state = learn(THREE_PHASE, series(draws, offers)[4:5], state)
    assert state.full  # one reading of drawing is not enough
    state = learn(THREE_PHASE, series(draws, offers)[5:], state)
    assert not state.full and kinds(state) == ["ev_full", "resumed"]


def test_readings_in_power_only_and_a_repeated_time():
    """A charger that reports only Power.Active.Import: 7.36 kW on three phases is 10.7 A."""
    readings = [
        MeterReading(time=T0 + timedelta(minutes=i), power_kw=7.36, offered_a=16.0)
        for i in range(2)
    ]
    state = learn(THREE_PHASE, [*readings, readings[1]])  # the repeat is skipped
    assert state.max_current_a == pytest.approx(10.7)


def test_dc_learns_a_full_battery_only():
    dc = EvSpec(charger_phases=3, min_current_a=0.0, voltage_v=400.0, is_dc=True)
    readings = [
        MeterReading(time=T0 + timedelta(minutes=i), power_kw=p, offered_kw=50.0)
        for i, p in enumerate([30.0, 30.0, 0.05, 0.0])
    ]
    state = learn(dc, readings)
    assert state.full and state.max_current_a is None


def test_the_energy_register_gives_what_was_delivered():
    readings = [
        MeterReading(time=T0 + timedelta(minutes=i), energy_register_kwh=1200.0 + 0.2 * i)
        for i in range(6)
    ]
    assert learn(THREE_PHASE, readings).delivered_kwh == pytest.approx(1.0)


# -- the replay's EVs ----------------------------------------------------------------------


def evs(model: str, need_kwh: float, battery_kwh: float | None = None) -> SimulatedEvs:
    return SimulatedEvs.of(model, np.array([need_kwh]), [battery_kwh])


def take(ev: SimulatedEvs, offered_kw: float, delivered_kwh: float, step_h: float) -> float:
    args = (np.array([0]), np.array([offered_kw]), np.array([11.0]), np.array([delivered_kwh]))
    return float(ev.energy_kwh(*args, step_h)[0])


def test_ideal_takes_the_offer_until_its_need_is_met():
    ev = evs("ideal", 10.0)
    assert take(ev, 11.0, 0.0, 0.25) == pytest.approx(2.75)
    assert take(ev, 11.0, 9.0, 0.25) == pytest.approx(1.0)


def test_taper_from_80_percent_of_the_battery():
    """A 50 kWh battery needing 20 kWh arrives at 60 %: flat until 40 kWh (80 %), then the
    acceptance falls linearly to 0 at 50 kWh: dE/dt = 11 kW * R / 10 kWh, R the kWh to full."""
    ev = evs("taper", 20.0, 50.0)
    assert take(ev, 11.0, 0.0, 0.25) == pytest.approx(2.75)
    # From 10 kWh to full (R = 10, the knee): exponential with tau = 10 / 11 h.
    assert take(ev, 11.0, 10.0, 0.25) == pytest.approx(10 * (1 - np.exp(-0.25 * 11 / 10)))
    # Straddling the knee: 1 kWh flat at 11 kW (1/11 h), then the taper for the rest.
    flat_h = 1.0 / 11.0
    expected = 1.0 + 10 * (1 - np.exp(-(0.25 - flat_h) * 11 / 10))
    assert take(ev, 11.0, 9.0, 0.25) == pytest.approx(expected)
    # A smaller offer meets the taper later: at 5.5 kW it is flat until R = 5 kWh.
    assert take(ev, 5.5, 12.0, 0.25) == pytest.approx(5.5 * 0.25)


def test_taper_without_a_battery_size_tapers_the_last_quarter_of_the_need():
    ev = evs("taper", 20.0)
    assert ev.battery_kwh[0] == pytest.approx(25.0)
    assert take(ev, 11.0, 12.0, 0.25) == pytest.approx(11.0 * 0.25)  # 3 kWh flat: 16 min
    assert take(ev, 11.0, 14.0, 0.25) < 11.0 * 0.25  # 1 kWh flat, then the taper
