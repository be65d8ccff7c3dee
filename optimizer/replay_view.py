"""What a strategy sees at one slot of a replay: the site from then on (measured series as a
controller knows them: the past as measured, the future as a seasonal-naive forecast) and the
sessions plugged in as a CSMS knows them: hidden fields left out for the engine to estimate,
what the meter values taught about each EV put in (SPEC §6).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from smartcharge.optimizer.ev_learning import EvState
from smartcharge.optimizer.problem import Problem

# What a replay may keep from the strategies (`smartcharge simulate --hide`).
HIDEABLE = ("departure", "energy", "ev_max", "phases")


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


def map_series(doc: dict[str, Any], change: Callable[[list], list]) -> None:
    """Apply `change` to every per-slot array the document holds as a list, in place."""
    for path in SERIES_PATHS:
        node = doc
        for key in path[:-1]:
            node = node.get(key, {})
        value = node.get(path[-1])
        if isinstance(value, list) and value:
            node[path[-1]] = change(value)


def with_series_length(site: dict[str, Any], slots: int) -> dict[str, Any]:
    """The site document with every per-slot array repeated (daily profiles) to `slots`."""
    doc = copy.deepcopy(site)
    doc["horizon"] = {**doc["horizon"], "slots": slots}
    map_series(doc, lambda values: [values[i % len(values)] for i in range(slots)])
    return doc


def seen_session(
    truth: dict[str, Any],
    hide: frozenset[str],
    remaining_kwh: float,
    delivered_kwh: float,
    is_ac: bool,
    learnt: EvState | None,
) -> dict[str, Any]:
    """A session document as the CSMS knows it: without what is hidden, with what was learnt
    (`learnt` None: a strategy that does not learn from meter values)."""
    entry = dict(truth)
    if "departure" in hide:
        del entry["departure"]
    if "energy" in hide:
        del entry["energy_kwh"]
        entry["energy_delivered_kwh"] = delivered_kwh
    else:
        entry["energy_kwh"] = remaining_kwh
    if "ev_max" in hide:
        entry.pop("max_current_a", None)
        if is_ac:
            entry.pop("max_power_kw", None)
    if "phases" in hide:
        entry.pop("phases", None)
    if learnt is not None:
        if learnt.phases is not None:
            entry["phases"] = learnt.phases
        if learnt.max_current_a is not None and is_ac:
            entry["ev_max_current_a"] = learnt.planned_max_current_a()
        if learnt.full:
            entry["ev_full"] = True
    return entry


def believed_kw_per_unit(view: Problem) -> np.ndarray:
    """kW per set-point unit of each session of a view, with the phases the view believes."""
    chargers = {c.id: c for c in view.site.chargers}
    voltage_v = view.site.grid.voltage_v
    return np.array(
        [
            1.0
            if chargers[s.charger_id].kind == "dc"
            else voltage_v * min(chargers[s.charger_id].phases, s.phases or 3) / 1000
            for s in view.sessions
        ]
    )
