"""The example workplace week (`data/replay/workplace-week`) driven through the service's HTTP
API on a simulated clock, beside `smartcharge simulate --strategy milp,offline` on the same week.

The service is a real app (real database, the process solver pool) served on loopback and
driven quarter-hour by quarter-hour as a CSMS and an energy manager would:
- sessions are posted when the EV arrives, their metered energy patched every quarter-hour,
  and deleted when it leaves; the site's meter values (base load, PV, import, export) posted;
- the Dutch day-ahead prices (`data/prices/entsoe_day_ahead_NL_2024-11.csv`, read as
  `smartcharge prices import` reads it, plus the week's grid fee) are put once a day at 13:00
  local time for the next day, as the auction publishes them;
- a DSO flexibility call on day 3: announced at 09:00, the import capped from 14:00 to 16:00;
- each quarter-hour the planner ticks, and the first slot of the plan it stores is what the
  chargers do (the set-points as the OCPP profiles carry them, rounded down to 0.1 A).
Base load and PV are forecast by the service itself from the site's metered history (eight
weeks seeded before the week, then what the replay meters). `simulate` instead gives each plan
the measured value of the current slot and a seasonal-naive forecast after it, and the week's
whole price array and DSO window from the start: where the two differ, that is why.

`--prices stale` replays today's behaviour for comparison: no feed, but the site document
holding the day's 96 prices from 00:00, put each midnight, which every plan reads from its own
start (a plan at 10:15 gets the 00:00 price for its first slot).

    python -m benchmarks.service_replay [--days 7] [--prices feed,stale] [--pool process]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
import uvicorn

from benchmarks.generator import GRID_FEE_PER_KWH, base_load_kw, clear_day_pv_kw
from smartcharge.api.app import create_app
from smartcharge.api.clock import SimulatedClock
from smartcharge.api.commands.simulate import read_sessions
from smartcharge.api.entsoe import DayAheadPrices, read_day_ahead_csv
from smartcharge.api.settings import Settings
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from smartcharge.api.store.tables import Schedule
from smartcharge.optimizer.check import check_answer
from smartcharge.optimizer.index import build_index
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.replay import ReplayResult, offline, replay, whole_replay
from smartcharge.optimizer.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent
WEEK = ROOT / "data" / "replay" / "workplace-week"
PRICES = ROOT / "data" / "prices" / "entsoe_day_ahead_NL_2024-11.csv"
HISTORY_DAYS = 56  # metered history seeded before the week: every load method can compete
PUBLISHED_AT_H = 13  # the day-ahead auction's results are out by 13:00 CET
SITE_ID = "workplace-week"


@dataclass(frozen=True)
class DsoWindow:
    announced: datetime
    start: datetime
    end: datetime
    import_limit_kw: float


@dataclass
class Week:
    """The replay: the week's SPEC problem (its import limit carries the DSO window, so that
    `simulate` and the checker see the same limit), the sessions, the feed."""

    problem: dict[str, Any]
    sessions: list[dict[str, Any]]
    slots: int
    window: DsoWindow
    prices: DayAheadPrices

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.problem["horizon"]["start"])

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.problem["horizon"]["step_minutes"])

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.problem["site"]["timezone"])

    @property
    def first_day(self) -> datetime:
        """Local midnight of the replay's first day."""
        return self.start.astimezone(self.zone).replace(hour=0, minute=0)


def load_week(
    days: float = 7,
    from_hour: float = 0,
    window_day: int = 2,
    window_hours: tuple[float, float, float] = (9, 14, 16),
) -> Week:
    """The week (or `days` of it from `from_hour` on Monday); the DSO window on day
    `window_day` (0: Monday), announced, starting and ending at `window_hours`."""
    problem = json.loads((WEEK / "site.json").read_text())
    sessions = read_sessions(WEEK / "sessions.csv")
    assert isinstance(sessions, list)
    step = timedelta(minutes=problem["horizon"]["step_minutes"])
    skip = round(from_hour * 60 / problem["horizon"]["step_minutes"])
    if skip:
        _drop_first_slots(problem, skip)
    start = datetime.fromisoformat(problem["horizon"]["start"])
    slots = round(days * 24 * 60 / problem["horizon"]["step_minutes"])
    end = start + slots * step
    sessions = [
        s
        for s in sessions
        if datetime.fromisoformat(s["arrival"]) < end
        and datetime.fromisoformat(s["departure"]) > start + step
    ]
    monday = start.replace(hour=0, minute=0) + timedelta(days=window_day)
    announced, first, last = (monday + timedelta(hours=h) for h in window_hours)
    window = DsoWindow(announced, first, last, import_limit_kw=20.0)
    limit = np.full(problem["horizon"]["slots"], problem["site"]["grid"]["import_limit_kw"])
    first, last = (window.start - start) // step, (window.end - start) // step
    limit[first:last] = np.minimum(limit[first:last], window.import_limit_kw)
    problem["site"]["grid"]["import_limit_kw"] = limit.tolist()
    # Sessions that leave after the replayed days are cut there, as `simulate --days` cuts.
    sessions = [
        {**s, "departure": min(datetime.fromisoformat(s["departure"]), end).isoformat()}
        for s in sessions
    ]
    sessions = [s for s in sessions if s["departure"] > s["arrival"]]
    return Week(problem, sessions, slots, window, read_day_ahead_csv(PRICES))


def _drop_first_slots(problem: dict[str, Any], skip: int) -> None:
    """The week's problem from slot `skip` on: its start moved, its per-slot arrays cut."""
    horizon = problem["horizon"]
    start = datetime.fromisoformat(horizon["start"])
    horizon["start"] = (start + skip * timedelta(minutes=horizon["step_minutes"])).isoformat()
    horizon["slots"] -= skip
    for owner, name in (
        (problem["tariff"], "import_price_per_kwh"),
        (problem["tariff"], "export_price_per_kwh"),
        (problem, "base_load_kw"),
        (problem, "pv_kw"),
    ):
        if isinstance(owner.get(name), list):
            owner[name] = owner[name][skip:]


def import_price_per_kwh(prices: DayAheadPrices) -> np.ndarray:
    """What the site pays per kWh: the wholesale price plus the week's grid fee."""
    return prices.per_mwh / 1000 + GRID_FEE_PER_KWH


def feed_for_day(week: Week, local_day: datetime) -> dict[str, Any]:
    """`PUT …/prices` body for one local day, as `smartcharge prices import` would send it."""
    start = local_day.astimezone(ZoneInfo("UTC"))
    end = (local_day + timedelta(days=1)).astimezone(ZoneInfo("UTC"))
    starts = week.prices.start_utc
    chosen = (starts >= pd.Timestamp(start)) & (starts < pd.Timestamp(end))
    per_kwh = import_price_per_kwh(week.prices)[chosen]
    times = starts[chosen]
    return {
        "points": [
            {"time": t.isoformat(), "import_per_kwh": round(float(p), 6)}
            for t, p in zip(times, per_kwh, strict=True)
        ],
        "end": week.prices.end_utc[chosen][-1].isoformat(),
    }


def day_array(week: Week, local_day: datetime) -> list[float]:
    """The day's 96 quarter-hour prices from local 00:00 (today's stored-site behaviour)."""
    start = pd.Timestamp(local_day.astimezone(ZoneInfo("UTC")))
    times = pd.date_range(start, periods=96, freq="15min")
    hourly = pd.Series(import_price_per_kwh(week.prices), index=week.prices.start_utc)
    return [round(float(v), 6) for v in hourly.reindex(times.floor("h")).to_numpy()]


def site_document(week: Week, prices: str) -> dict[str, Any]:
    """The stored site: the week's site and tariff, a 24 h horizon, forecasts from metering.
    With the feed the document's own import price is the fallback where no point covers a
    slot: the grid fee plus the last day-ahead mean known before the week."""
    problem = week.problem
    grid = dict(problem["site"]["grid"])
    grid["import_limit_kw"] = max(grid["import_limit_kw"])  # the window comes by the API
    tariff = {k: v for k, v in problem["tariff"].items() if k != "import_price_per_kwh"}
    before = week.first_day - timedelta(days=1)
    if prices == "feed":
        known = feed_for_day(week, before)["points"]
        tariff["import_price_per_kwh"] = round(
            statistics.fmean(p["import_per_kwh"] for p in known), 4
        )
    else:
        tariff["import_price_per_kwh"] = day_array(week, week.first_day)
    return {
        "site": {**problem["site"], "id": SITE_ID, "grid": grid},
        "tariff": tariff,
        "horizon": {"step_minutes": problem["horizon"]["step_minutes"], "slots": 96},
        "options": {**problem.get("options", {}), "time_limit_s": 10},
        "base_load_kw": None,
        "pv_kw": None,
    }


def metered_history(week: Week, days: int = HISTORY_DAYS) -> list[dict[str, Any]]:
    """The site's meter before the week: the same base load and PV the week's arrays are made
    of (`benchmarks.generator`), so the service's forecasts learn the site they plan."""
    times = pd.date_range(
        week.start - timedelta(days=days), week.start, freq=week.step, inclusive="left"
    )
    total_kw = sum(c.get("max_power_kw", 11.0) for c in week.problem["site"]["chargers"])
    base = base_load_kw(times, total_kw)
    pv = clear_day_pv_kw(times, week.problem["site"]["pv"][0]["kwp"])
    return [
        {
            "time_utc": t.isoformat(),
            "base_load_kw": round(float(b), 2),
            "pv_kw": round(float(p), 2),
            "import_kw": round(max(float(b - p), 0.0), 2),
            "export_kw": round(max(float(p - b), 0.0), 2),
        }
        for t, b, p in zip(times, base, pv, strict=True)
    ]


@dataclass
class ServiceRun:
    prices: str
    result: ReplayResult
    plans: int
    plans_failing_checker: int
    plan_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def drive(
    client: httpx.Client,
    app: Any,
    clock: SimulatedClock,
    week: Week,
    prices: str,
    progress: bool = False,
    history_days: int = HISTORY_DAYS,
) -> tuple[np.ndarray, list[float]]:
    """Run the week against a started app (`client` speaks to it with a key); the set-points
    applied, (session, slot), and the seconds each tick took to plan."""
    full = whole_replay(week.problem, week.sessions, week.slots)
    index = build_index(full)
    planner = app.state.planner
    site = f"/v1/sites/{SITE_ID}"
    zone = week.zone
    clock.set(week.start - timedelta(days=1))
    client.post("/v1/sites", json=site_document(week, prices)).raise_for_status()
    history = metered_history(week, history_days)
    client.post(f"{site}/measurements", json={"measurements": history}).raise_for_status()
    if prices == "feed":
        for day in (week.first_day - timedelta(days=1), week.first_day):
            client.put(f"{site}/prices", json=feed_for_day(week, day)).raise_for_status()

    setpoint = np.zeros((index.n_sessions, week.slots))
    delivered = np.zeros(index.n_sessions)
    row_of = {s.id: i for i, s in enumerate(full.sessions)}
    posted: set[str] = set()
    gone: set[str] = set()
    actual_base = np.asarray(full.base_load_kw, dtype=float)
    actual_pv = np.asarray(full.pv_kw, dtype=float)
    export_limit = np.broadcast_to(np.asarray(full.site.grid.export_limit_kw), (week.slots,))
    plan_s = []
    for t in range(week.slots):
        moment = week.start + t * week.step
        local = moment.astimezone(zone)
        clock.set(moment)
        if moment == week.window.announced:
            client.post(
                f"{site}/grid-limits",
                json={
                    "start": week.window.start.isoformat(),
                    "end": week.window.end.isoformat(),
                    "import_limit_kw": week.window.import_limit_kw,
                    "source": "dso",
                    "reason": "flexibility call: congestion on the MV feeder",
                },
            ).raise_for_status()
        if prices == "feed" and (local.hour, local.minute) == (PUBLISHED_AT_H, 0):
            tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=0)
            client.put(f"{site}/prices", json=feed_for_day(week, tomorrow)).raise_for_status()
        if prices == "stale" and (local.hour, local.minute) == (0, 0) and t > 0:
            document = site_document(week, prices)
            document["tariff"]["import_price_per_kwh"] = day_array(week, local)
            client.put(site, json=document).raise_for_status()
        for session in week.sessions:
            sid = session["id"]
            if (
                sid in posted
                and sid not in gone
                and datetime.fromisoformat(session["departure"]) <= moment
            ):
                client.delete(f"{site}/sessions/{sid}").raise_for_status()
                gone.add(sid)
            elif sid not in posted and datetime.fromisoformat(session["arrival"]) <= moment:
                posted.add(sid)
                if datetime.fromisoformat(session["departure"]) > moment:
                    client.post(f"{site}/sessions", json=session).raise_for_status()
                else:
                    gone.add(sid)  # came and went within one quarter-hour
        if t > 0:
            _meter(client, site, full, index, setpoint, delivered, t - 1, row_of, gone)
            charging = float(setpoint[:, t - 1] @ index.kw_per_unit)
            net = actual_base[t - 1] + charging - actual_pv[t - 1]
            meter = {
                "time_utc": (moment - week.step).isoformat(),
                "base_load_kw": float(actual_base[t - 1]),
                "pv_kw": float(actual_pv[t - 1]),
                "import_kw": max(net, 0.0),
                "export_kw": min(max(-net, 0.0), float(export_limit[t - 1])),
            }
            client.post(f"{site}/measurements", json={"measurements": [meter]}).raise_for_status()
        started = time.perf_counter()
        planner.tick_from_thread()
        planner.settle_from_thread()
        plan_s.append(time.perf_counter() - started)
        plan = client.get(f"{site}/schedule").json()
        if datetime.fromisoformat(plan["horizon"]["start"]) != moment:
            raise RuntimeError(f"slot {t}: the latest plan starts at {plan['horizon']['start']}")
        for entry in plan["sessions"]:
            row = row_of[entry["id"]]
            unit = entry["current_a"][0] if entry.get("current_a") else entry["power_kw"][0]
            applied = min(float(unit or 0.0), float(index.unit_max[row]))
            energy = applied * index.kw_per_unit[row] * index.step_h
            remaining = index.energy_kwh[row] - delivered[row]
            # As `simulate` applies a slot: never more than the EV still wants.
            setpoint[row, t] = 0.0 if energy > remaining + 1e-6 else applied
            delivered[row] += setpoint[row, t] * index.kw_per_unit[row] * index.step_h
        if progress and t % 96 == 95:
            print(f"  {prices}: day {t // 96 + 1} done", file=sys.stderr, flush=True)
    return setpoint, plan_s


def _meter(client, site, full, index, setpoint, delivered, slot, row_of, gone) -> None:
    """PATCH every live session that charged in `slot` with its metered energy since arrival."""
    for session in full.sessions:
        row = row_of[session.id]
        if setpoint[row, slot] > 0 and session.id not in gone:
            client.patch(
                f"{site}/sessions/{session.id}",
                json={"energy_delivered_kwh": round(float(delivered[row]), 6)},
            ).raise_for_status()


def checked_plans(database_url: str) -> tuple[int, int]:
    """(stored plans, plans the independent checker finds a violation in)."""
    from sqlalchemy import select

    database = open_database(database_url)
    with database.transaction() as session:
        rows = list(session.scalars(select(Schedule)))
    failing = 0
    for row in rows:
        violations = check_answer(parse_problem(row.problem), row.answer)
        failing += bool(violations)
    database.dispose()
    return len(rows), failing


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` on loopback (a real HTTP server in a thread, with the app's lifespan)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_service(week: Week, prices: str, pool: str, progress: bool = True) -> ServiceRun:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/replay.db"
        key = create_key(open_database(url), "replay")
        clock = SimulatedClock(week.start - timedelta(days=1))
        settings = Settings(
            database_url=url,
            solver_pool=pool,
            solver_workers=1,
            debounce_s=0.02,
            max_wait_s=0.5,
            tick_s=0,
        )
        app = create_app(settings, clock=clock)
        started = time.perf_counter()
        with (
            served(app) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
            ) as client,
        ):
            setpoint, plan_s = drive(client, app, clock, week, prices, progress)
        wall_s = time.perf_counter() - started
        plans, failing = checked_plans(url)
    full = whole_replay(week.problem, week.sessions, week.slots)
    result = ReplayResult(f"service ({prices})", full, setpoint, plan_s)
    return ServiceRun(prices, result, plans, failing, plan_s, wall_s)


def simulated(week: Week) -> list[ReplayResult]:
    """`smartcharge simulate --strategy milp,offline` on the same week (the same functions)."""
    return [
        replay(week.problem, week.sessions, STRATEGIES["milp"], "milp", week.slots),
        offline(week.problem, week.sessions, week.slots),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--prices", default="feed,stale", help="feed, stale, or both (comma)")
    parser.add_argument("--pool", default="process")
    args = parser.parse_args(argv)
    week = load_week(args.days)
    rows: list[tuple[str, dict[str, Any], str]] = []
    runs = {}
    for mode in args.prices.split(","):
        run = run_service(week, mode, args.pool)
        runs[mode] = run
        extra = (
            f"{run.plans} plans, {run.plans_failing_checker} failing the checker; "
            f"re-plan median {statistics.median(run.plan_s):.2f} s; wall {run.wall_s:.0f} s"
        )
        rows.append((run.result.strategy, run.result.kpis(), extra))
    for result in simulated(week):
        rows.append((f"simulate {result.strategy}", result.kpis(), ""))
    print(
        f"workplace week, {args.days:g} days, {len(week.sessions)} sessions; DSO window "
        f"{week.window.start:%a %H:%M}-{week.window.end:%H:%M} at "
        f"{week.window.import_limit_kw:g} kW (announced {week.window.announced:%H:%M})"
    )
    print(
        "| run | delivered kWh | % of requested | fully served % | cost | demand charge | "
        "peak kW | violations (worst) | notes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kpis, extra in rows:
        print(
            f"| {name} | {kpis['energy_delivered_kwh']:.1f} | {kpis['energy_delivered_pct']:.1f} "
            f"| {kpis['sessions_fully_served_pct']:.1f} | {kpis['total_cost']:.2f} "
            f"| {kpis['demand_charge']:.2f} | {kpis['peak_import_kw']:.1f} "
            f"| {kpis['violations']} ({kpis['worst_violation']}) | {extra} |"
        )
    milp = next(kpis for name, kpis, _ in rows if name == "simulate milp")
    for mode, run in runs.items():
        kpis = run.result.kpis()
        energy = 100 * (kpis["energy_delivered_kwh"] / milp["energy_delivered_kwh"] - 1)
        cost = 100 * (kpis["total_cost"] / milp["total_cost"] - 1)
        print(f"service ({mode}) vs simulate milp: energy {energy:+.2f} %, cost {cost:+.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
