"""The EVs of a replay: what each really draws of what it is offered (SPEC §6).

- `ideal`: the EV takes the offer, up to its own maximum current on its own phases, until its
  energy need is met.
- `taper`: as ideal until its battery is 80 % full, then at most linearly less, down to 0 at
  full (ACN-Sim's `Linear2StageBattery`, Lee et al. 2020). The EV arrives with `battery_kwh -
  energy need` in its battery: its need fills it. Without a `battery_kwh` the battery is the
  need / 0.8 (it arrives at 20 %), so the last quarter of every need tapers; a session that
  names a larger battery tapers over more of its need.

Within a slot the draw is integrated exactly: the offer (capped at the EV's maximum) until the
taper meets it, then the taper's exponential approach to full, so no slot length overshoots.
A meter reading at each slot's end reports the slot's mean current on the EV's phases (the
charger's first ones), its power, the energy register and the offer (OCPP `Current.Offered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smartcharge.optimizer.ev_learning import MeterReading

EV_MODELS = ("ideal", "taper")
TAPER_FROM_SOC = 0.8
DEFAULT_ARRIVAL_SOC = 0.2


@dataclass(frozen=True)
class SimulatedEvs:
    """Every session's EV in a replay: its need, battery and model."""

    model: str
    need_kwh: np.ndarray  # (S,) the energy that fills the battery
    battery_kwh: np.ndarray  # (S,)

    @classmethod
    def of(cls, model: str, need_kwh: np.ndarray, battery_kwh: list[float | None]) -> SimulatedEvs:
        if model not in EV_MODELS:
            raise ValueError(f"ev model must be one of {', '.join(EV_MODELS)}, not {model!r}")
        default = need_kwh / (1 - DEFAULT_ARRIVAL_SOC)
        given = np.array([np.nan if b is None else b for b in battery_kwh], dtype=float)
        battery = np.where(np.isnan(given), default, np.maximum(given, need_kwh))
        return cls(model, need_kwh.astype(float), battery)

    def energy_kwh(
        self,
        sessions: np.ndarray,
        offered_kw: np.ndarray,
        max_kw: np.ndarray,
        delivered_kwh: np.ndarray,
        step_h: float,
    ) -> np.ndarray:
        """Energy each of `sessions` takes in one slot: offered_kw is the offer already capped
        at the EV's maximum, max_kw that maximum, delivered_kwh what it got since arrival."""
        remaining = np.maximum(self.need_kwh[sessions] - delivered_kwh, 0.0)
        offered_kw = np.maximum(offered_kw, 0.0)
        if self.model == "ideal":
            return np.minimum(offered_kw * step_h, remaining)
        band_kwh = (1 - TAPER_FROM_SOC) * self.battery_kwh[sessions]  # the taper's depth
        safe_max = np.maximum(max_kw, 1e-9)
        # The taper accepts max_kw * R / band at R kWh from full: it meets the offer at R*.
        knee_kwh = band_kwh * np.minimum(offered_kw / safe_max, 1.0)
        flat_h = np.where(
            offered_kw > 0, np.maximum(remaining - knee_kwh, 0.0) / np.maximum(offered_kw, 1e-9), 0
        )
        flat_h = np.minimum(flat_h, step_h)
        at_knee = np.minimum(remaining, knee_kwh)
        tau_h = band_kwh / safe_max
        left = at_knee * np.exp(-(step_h - flat_h) / np.maximum(tau_h, 1e-12))
        tapered = np.where(flat_h >= step_h, offered_kw * step_h, remaining - left)
        return np.where(offered_kw > 0, np.minimum(tapered, remaining), 0.0)


def meter_reading(
    time: datetime,
    mean_current_a: float | None,
    phases: int,
    charger_phases: int,
    power_kw: float,
    register_kwh: float,
    offered: float,
) -> MeterReading:
    """The reading of one connector at a slot's end: currents on the EV's phases (AC)."""
    if mean_current_a is None:  # DC
        return MeterReading(
            time=time, power_kw=power_kw, energy_register_kwh=register_kwh, offered_kw=offered
        )
    current = [mean_current_a if p < phases else 0.0 for p in range(charger_phases)]
    current += [None] * (3 - charger_phases)
    return MeterReading(
        time=time,
        current_a=tuple(current),
        power_kw=power_kw,
        energy_register_kwh=register_kwh,
        offered_a=offered,
    )
