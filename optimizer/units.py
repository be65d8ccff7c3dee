"""Unit conversions, in one place (AC power from per-phase current, energy from power)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

W_PER_KW = 1000.0


def ac_power_kw(current_a: ArrayLike, voltage_v: float, phases: ArrayLike) -> np.ndarray:
    """AC power [kW] = current per phase [A] x line-to-neutral voltage [V] x phases / 1000."""
    return np.asarray(current_a, dtype=float) * voltage_v * np.asarray(phases) / W_PER_KW


def max_current_for_power_a(power_kw: float, voltage_v: float, phases: int) -> float:
    """The per-phase current [A] at which an AC load of `phases` phases draws `power_kw`."""
    return power_kw * W_PER_KW / (voltage_v * phases)


def kw_per_a(voltage_v: float, phases: ArrayLike) -> np.ndarray:
    """kW drawn per ampere of per-phase current on `phases` phases."""
    return voltage_v * np.asarray(phases, dtype=float) / W_PER_KW


def phase_current_of_balanced_kw(power_kw: ArrayLike, voltage_v: float) -> np.ndarray:
    """Current [A] on each of three phases for a load of `power_kw` spread evenly over them."""
    return np.asarray(power_kw, dtype=float) * W_PER_KW / (3.0 * voltage_v)
