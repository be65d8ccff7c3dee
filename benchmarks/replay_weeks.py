"""Replay the example weeks in `data/replay/` with every strategy, side by side (as they are and
with the grid connection halved), and time a week of a 50-charger site re-planned every 15
minutes.

    python -m benchmarks.replay_weeks              # both weeks, every strategy, Markdown tables
    python -m benchmarks.replay_weeks --days 1     # a shorter replay of the same weeks
    python -m benchmarks.replay_weeks --write      # only (re)write data/replay/*/ (seeded)

Each week is a site (a SPEC problem without sessions whose price, base-load and PV arrays cover
the whole week) and a SESSIONS.csv written by `smartcharge sessions generate`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.generator import (
    base_load_kw,
    clear_day_pv_kw,
    day_ahead_price_per_kwh,
    generate_problem,
)
from smartcharge.api.cli import main as cli
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.replay import ReplayResult, offline, replay
from smartcharge.optimizer.session_table import read_sessions
from smartcharge.optimizer.sessions_generator import generate_sessions
from smartcharge.optimizer.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "data" / "examples"
REPLAY = ROOT / "data" / "replay"
WEEK_DAYS = 7
# The order of the table: ours, the baselines, then the bound nothing online can beat.
STRATEGY_ORDER = ("milp", "edf", "llf", "equal-share", "uncontrolled", "offline")
# The depot week keeps the first four panels (48 of 120 chargers): a week of re-planning every
# 15 minutes then takes minutes, not an hour, with the same circuits, limits and tariff.
DEPOT_CHARGERS = 48


def _week_series(doc: dict[str, Any], start: str, pv_kwp: float) -> dict[str, Any]:
    """`doc` over a week from `start`: its per-slot arrays cover every slot of the week."""
    doc = copy.deepcopy(doc)
    step_minutes = doc["horizon"]["step_minutes"]
    slots = WEEK_DAYS * 24 * 60 // step_minutes
    doc["horizon"] = {"start": start, "step_minutes": step_minutes, "slots": slots}
    times = pd.date_range(datetime.fromisoformat(start), periods=slots, freq=f"{step_minutes}min")
    total_kw = sum(c.get("max_power_kw", 11.0) for c in doc["site"]["chargers"])
    doc["tariff"]["import_price_per_kwh"] = day_ahead_price_per_kwh(times).tolist()
    doc["base_load_kw"] = [round(float(v), 2) for v in base_load_kw(times, total_kw)]
    doc["pv_kw"] = [round(float(v), 2) for v in clear_day_pv_kw(times, pv_kwp)] if pv_kwp else 0.0
    doc["sessions"] = []
    return doc


def workplace_week() -> dict[str, Any]:
    """`workplace-20` (20 chargers, 80 kWp PV) from Monday 11 November 2024, 00:00."""
    doc = json.loads((EXAMPLES / "workplace-20.json").read_text())
    doc = _week_series(doc, "2024-11-11T00:00:00+01:00", pv_kwp=doc["site"]["pv"][0]["kwp"])
    doc["site"]["id"] = "workplace-week"
    doc["site"]["kind"] = "workplace"  # estimates of unknown departures and energies (SPEC §6)
    return doc


def depot_week(n_chargers: int = DEPOT_CHARGERS) -> dict[str, Any]:
    """`depot-120` cut to its first `n_chargers`, from Monday 11 November 2024, noon: the week
    holds seven whole nights, the last ending on Monday morning."""
    doc = json.loads((EXAMPLES / "depot-120.json").read_text())
    doc = _scale_down(doc, n_chargers)
    doc = _week_series(doc, "2024-11-11T12:00:00+01:00", pv_kwp=0.0)
    doc["site"]["id"] = "depot-week"
    doc["site"]["kind"] = "depot"
    return doc


def _scale_down(doc: dict[str, Any], n_chargers: int) -> dict[str, Any]:
    """The first `n_chargers` of a site, its circuits and connection scaled with them."""
    doc = copy.deepcopy(doc)
    site = doc["site"]
    share = n_chargers / len(site["chargers"])
    kept = site["chargers"][:n_chargers]
    below = {c["id"]: 0 for c in site["circuits"]}  # chargers under each circuit, before
    below_kept = dict(below)
    parents = {c["id"]: c["parent"] for c in site["circuits"]}
    for i, charger in enumerate(site["chargers"]):
        circuit = charger.get("circuit")
        while circuit is not None:
            below[circuit] += 1
            below_kept[circuit] += i < n_chargers
            circuit = parents[circuit]
    circuits = []
    for circuit in site["circuits"]:
        if not below_kept[circuit["id"]]:
            continue
        # A feeder sized for the panels it carried is sized for those it still carries.
        if circuit["id"].startswith("feeder"):
            ratio = below_kept[circuit["id"]] / below[circuit["id"]]
            circuit = {
                **circuit,
                "limit_kw": round(circuit["limit_kw"] * ratio, 1),
                "phase_limit_a": round(circuit["phase_limit_a"] * ratio),
            }
        circuits.append(circuit)
    site["chargers"], site["circuits"] = kept, circuits
    grid = site["grid"]
    grid["import_limit_kw"] = round(grid["import_limit_kw"] * share, 1)
    grid["phase_limit_a"] = round(grid["phase_limit_a"] * share)
    doc["tariff"]["peak_so_far_kw"] = round(doc["tariff"]["peak_so_far_kw"] * share, 1)
    return doc


# name -> (site builder, kind of charging for `sessions generate`, seed)
WEEKS: dict[str, tuple[Callable[[], dict[str, Any]], str, int]] = {
    "workplace-week": (workplace_week, "workplace", 1),
    "depot-week": (depot_week, "private", 2),
}


def write_weeks() -> None:
    """Write `data/replay/<week>/site.json` and, with the CLI, `sessions.csv` (seeded)."""
    for name, (build, kind, seed) in WEEKS.items():
        folder = REPLAY / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "site.json").write_text(json.dumps(build(), indent=1) + "\n")
        code = cli(
            [
                "sessions",
                "generate",
                "--site",
                str(folder / "site.json"),
                "--kind",
                kind,
                "--days",
                str(WEEK_DAYS),
                "--seed",
                str(seed),
                "--out",
                str(folder / "sessions.csv"),
            ]
        )
        if code:
            raise SystemExit(code)


def load_week(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The site document and sessions of `data/replay/<name>/`."""
    site = json.loads((REPLAY / name / "site.json").read_text())
    sessions = read_sessions(REPLAY / name / "sessions.csv")
    if isinstance(sessions, str):
        raise ValueError(sessions)
    return site, sessions


def run_strategy(
    site: dict[str, Any], sessions: list[dict[str, Any]], name: str, slots: int
) -> tuple[ReplayResult, float]:
    """One strategy's replay and its wall time in seconds."""
    started = time.perf_counter()
    if name == "offline":
        result = offline(site, sessions, slots)
    else:
        result = replay(site, sessions, STRATEGIES[name], name, slots)
    return result, time.perf_counter() - started


def compare(
    site: dict[str, Any],
    sessions: list[dict[str, Any]],
    slots: int,
    strategies: tuple[str, ...] = STRATEGY_ORDER,
) -> pd.DataFrame:
    """Every strategy's KPIs and wall time on one replay, with energy and cost against offline
    (when offline is among them)."""
    rows = []
    for name in strategies:
        result, wall_s = run_strategy(site, sessions, name, slots)
        rows.append({**result.kpis(), "wall_s": round(wall_s, 1)})
    table = pd.DataFrame(rows).set_index("strategy")
    if "offline" in table.index:
        best = table.loc["offline"]
        table["energy_of_offline_pct"] = (
            100 * table["energy_delivered_kwh"] / best["energy_delivered_kwh"]
        ).round(2)
        table["cost_x_offline"] = (table["total_cost"] / best["total_cost"]).round(3)
    return table


def markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table."""
    header = (
        "strategy",
        "delivered kWh",
        "% of requested",
        "% of offline",
        "fully served %",
        "cost",
        "× offline cost",
        "demand charge",
        "peak kW",
        "violations (worst)",
        "re-plan median s",
        "re-plan max s",
        "wall s",
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in table.iterrows():
        cells = (
            str(name),
            f"{r['energy_delivered_kwh']:.1f}",
            f"{r['energy_delivered_pct']:.1f}",
            f"{r.get('energy_of_offline_pct', float('nan')):.2f}",
            f"{r['sessions_fully_served_pct']:.1f}",
            f"{r['total_cost']:.2f}",
            f"{r.get('cost_x_offline', float('nan')):.3f}",
            f"{r['demand_charge']:.2f}",
            f"{r['peak_import_kw']:.1f}",
            f"{int(r['violations'])} ({r['worst_violation']:g})",
            f"{r['replan_median_s']:.3f}",
            f"{r['replan_max_s']:.2f}",
            f"{r['wall_s']:.1f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fifty_charger_week(days: float = WEEK_DAYS, seed: int = 50) -> dict[str, Any]:
    """A 50-charger public site (generator recipe, no PV) over `days`, re-planned every 15
    minutes by the MILP: wall time, re-plans, their median and max, and the KPIs."""
    slots = round(days * 96)
    doc = generate_problem(50, slots=slots, seed=seed, kind="public")
    doc["sessions"] = []
    sessions = generate_sessions(parse_problem(doc), "public", days, seed)
    result, wall_s = run_strategy(doc, sessions, "milp", slots)
    kpis = result.kpis()
    return {
        "site": "public-50",
        "sessions": len(sessions),
        "slots": result.setpoint.shape[1],
        "re-plans": len(result.replan_s),
        "wall_s": round(wall_s, 1),
        "replan_median_s": kpis["replan_median_s"],
        "replan_max_s": kpis["replan_max_s"],
        "energy_delivered_pct": kpis["energy_delivered_pct"],
        "violations": kpis["violations"],
    }


def tightened(site: dict[str, Any], share: float) -> dict[str, Any]:
    """`site` with its grid connection (kW and per-phase A) cut to `share`: at the example
    sizes the limits seldom bind, and the strategies differ most where they do."""
    site = copy.deepcopy(site)
    grid = site["site"]["grid"]
    grid["import_limit_kw"] = round(grid["import_limit_kw"] * share, 1)
    if grid.get("phase_limit_a") is not None:
        grid["phase_limit_a"] = round(grid["phase_limit_a"] * share)
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=WEEK_DAYS, help="how long to replay")
    parser.add_argument("--write", action="store_true", help="only (re)write data/replay/")
    parser.add_argument("--weeks", default=",".join(WEEKS), help="which weeks to replay")
    parser.add_argument(
        "--tight", type=float, default=0.5, help="also replay with the connection cut to this share"
    )
    parser.add_argument("--no-fifty", action="store_true", help="skip the 50-charger timing")
    args = parser.parse_args(argv)
    if args.write:
        write_weeks()
        return 0
    for name in [w for w in args.weeks.split(",") if w]:
        site, sessions = load_week(name)
        slots = round(args.days * 24 * 60 / site["horizon"]["step_minutes"])
        end = datetime.fromisoformat(site["horizon"]["start"]) + timedelta(days=args.days)
        within = [s for s in sessions if datetime.fromisoformat(s["arrival"]) < end]
        for share in (1.0, args.tight) if args.tight and args.tight != 1 else (1.0,):
            variant = tightened(site, share) if share != 1 else site
            grid = variant["site"]["grid"]
            print(
                f"\n### {name}{f', connection x {share:g}' if share != 1 else ''}: "
                f"{len(site['site']['chargers'])} chargers, {len(within)} sessions, "
                f"{args.days:g} days, import limit {grid['import_limit_kw']:g} kW\n"
            )
            print(markdown(compare(variant, within, slots)), flush=True)
    if not args.no_fifty:
        row = fifty_charger_week(args.days)
        print("\n### 50 chargers, re-planned every 15 minutes by the MILP\n")
        print("| " + " | ".join(row) + " |")
        print("|" + "---|" * len(row))
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
