"""The service under a CPO's traffic: N sites created through the API, then D minutes of what a
CSMS, dashboards and energy managers send (`benchmarks.load_traffic`), against `smartcharge
serve` with the process pool on SQLite or PostgreSQL. Loopback only, bounded in time.

Prints requests/s, p50/p95/p99 per endpoint, errors by status, re-plans per site per hour, the
time from an event to its new profiles (p50/p99), the server's RSS at the start, half-way and the
end, and the database's size; then checks that every write the service acknowledged is stored.

    python -m benchmarks.load [--db sqlite|postgresql] [--sites 200] [--chargers 20-120]
        [--minutes 10] [--speed 1] [--postgres-url URL] [--outage-s 20] [--json FILE]

`--db postgresql` uses a new database on --postgres-url (default SMARTCHARGE_TEST_POSTGRES_URL);
`--outage-s S` instead starts a throw-away cluster of its own and stops it for S seconds a third
of the way into the run (`pg_ctl stop -m fast`, then start): what requests got meanwhile, and
how soon every site re-planned after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, select

from benchmarks.load_traffic import WRITE_METHODS, LoadConfig, Record, Traffic, build_scenarios
from benchmarks.postgres_cluster import PostgresCluster
from benchmarks.service_process import ServerProcess, database_size_mb, new_database
from smartcharge.api.store.database import normalise_url, open_database
from smartcharge.api.store.keys import create_key
from smartcharge.api.store.tables import Measurement, Schedule, SessionRow, SiteRow

SETTLE_TIMEOUT_S = 900.0  # the first plans of 200 sites, or the re-plans after a run
Tick = Callable[[float, ServerProcess], Awaitable[None]]


@dataclass
class LoadResult:
    config: LoadConfig
    database: str
    chargers: int
    records: list[Record]
    run_started: float
    run_ended: float
    rss_mb: list[tuple[float, float]]  # (seconds into the run, MB)
    worker_rss_mb: tuple[float, float]
    database_mb: tuple[float, float]
    plans: list[tuple[str, int, float, float]]  # (site, version, started, finished) in epoch s
    events: list[tuple[str, float, float, str]]
    lost: list[str]
    acknowledged: dict[str, int]
    health: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    harness_cpu_s: float = 0.0  # the harness's own CPU time, set-up and run
    server_cpu_s: float = 0.0  # the API process's, from the run's start to its last re-plan

    def run_records(self) -> list[Record]:
        return [r for r in self.records if r.phase == "run"]


def run_load(
    config: LoadConfig,
    database: str = "sqlite",
    postgres_url: str | None = None,
    directory: Path | None = None,
    server_env: dict[str, str] | None = None,
    on_tick: Tick | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> LoadResult:
    """One run against a server of its own on a new database (kept only while it runs);
    `on_tick(seconds into the run, the server)` is awaited about once a second."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(directory or scratch)
        with new_database(database, folder, postgres_url) as url:
            return _run_on(url, config, database, folder, server_env, on_tick, progress)


def _run_on(
    url: str,
    config: LoadConfig,
    database: str,
    folder: Path,
    server_env: dict[str, str] | None,
    on_tick: Tick | None,
    progress: Callable[[str], None],
) -> LoadResult:
    scenarios = build_scenarios(config)
    chargers = sum(len(s.document["site"]["chargers"]) for s in scenarios)
    keys = _make_keys(url, sorted({s.tenant for s in scenarios}))
    env = {"SMARTCHARGE_SOLVER_POOL": "process", **(server_env or {})}
    server = ServerProcess(url, env, log=folder / "server.log")
    progress(f"[load] {len(scenarios)} sites, {chargers} chargers on {database}; {server.base}")
    traffic = Traffic(server.base, keys, scenarios, config)
    rss: list[tuple[float, float]] = []
    health: list[tuple[float, dict[str, Any]]] = []
    try:

        async def tick(elapsed_s: float) -> None:
            if not rss or elapsed_s - rss[-1][0] >= 10:
                rss.append((elapsed_s, server.rss_mb()))
                requests = len(traffic.records)
                progress(f"[load] {elapsed_s:5.0f} s: {requests} requests, RSS {rss[-1][1]:.0f} MB")
            if on_tick is not None:
                await on_tick(elapsed_s, server)

        server_cpu_at_start = [0.0]
        database_mb_start = [0.0]  # once the sites, sessions and first plans are stored

        async def drive() -> tuple[float, float]:
            set_up = time.time()
            await traffic.set_up()
            sessions = len(traffic.ledger.arrived)
            progress(f"[load] sites and {sessions} sessions in {time.time() - set_up:.0f} s")
            await _settled(server.base, health, set_up)
            progress(f"[load] first plans after {time.time() - set_up:.0f} s; running")
            database_mb_start[0] = await asyncio.to_thread(database_size_mb, url)
            started = time.time()
            server_cpu_at_start[0] = server.cpu_s()
            await traffic.run(tick)
            ended = time.time()
            progress("[load] the run is over; waiting for its last re-plans")
            await _settled(server.base, health, started)
            await traffic.close()
            return started, ended

        cpu_started = time.process_time()
        started, ended = asyncio.run(drive())
        harness_cpu_s = time.process_time() - cpu_started
        server_cpu_s = server.cpu_s() - server_cpu_at_start[0]
        rss.append((ended - started, server.rss_mb()))
        workers_mb = server.worker_rss_mb()
        database_mb = (database_mb_start[0], database_size_mb(url))
        lost, acknowledged = find_lost_writes(url, traffic)
        plans = stored_plans(url)
    finally:
        server.stop()
    return LoadResult(
        config=config,
        database=database,
        chargers=chargers,
        records=traffic.records,
        run_started=started,
        run_ended=ended,
        rss_mb=rss,
        worker_rss_mb=(0.0, workers_mb),
        database_mb=database_mb,
        plans=plans,
        events=traffic.ledger.events,
        lost=lost,
        acknowledged=acknowledged,
        health=health,
        harness_cpu_s=harness_cpu_s,
        server_cpu_s=server_cpu_s,
    )


def _make_keys(url: str, tenants: list[str]) -> dict[str, dict[str, str]]:
    """Per tenant: a manage key (sites), an ingest key (the CSMS), a read key (dashboards)."""
    database = open_database(url)
    try:
        return {
            tenant: {r: create_key(database, tenant, f"load-{r}", role=r) for r in ROLES_USED}
            for tenant in tenants
        }
    finally:
        database.dispose()


ROLES_USED = ("manage", "ingest", "read")


async def _settled(base: str, health: list[tuple[float, dict[str, Any]]], since: float) -> None:
    """Until no re-plan is pending or solving for 3 s (SETTLE_TIMEOUT_S at most)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    quiet_since = None
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                state = (await client.get("/healthz")).json()
            except httpx.HTTPError:
                state = {}
            health.append((time.time() - since, state))
            busy = state.get("replans_pending", 1) or state.get("solves_in_flight", 1)
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 3:
                return
            await asyncio.sleep(0.5)


def stored_plans(url: str) -> list[tuple[str, int, float, float]]:
    engine = create_engine(normalise_url(url))
    query = select(SiteRow.site_id, Schedule.version, Schedule.started_at, Schedule.finished_at)
    query = query.join(SiteRow, SiteRow.pk == Schedule.site_pk)
    try:
        with engine.connect() as connection:
            return [
                (site, version, _epoch(started), _epoch(finished))
                for site, version, started, finished in connection.execute(query)
            ]
    finally:
        engine.dispose()


def _epoch(moment: Any) -> float:
    from datetime import UTC

    return moment.replace(tzinfo=UTC).timestamp() if moment.tzinfo is None else moment.timestamp()


def find_lost_writes(url: str, traffic: Traffic) -> tuple[list[str], dict[str, int]]:
    """Every acknowledged write that is not in the database, as one line each."""
    ledger = traffic.ledger
    engine = create_engine(normalise_url(url))
    lost: list[str] = []
    try:
        with engine.connect() as connection:
            sites = {row.site_id for row in connection.execute(select(SiteRow.site_id))}
            sessions = {
                (row.site_id, row.session_id): row
                for row in connection.execute(
                    select(
                        SiteRow.site_id,
                        SessionRow.session_id,
                        SessionRow.transaction_id,
                        SessionRow.departure,
                        SessionRow.ended_at,
                        SessionRow.energy_delivered_kwh,
                    ).join(SiteRow, SiteRow.pk == SessionRow.site_pk)
                )
            }
            measured = {
                (row.site_id, _epoch(row.time_utc))
                for row in connection.execute(
                    select(SiteRow.site_id, Measurement.time_utc).join(
                        SiteRow, SiteRow.pk == Measurement.site_pk
                    )
                )
            }
    finally:
        engine.dispose()
    lost += [f"site {s}" for s in ledger.sites - sites]
    lost += [f"arrival {s}/{i}" for s, i in ledger.arrived if (s, i) not in sessions]
    lost += [
        f"departure {s}/{i}"
        for s, i in ledger.departed
        if (s, i) in sessions and sessions[(s, i)].ended_at is None
    ]
    lost += [
        f"transaction {s}/{i}"
        for (s, i), tx in ledger.transactions.items()
        if (s, i) not in sessions or sessions[(s, i)].transaction_id != tx
    ]
    lost += [
        f"departure change {s}/{i}"
        for (s, i), departure in ledger.departures.items()
        if (s, i) not in sessions
        or abs(_epoch(sessions[(s, i)].departure) - _iso_epoch(departure)) > 1e-3
    ]
    lost += [
        f"meter value {s}/{i} {kwh}"
        for (s, i), kwh in ledger.delivered_kwh.items()
        if (s, i) not in sessions or sessions[(s, i)].energy_delivered_kwh < kwh - 1e-9
    ]
    lost += [
        f"measurement {s} {t}" for s, t in ledger.measurements if (s, _iso_epoch(t)) not in measured
    ]
    acknowledged = {
        "sites": len(ledger.sites),
        "arrivals": len(ledger.arrived),
        "departures": len(ledger.departed),
        "transactions": len(ledger.transactions),
        "departure changes": len(ledger.departures),
        "meter values (last per session)": len(ledger.delivered_kwh),
        "measurements": len(ledger.measurements),
    }
    return lost, acknowledged


def _iso_epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


# ---- the report ---------------------------------------------------------------------------


def event_to_profiles_s(result: LoadResult, kind: str | None = None) -> tuple[np.ndarray, int]:
    """Per event (of `kind`) acknowledged during the run: seconds from sending it to the end of
    the first plan that started after its acknowledgement (so holds it); and how many had
    none."""
    by_site: dict[str, list[tuple[float, float]]] = {}
    for site, _, started, finished in result.plans:
        by_site.setdefault(site, []).append((started, finished))
    for plans in by_site.values():
        plans.sort()
    delays, unanswered = [], 0
    for site, acknowledged, sent, what in result.events:
        if not result.run_started <= sent <= result.run_ended or kind not in (None, what):
            continue
        answer = next((f for s, f in by_site.get(site, []) if s >= acknowledged), None)
        if answer is None:
            unanswered += 1
        else:
            delays.append(answer - sent)
    return np.array(delays), unanswered


def report(result: LoadResult) -> str:
    config = result.config
    records = result.run_records()
    seconds = max(result.run_ended - result.run_started, 1e-9)
    writes = [r for r in records if r.method in WRITE_METHODS and not r.route.endswith("what-if")]
    lines = [
        f"## {config.sites} sites ({result.chargers} chargers), {result.database}, "
        f"{seconds / 60:.1f} min, session events x{config.speed:g}, meter values every "
        f"{config.meter_period_s:g} s" + ("" if config.mix else " (meter values only)"),
        "",
        f"{len(records)} requests in {seconds:.0f} s: {len(records) / seconds:.1f}/s "
        f"(writes {len(writes) / seconds:.1f}/s); writes p50 {_ms(writes, 50)} ms, "
        f"p95 {_ms(writes, 95)} ms, p99 {_ms(writes, 99)} ms",
        "",
        "| endpoint | requests | per s | p50 ms | p95 ms | p99 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    by_endpoint: dict[str, list[Record]] = {}
    for record in records:
        by_endpoint.setdefault(f"{record.method} {record.route}", []).append(record)
    for endpoint, group in sorted(by_endpoint.items(), key=lambda item: -len(item[1])):
        statuses = Counter(r.status for r in group)
        lines.append(
            f"| `{endpoint}` | {len(group)} | {len(group) / seconds:.1f} | {_ms(group, 50)} "
            f"| {_ms(group, 95)} | {_ms(group, 99)} | {_ms(group, 100)} "
            f"| {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))} |"
        )
    errors = Counter(r.error or r.status for r in records if r.status >= 400 or r.status == 0)
    server_errors = sum(1 for r in records if r.status >= 500 and r.status != 503)
    lines += [
        "",
        f"errors by status: {dict(sorted(errors.items(), key=str)) or 'none'} "
        f"(5xx other than 503: {server_errors})",
    ]
    queued_p99_s = float(np.percentile([r.queued_s for r in records] or [0.0], 99))
    lines.append(
        f"the harness's own queue before a request is sent: p99 {1000 * queued_p99_s:.0f} ms"
        + (" (the harness held requests back: more connections)" if queued_p99_s > 0.05 else "")
        + f"; its CPU {result.harness_cpu_s:.0f} s in all"
    )
    in_run = [p for p in result.plans if result.run_started <= p[2] <= result.run_ended]
    per_site_hour = len(in_run) / max(config.sites, 1) / (seconds / 3600)
    delays, unanswered = event_to_profiles_s(result)
    lines.append(f"re-plans: {len(in_run)} during the run, {per_site_hour:.1f} per site per hour")
    if len(delays):
        lines.append(
            f"event -> new profiles: {len(delays)} events, p50 {np.percentile(delays, 50):.2f} s, "
            f"p99 {np.percentile(delays, 99):.2f} s, max {delays.max():.2f} s; "
            f"{unanswered} never planned"
        )
        for kind in sorted({e[3] for e in result.events}):
            some, _ = event_to_profiles_s(result, kind)
            if len(some):
                lines.append(
                    f"  {kind}: {len(some)}, p50 {np.percentile(some, 50):.2f} s, "
                    f"p99 {np.percentile(some, 99):.2f} s"
                )
    rss = result.rss_mb
    half = min(rss, key=lambda sample: abs(sample[0] - seconds / 2))
    growth = 100 * (rss[-1][1] - half[1]) / half[1]
    lines.append(
        f"server RSS: {rss[0][1]:.0f} MB at the start, {half[1]:.0f} MB half-way, "
        f"{rss[-1][1]:.0f} MB at the end ({growth:+.1f} % over the second half); "
        f"solver workers {result.worker_rss_mb[1]:.0f} MB at the end"
    )
    lines.append(
        f"API process CPU: {result.server_cpu_s:.0f} s for the run and its last re-plans, "
        f"{1000 * result.server_cpu_s / max(len(records), 1):.1f} ms a request"
    )
    lines.append(
        f"database: {result.database_mb[0]:.1f} MB before the run, "
        f"{result.database_mb[1]:.1f} MB after"
    )
    acknowledged = ", ".join(f"{name} {n}" for name, n in result.acknowledged.items())
    lines.append(
        f"lost writes: {len(result.lost) or 'none'} of those acknowledged ({acknowledged})"
        + (f": {result.lost[:5]}" if result.lost else "")
    )
    return "\n".join(lines)


def _ms(records: list[Record], percentile: float) -> str:
    answered = [r.latency_s for r in records if r.status]
    return f"{1000 * np.percentile(answered, percentile):.0f}" if answered else "-"


# ---- a database that goes away --------------------------------------------------------------


@contextmanager
def outage_during_run(
    cluster: PostgresCluster, at_s: float, outage_s: float
) -> Iterator[tuple[Tick, dict[str, float]]]:
    """An `on_tick` that stops the cluster at `at_s` into the run and starts it `outage_s`
    later; the wall times it did so land in the dict."""
    times: dict[str, float] = {}

    async def tick(elapsed_s: float, _: ServerProcess) -> None:
        if elapsed_s >= at_s and "stopped" not in times:
            await asyncio.to_thread(cluster.stop)
            times["stopped"] = time.time()
        elif "started" not in times and time.time() - times.get("stopped", 1e18) >= outage_s:
            await asyncio.to_thread(cluster.start)
            times["started"] = time.time()

    yield tick, times


def outage_report(result: LoadResult, times: dict[str, float], timeout_s: float) -> str:
    stopped, started = times["stopped"], times["started"]
    during = [r for r in result.records if stopped <= r.sent_at <= started]
    statuses = Counter(r.status for r in during)
    with_retry_after = sum(1 for r in during if r.status == 503 and r.retry_after)
    slowest = max((r.latency_s for r in during), default=0.0)
    back = [
        min(p[2] for p in result.plans if p[0] == site and p[2] >= started) - started
        for site in {p[0] for p in result.plans}
        if any(p[0] == site and p[2] >= started for p in result.plans)
    ]
    sites = len({p[0] for p in result.plans})
    lines = [
        f"outage: PostgreSQL stopped for {started - stopped:.0f} s "
        f"({during and len(during)} requests meanwhile: {dict(sorted(statuses.items()))}; "
        f"503 with Retry-After: {with_retry_after}; slowest answer {slowest:.2f} s, "
        f"SMARTCHARGE_REQUEST_TIMEOUT_S {timeout_s:g} s)",
        f"after it: {len(back)} of {sites} sites re-planned, the last "
        f"{max(back, default=float('nan')):.1f} s after the database was back",
    ]
    down = [t for t, state in result.health if state.get("database", {}).get("state") == "down"]
    if down:
        lines.append(f"/healthz reported the database down in {len(down)} samples")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("SMARTCHARGE_TEST_POSTGRES_URL"))
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--chargers", default="20-120", help="each site's, from-to")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=1.0, help="session events this x faster")
    parser.add_argument("--what-ifs-per-minute", type=float, default=2.0)
    parser.add_argument(
        "--meter-period-s", type=float, default=60.0, help="each session's meter value this often"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outage-s", type=float, help="stop an own PostgreSQL this long")
    parser.add_argument(
        "--meter-only",
        action="store_true",
        help="meter values alone (no session events, polls, what-ifs): the write capacity",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    low, high = (int(v) for v in args.chargers.split("-"))
    config = LoadConfig(
        sites=args.sites,
        chargers=(low, high),
        duration_s=60 * args.minutes,
        speed=args.speed,
        what_ifs_per_minute=args.what_ifs_per_minute,
        meter_period_s=args.meter_period_s,
        seed=args.seed,
        mix=not args.meter_only,
    )
    started_load = os.getloadavg()
    if args.outage_s:
        timeout_s = 10.0
        env = {"SMARTCHARGE_REQUEST_TIMEOUT_S": str(timeout_s)}
        with (
            PostgresCluster.started() as cluster,
            outage_during_run(cluster, config.duration_s / 3, args.outage_s) as (tick, times),
        ):
            result = run_load(config, "postgresql", cluster.url, server_env=env, on_tick=tick)
        text = report(result) + "\n" + outage_report(result, times, timeout_s)
    else:
        result = run_load(config, args.db, args.postgres_url)
        text = report(result)
    ended_load = os.getloadavg()
    print(text)
    print(
        f"machine: {os.cpu_count()} cores, load average {started_load[0]:.1f} at the start, "
        f"{ended_load[0]:.1f} / {ended_load[1]:.1f} / {ended_load[2]:.1f} (1/5/15 min) at the end"
    )
    if args.json:
        figures = {k: v for k, v in asdict(result).items() if k not in ("records", "events")}
        args.json.write_text(json.dumps(figures, default=str, indent=1))
    return 1 if result.lost else 0


if __name__ == "__main__":
    sys.exit(main())
