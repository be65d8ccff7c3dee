"""Seeded SPEC problems of realistic charging sites, from the real data the repository ships.

Arrivals, connection times and energy demands are drawn from the ElaadNL-derived
distributions in `data/ev/` (workplace, public, private; the samplers live in
`optimizer/sessions_generator.py`), import prices are Dutch day-ahead
prices of November 2024 (`data/prices/`) plus a fixed grid fee, and the grid connection is
sized well below the sum of the chargers, as at real sites.

    python -m benchmarks.generator --chargers 200 --slots 96 --seed 1 > problem.json
    python -m benchmarks.generator --chargers 1000 --hard > depot-1000-hard.json

`--hard` is the recipe of `HARD`: scarcity (the connection 35 % of the chargers' sum), two
priority tiers, a fleet's energy demand, PV with a small export limit and a 0.001 gap.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from smartcharge.optimizer.sessions_generator import (
    distributions,
    sample_arrival_h,
    sample_ev,
    sample_exceedance,
)

DATA = Path(__file__).resolve().parent.parent / "data"
GRID_FEE_PER_KWH = 0.12
ROTATIONS = ("L1L2L3", "L2L3L1", "L3L1L2")
KIND_OF_SITE = {"depot": "private", "workplace": "workplace", "public": "public"}
# A delivery van's usable battery: a fleet vehicle asks at most for a full one.
FLEET_BATTERY_KWH = 90.0
START_HOUR = {"depot": 18, "workplace": 6, "public": 8}


@cache
def _prices() -> pd.Series:
    prices = pd.read_csv(DATA / "prices" / "nl_day_ahead_2024-11.csv")
    index = pd.DatetimeIndex(pd.to_datetime(prices["time_utc"], utc=True))
    return pd.Series(prices["price_eur_per_mwh"].to_numpy() / 1000, index=index)


def generate_problem(
    n_chargers: int,
    slots: int = 96,
    step_minutes: int = 15,
    seed: int = 0,
    *,
    kind: str = "depot",
    phase_limits: bool = True,
    circuit_levels: int = 2,
    tou: bool = True,
    demand_charge: bool = True,
    pv_kwp: float = 0.0,
    one_phase_share: float = 0.3,
    dc_share: float = 0.0,
    connection_share: float = 0.45,
    day: int = 12,
    priority_levels: tuple[int, ...] = (0, 0, 0, 1, 2),
    fleet_demand: bool = False,
    export_share: float = 0.5,
    mip_gap: float = 0.005,
    time_limit_s: float = 30.0,
) -> dict:
    """A SPEC problem document for a site of `n_chargers`; deterministic for a seed.

    `priority_levels`: each session's priority is drawn uniformly from it (so (0, 0, 0, 1) is
    two tiers, a quarter of the vehicles in the higher one). `fleet_demand`: vehicles ask for
    half to all of what they could take at full power while plugged in (a delivery fleet back
    from its shift), instead of the ElaadNL energy demand of private drivers. `export_share`:
    the export limit as a share of the PV's kWp.
    """
    rng = np.random.default_rng(seed)
    tz = timezone(timedelta(hours=1))
    start = datetime(2024, 11, day, START_HOUR[kind], 0, tzinfo=tz)
    step = timedelta(minutes=step_minutes)
    horizon_h = slots * step_minutes / 60

    n_dc = round(dc_share * n_chargers)
    chargers, circuits = [], []
    panel_size = 12
    n_panels = max(1, int(np.ceil(n_chargers / panel_size)))
    n_feeders = max(1, n_panels // 5) if circuit_levels >= 2 else 0
    for f in range(n_feeders):
        panels_below = sum(1 for p in range(n_panels) if p % n_feeders == f)
        circuits.append(
            {
                "id": f"feeder-{f}",
                "parent": None,
                "limit_kw": round(panels_below * panel_size * 11 * 0.55, 1),
                "phase_limit_a": round(panels_below * panel_size * 16 * 0.6),
            }
        )
    if circuit_levels >= 1:
        for p in range(n_panels):
            circuits.append(
                {
                    "id": f"panel-{p}",
                    "parent": f"feeder-{p % n_feeders}" if n_feeders else None,
                    "limit_kw": round(panel_size * 11 * 0.7, 1),
                    "phase_limit_a": round(panel_size * 16 * 0.75),
                }
            )
    for c in range(n_chargers):
        circuit = f"panel-{c // panel_size}" if circuit_levels >= 1 else None
        if c < n_dc:
            chargers.append(
                {
                    "id": f"dc-{c}",
                    "kind": "dc",
                    "circuit": None,
                    "max_power_kw": float(rng.choice([50.0, 150.0])),
                    "min_power_kw": 5.0,
                    "ocpp_version": "2.0.1",
                    "charging_rate_unit": "W",
                    "evse_id": 1,
                }
            )
            continue
        chargers.append(
            {
                "id": f"cp-{c}",
                "circuit": circuit,
                "phases": 3,
                "phase_rotation": ROTATIONS[c % 3],
                "max_current_a": 16.0,
                "max_power_kw": 11.0,
                "ocpp_version": "1.6" if c % 2 else "2.0.1",
                "charging_rate_unit": "A",
                "max_periods": 24,
            }
        )

    profile = KIND_OF_SITE[kind]
    tables = distributions()
    arrival_h = sample_arrival_h(profile, rng, n_chargers)
    dwell_h = np.clip(sample_exceedance(tables["connection-time"], profile, rng, n_chargers), 1, 20)
    energy_kwh = np.clip(
        sample_exceedance(tables["energy-demand"], profile, rng, n_chargers), 3, 80
    )
    sessions = []
    for c, charger in enumerate(chargers):
        if rng.uniform() < 0.12:
            continue
        offset_h = (arrival_h[c] - START_HOUR[kind]) % 24
        if offset_h > horizon_h - 1:
            offset_h = rng.uniform(-2, horizon_h / 2)
        # Plugged in before the horizon starts: still there for at least an hour of it.
        offset_h = max(offset_h, 1.0 - dwell_h[c])
        arrival = start + timedelta(hours=float(offset_h))
        departure = arrival + timedelta(hours=float(dwell_h[c]))
        # A driver asks for no more than the car could take at full power while plugged in;
        # shortages then come from the site's limits, as in the field.
        deliverable_kwh = 0.8 * dwell_h[c] * charger.get("max_power_kw", 11.0)
        if fleet_demand:
            energy_kwh[c] = min(rng.uniform(0.5, 1.0) * deliverable_kwh, FLEET_BATTERY_KWH)
        session = {
            "id": f"s-{c}",
            "charger_id": charger["id"],
            "transaction_id": str(1000 + c),
            "arrival": arrival.isoformat(),
            "departure": departure.isoformat(),
            "energy_kwh": round(float(min(energy_kwh[c], deliverable_kwh)), 1),
            "priority": int(rng.choice(list(priority_levels))),
        }
        if charger.get("kind") != "dc":
            session["phases"], session["max_current_a"] = sample_ev(rng, one_phase_share)
        sessions.append(session)

    total_kw = sum(c.get("max_power_kw", 11.0) for c in chargers)
    import_limit_kw = round(connection_share * total_kw, 1)
    grid = {
        "import_limit_kw": import_limit_kw,
        "export_limit_kw": round(export_share * pv_kwp, 1),
        "voltage_v": 230.0,
    }
    if phase_limits:
        grid["phase_limit_a"] = round(import_limit_kw * 1000 / (3 * 230) * 1.02)
    times = pd.date_range(start, periods=slots, freq=step)
    base_kw = base_load_kw(times, total_kw)
    price = day_ahead_price_per_kwh(times) if tou else np.full(slots, 0.25)
    problem = {
        "site": {
            "id": f"{kind}-{n_chargers}",
            "timezone": "Europe/Amsterdam",
            "location": {"latitude": 52.37, "longitude": 4.90, "altitude_m": 2},
            "grid": grid,
            "circuits": circuits if circuit_levels else [],
            "chargers": chargers,
            "pv": [],
        },
        "horizon": {"start": start.isoformat(), "step_minutes": step_minutes, "slots": slots},
        "tariff": {
            "currency": "EUR",
            "import_price_per_kwh": price.tolist(),
            "export_price_per_kwh": 0.05,
            "demand_charge_per_kw": 9.5 if demand_charge else 0.0,
            "peak_so_far_kw": round(0.5 * import_limit_kw, 1),
        },
        "base_load_kw": np.round(base_kw, 2).tolist(),
        "pv_kw": 0.0,
        "sessions": sessions,
        "options": {"time_limit_s": time_limit_s, "mip_gap": mip_gap},
    }
    if pv_kwp:
        problem["site"]["pv"] = [
            {
                "id": "roof",
                "kwp": pv_kwp,
                "tilt_deg": 15,
                "azimuth_deg": 180,
                "inverter_kw": round(0.9 * pv_kwp, 1),
            }
        ]
        problem["pv_kw"] = np.round(clear_day_pv_kw(times, pv_kwp), 2).tolist()
    return problem


# The hard recipe: an overnight depot of delivery vans where the connection decides. A quarter
# of the vehicles are priority 1, the connection is 35 % of the chargers' sum, the vans ask
# for half to all of what they could take at full power (up to a 90 kWh battery), a roof of
# PV the size of 30 % of the chargers' sum may export only 10 % of its kWp, and the gap is
# 0.001: tiers and fairness decide, and the cost stage must close a tight gap.
HARD = {
    "priority_levels": (0, 0, 0, 1),
    "fleet_demand": True,
    "connection_share": 0.35,
    "export_share": 0.1,
    "mip_gap": 0.001,
}
HARD_PV_SHARE = 0.3


def hard_problem(
    n_chargers: int,
    slots: int = 96,
    step_minutes: int = 15,
    seed: int = 1,
    time_limit_s: float = 30.0,
    connection_share: float = HARD["connection_share"],
) -> dict:
    """A seeded problem of the hard recipe (`HARD`): scarcity, two tiers, PV, a tight gap."""
    recipe = {**HARD, "connection_share": connection_share}
    return generate_problem(
        n_chargers,
        slots,
        step_minutes,
        seed,
        pv_kwp=round(HARD_PV_SHARE * 11.0 * n_chargers),
        time_limit_s=time_limit_s,
        **recipe,
    )


def day_ahead_price_per_kwh(times: pd.DatetimeIndex) -> np.ndarray:
    """The Dutch day-ahead price of each time's hour (November 2024) plus the grid fee."""
    hourly = _prices().reindex(times.tz_convert("UTC").floor("h")).to_numpy()
    return np.round(np.nan_to_num(hourly, nan=0.1) + GRID_FEE_PER_KWH, 4)


def base_load_kw(times: pd.DatetimeIndex, total_charger_kw: float) -> np.ndarray:
    """A site's own load: 6 % of its charger power on average, highest in the afternoon."""
    hours = times.hour + times.minute / 60
    return 0.06 * total_charger_kw * (1 + 0.4 * np.sin((hours - 8) / 24 * 2 * np.pi))


def clear_day_pv_kw(times: pd.DatetimeIndex, kwp: float) -> np.ndarray:
    """A November clear-day PV shape for the Netherlands: a bell from 08:30 to 16:30."""
    hours = times.hour + times.minute / 60
    shape = np.clip(np.sin((hours - 8.5) / 8 * np.pi), 0, None)
    return 0.55 * kwp * shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a seeded SPEC problem.")
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--slots", type=int, default=96)
    parser.add_argument("--step-minutes", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=sorted(START_HOUR), default="depot")
    parser.add_argument(
        "--hard", action="store_true", help="the hard recipe: scarcity, two tiers, PV, gap 0.001"
    )
    parser.add_argument("--time-limit", type=float, default=30.0, help="options.time_limit_s")
    args = parser.parse_args(argv)
    if args.hard:
        doc = hard_problem(args.chargers, args.slots, args.step_minutes, args.seed, args.time_limit)
    else:
        doc = generate_problem(
            args.chargers, args.slots, args.step_minutes, args.seed, kind=args.kind
        )
        doc["options"]["time_limit_s"] = args.time_limit
    json.dump(doc, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
