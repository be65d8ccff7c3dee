"""Seeded charging sessions drawn from the ElaadNL-derived distributions in `data/ev/`.

Three tables, each for `workplace`, `public` and `private` (home or depot) charging: the arrival
time of day in 15-minute bins, and connection time (h) and energy demand (kWh) tabulated by
exceedance. `generate_sessions` turns them into days of sessions for a site's chargers (what
`smartcharge sessions generate` writes); the samplers are shared with `benchmarks/generator.py`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from smartcharge.optimizer.problem import Charger, Problem
from smartcharge.optimizer.shipped_data import DATA_DIR

EV_DATA = DATA_DIR / "ev"
KINDS = ("workplace", "public", "private")

# Mean sessions a charger starts per weekday (a Poisson rate; a driver who finds the charger
# taken goes elsewhere, so the realised rate is a little lower). Not in the ElaadNL tables:
# about one car a day at a workplace or a home/depot charger, a few at a public one.
SESSIONS_PER_DAY = {"workplace": 1.0, "public": 2.0, "private": 0.9}
# Saturdays and Sundays: offices are mostly empty, public and home charging carry on.
WEEKEND_FACTOR = {"workplace": 0.2, "public": 0.8, "private": 1.0}
# Connection times outside this range are dropped to it: below half an hour an EV may not get
# one whole slot; the tables end at 72 h.
DWELL_RANGE_H = (0.5, 72.0)
# A driver asks for no more than this share of what the car could take at full power while
# plugged in, so that shortages come from the site's limits, as in the field.
DELIVERABLE_SHARE = 0.8
EV_DC_POWER_KW = (50.0, 100.0, 150.0)


@cache
def distributions() -> dict[str, pd.DataFrame]:
    """The three tables: `arrival`, `connection-time`, `energy-demand`."""
    return {
        name: pd.read_csv(EV_DATA / f"distribution-of-{name}.csv", encoding="utf-8-sig")
        for name in ("arrival", "connection-time", "energy-demand")
    }


def sample_exceedance(
    table: pd.DataFrame, column: str, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Samples of a quantity tabulated by exceedance: row p gives the value that p % of the
    charging events exceed (p = 0..100), as in ElaadNL's connection-time and energy charts."""
    percent = table.iloc[:, 0].to_numpy(dtype=float)
    values = table[column].to_numpy(dtype=float)
    return np.interp(rng.uniform(0, 100, n), percent, values)


def sample_arrival_h(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Arrival hours of day in [0, 24): a 15-minute bin by its share, uniform inside it."""
    table = distributions()["arrival"]
    density = table[kind].to_numpy(dtype=float)
    bins = rng.choice(density.size, size=n, p=density / density.sum())
    return (bins + rng.uniform(0, 1, n)) * 0.25


def sample_ev(rng: np.random.Generator, one_phase_share: float) -> tuple[int, float]:
    """An AC car's phases and maximum current: one-phase cars take 16 or 32 A, three-phase 16 A."""
    one_phase = rng.uniform() < one_phase_share
    return (1, float(rng.choice([16.0, 32.0]))) if one_phase else (3, 16.0)


def _ac_session_kw(charger: Charger, phases: int, current_a: float, voltage_v: float) -> float:
    limits_a = [current_a]
    if charger.max_current_a is not None:
        limits_a.append(charger.max_current_a)
    kw = min(limits_a) * voltage_v * min(phases, charger.phases) / 1000
    return min(kw, charger.max_power_kw) if charger.max_power_kw is not None else kw


def generate_sessions(
    site: Problem,
    kind: str,
    days: float,
    seed: int,
    *,
    sessions_per_day: float | None = None,
    one_phase_share: float = 0.3,
    priority_share: float = 0.0,
) -> list[dict[str, Any]]:
    """Sessions (SPEC §1 dicts, by arrival) for every charger of `site` arriving in the `days`
    from its horizon start; deterministic for a seed. A charger never has two at once."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rng = np.random.default_rng(seed)
    tables = distributions()
    tz = ZoneInfo(site.site.timezone)
    start = site.horizon.start
    end = start + timedelta(days=days)
    step = timedelta(minutes=site.horizon.step_minutes)
    step_h = site.horizon.step_minutes / 60
    voltage_v = site.site.grid.voltage_v
    rate = SESSIONS_PER_DAY[kind] if sessions_per_day is None else sessions_per_day
    first_day = start.astimezone(tz).date()
    n_days = (end.astimezone(tz).date() - first_day).days + 1

    drawn = []
    for charger in site.site.chargers:
        free_from = start
        for d in range(n_days):
            day = first_day + timedelta(days=d)
            weekday_rate = rate * (WEEKEND_FACTOR[kind] if day.weekday() >= 5 else 1.0)
            n = int(rng.poisson(weekday_rate))
            arrival_h = np.sort(sample_arrival_h(kind, rng, n))
            dwell_h = np.clip(
                sample_exceedance(tables["connection-time"], kind, rng, n), *DWELL_RANGE_H
            )
            wanted_kwh = sample_exceedance(tables["energy-demand"], kind, rng, n)
            # Local wall-clock times, so that arrivals follow the day across a DST change.
            midnight = datetime.combine(day, time(0), tzinfo=tz)
            for i in range(n):
                ev = _draw_ev(charger, rng, one_phase_share, voltage_v)
                priority = int(rng.uniform() < priority_share) if priority_share > 0 else 0
                arrival = (midnight + timedelta(minutes=round(arrival_h[i] * 60))).astimezone(tz)
                if not (start <= arrival < end) or arrival < free_from:
                    continue  # outside the period, or the charger is taken
                # In absolute time: a dwell that spans a DST change lasts as long as drawn.
                dwell = timedelta(minutes=round(dwell_h[i] * 60))
                departure = (arrival.astimezone(UTC) + dwell).astimezone(tz)
                full_slots = math.floor((departure - start) / step) - math.ceil(
                    (arrival - start) / step
                )
                deliverable_kwh = DELIVERABLE_SHARE * max(full_slots, 0) * step_h * ev["kw"]
                energy_kwh = round(float(min(wanted_kwh[i], deliverable_kwh)), 1)
                if energy_kwh <= 0:
                    continue
                free_from = departure
                drawn.append(
                    {
                        "charger_id": charger.id,
                        "arrival": arrival,
                        "departure": departure,
                        "energy_kwh": energy_kwh,
                        "max_current_a": ev["max_current_a"],
                        "phases": ev["phases"],
                        "max_power_kw": ev["max_power_kw"],
                        "priority": priority,
                    }
                )
    drawn.sort(key=lambda s: (s["arrival"], s["charger_id"]))
    sessions = []
    for k, s in enumerate(drawn, start=1):
        session = {
            "id": f"s-{k}",
            **s,
            "arrival": s["arrival"].isoformat(),
            "departure": s["departure"].isoformat(),
        }
        if session["max_power_kw"] is None:
            del session["max_power_kw"]
        sessions.append(session)
    return sessions


def _draw_ev(
    charger: Charger, rng: np.random.Generator, one_phase_share: float, voltage_v: float
) -> dict[str, Any]:
    """The car of one session and the power it can draw at this charger."""
    if charger.kind == "dc":
        # DC chargers are limited in kW; the car's current is not part of the model.
        kw = min(float(rng.choice(EV_DC_POWER_KW)), charger.max_power_kw or math.inf)
        kw = max(kw, charger.min_power_kw)
        return {"phases": 3, "max_current_a": 200.0, "max_power_kw": kw, "kw": kw}
    phases, current_a = sample_ev(rng, one_phase_share)
    kw = _ac_session_kw(charger, phases, current_a, voltage_v)
    return {"phases": phases, "max_current_a": current_a, "max_power_kw": None, "kw": kw}
