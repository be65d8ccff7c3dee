"""The traffic of the load harness: sites with their sessions, and the clients a CPO's backend
runs against the service (`benchmarks.load` starts the service, runs this and reports).

Each site follows one day of sessions from the ElaadNL-derived generator (`smartcharge sessions
generate`'s `generate_sessions`), from the busy hour of its kind on (workplaces at 10:00, public
sites at 13:00, depots at 21:00), its session events `speed` times faster than real time:
- the CSMS posts each arrival (without its transaction), PATCHes the transaction id when the
  charger starts it a few seconds later, PATCHes a departure a tenth of drivers change, and
  DELETEs each session when the EV leaves;
- meter values every minute: each live session's metered energy (a PATCH of
  `energy_delivered_kwh`) and the site's grid meter (`POST …/measurements`);
- the CSMS polls `profiles?since=` for what to push; a dashboard polls the schedule with its
  ETag; an energy manager now and then asks a what-if.
A refused write (503, 429 with Retry-After, no answer) is sent again after Retry-After, as a CSMS
would; every write answered 2xx goes into the ledger, and nothing in it may be missing after.

`METER_CHANNELS` holds how meter values reach the service; a per-session meter endpoint
(`POST …/sessions/{sid}/meter`) joins the mix as one more channel.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from benchmarks.generator import KIND_OF_SITE, generate_problem
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.sessions_generator import generate_sessions

KINDS = ("workplace", "public", "depot")
BUSY_HOUR = {"workplace": 10, "public": 13, "depot": 21}
# A weekday of the generator's data; only local clock times matter.
SCENARIO_DAY = datetime(2024, 11, 12)
DEPARTURE_CHANGE_SHARE = 0.1
TRANSACTION_DELAY_S = (3.0, 15.0)
RETRY_STATUSES = frozenset({429, 503})
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})


@dataclass
class LoadConfig:
    sites: int = 200
    chargers: tuple[int, int] = (20, 120)
    duration_s: float = 600.0
    speed: float = 1.0
    meter_period_s: float = 60.0
    profiles_poll_s: float = 30.0
    schedule_poll_s: float = 60.0
    what_ifs_per_minute: float = 2.0
    sites_per_tenant: int = 20
    # httpx spends ~2 ms of CPU a request with 16 connections and ~5 ms with 100: more would
    # make the harness, not the service, the bottleneck.
    connections: int = 16
    request_timeout_s: float = 30.0
    seed: int = 1
    # False: meter values only (no session events, polls or what-ifs): the write capacity.
    mix: bool = True


@dataclass
class Event:
    at_s: float  # seconds after the run's start
    action: str  # arrive, transaction, change_departure, depart
    session: dict[str, Any]


@dataclass
class SiteScenario:
    site_id: str
    tenant: str
    kind: str
    document: dict[str, Any]
    initial: list[dict[str, Any]]  # sessions plugged in when the run starts
    events: list[Event]


def site_document(problem: dict[str, Any], site_id: str) -> dict[str, Any]:
    """What a CPO stores for a generated site: its limits and chargers, a time-of-use tariff,
    base load and PV forecast from the site's own meter (null)."""
    site = {**problem["site"], "id": site_id}
    return {
        "site": site,
        "tariff": {
            "currency": "EUR",
            "import_price_per_kwh": 0.24,
            "export_price_per_kwh": 0.05,
            "time_of_use": [
                {"days": "mon-fri", "from": "07:00", "to": "23:00", "import_per_kwh": 0.31}
            ],
            "demand_charge_per_kw": 6.0,
        },
        "horizon": {"step_minutes": 15, "slots": 96},
        "options": {"time_limit_s": 10, "mip_gap": 0.005},
        "base_load_kw": None,
        "pv_kw": None if site.get("pv") else 0.0,
    }


def build_scenarios(config: LoadConfig) -> list[SiteScenario]:
    rng = np.random.default_rng(config.seed)
    scenarios = []
    for i in range(config.sites):
        kind = KINDS[i % len(KINDS)]
        chargers = int(rng.integers(config.chargers[0], config.chargers[1] + 1))
        pv_kwp = float(rng.choice([0.0, 0.0, 0.3 * chargers * 11]))
        problem = generate_problem(
            chargers, seed=config.seed * 10_000 + i, kind=kind, pv_kwp=pv_kwp
        )
        site_id = f"{kind}-{i:03d}"
        document = site_document(problem, site_id)
        tz = ZoneInfo(document["site"]["timezone"])
        day_start = SCENARIO_DAY.replace(tzinfo=tz)
        site = parse_problem(
            {**document, "horizon": {"start": day_start.isoformat(), "slots": 96}, "sessions": []}
        )
        sessions = generate_sessions(site, KIND_OF_SITE[kind], days=2, seed=config.seed * 7 + i)
        start = day_start + timedelta(days=1, hours=BUSY_HOUR[kind])
        initial, events = _timeline(sessions, start, config, random.Random(i))
        tenant = f"cpo-{i // config.sites_per_tenant:02d}"
        scenarios.append(SiteScenario(site_id, tenant, kind, document, initial, events))
    return scenarios


def _timeline(
    sessions: list[dict[str, Any]], start: datetime, config: LoadConfig, rng: random.Random
) -> tuple[list[dict[str, Any]], list[Event]]:
    """Sessions plugged in at `start`, and what happens to the site during the run."""
    initial, events = [], []

    def offset_s(moment: datetime) -> float:
        return (moment - start).total_seconds() / config.speed

    for k, session in enumerate(sessions):
        arrival = datetime.fromisoformat(session["arrival"])
        departure = datetime.fromisoformat(session["departure"])
        dwell = departure - arrival
        entry = {
            **session,
            "transaction_id": str(1000 + k),  # an integer: OCPP 1.6 chargers need one
            "dwell_s": dwell.total_seconds(),
            "arrival_offset_s": offset_s(arrival),
        }
        if arrival < start < departure:
            initial.append(entry)
        elif 0 <= offset_s(arrival) < config.duration_s:
            at = offset_s(arrival)
            events.append(Event(at, "arrive", entry))
            events.append(Event(at + rng.uniform(*TRANSACTION_DELAY_S), "transaction", entry))
            if rng.random() < DEPARTURE_CHANGE_SHARE:
                events.append(Event(at + offset_s(start + dwell / 4), "change_departure", entry))
        else:
            continue
        if 0 <= offset_s(departure) < config.duration_s:
            events.append(Event(offset_s(departure), "depart", entry))
    events.sort(key=lambda e: e.at_s)
    return initial, events


@dataclass
class Record:
    """One request: when it was sent (wall clock), its route, what came back, how long."""

    sent_at: float
    method: str
    route: str
    status: int  # 0: no answer (a timeout or a refused connection: `error` says which)
    latency_s: float
    retry_after: str | None = None
    phase: str = "run"
    error: str | None = None
    queued_s: float = 0.0  # waiting for one of the harness's connections before it was sent


@dataclass
class Ledger:
    """Every write the service acknowledged (2xx), to find after the run."""

    sites: set[str] = field(default_factory=set)
    arrived: set[tuple[str, str]] = field(default_factory=set)
    departed: set[tuple[str, str]] = field(default_factory=set)
    transactions: dict[tuple[str, str], str] = field(default_factory=dict)
    departures: dict[tuple[str, str], str] = field(default_factory=dict)
    delivered_kwh: dict[tuple[str, str], float] = field(default_factory=dict)
    measurements: set[tuple[str, str]] = field(default_factory=set)
    # (site, wall time the event was acknowledged, wall time it was sent, what it was)
    events: list[tuple[str, float, float, str]] = field(default_factory=list)


class Traffic:
    """The clients of one run; `run()` returns when the run's time is up."""

    def __init__(
        self,
        base: str,
        keys: dict[str, dict[str, str]],
        scenarios: list[SiteScenario],
        config: LoadConfig,
    ) -> None:
        self.base = base
        self.keys = keys
        self.scenarios = scenarios
        self.config = config
        self.records: list[Record] = []
        self.ledger = Ledger()
        self.versions: dict[str, int] = {}
        self.live: dict[str, dict[str, dict[str, Any]]] = {s.site_id: {} for s in scenarios}
        self.phase = "setup"
        self._stop_at = math.inf
        self._client: httpx.AsyncClient | None = None
        self._rng = random.Random(config.seed)
        self._pending: set[asyncio.Task] = set()
        self._slots: asyncio.Semaphore | None = None

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        """A request of its own: a slow answer holds up nothing else (kept until it is done)."""
        task = asyncio.ensure_future(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ---- requests -------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        route: str,
        path: str,
        key: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response | None:
        """The answer (None: none came); a 503/429/no answer to a write is retried after
        Retry-After until the run's time is up."""
        assert self._client is not None and self._slots is not None
        while True:
            due = time.perf_counter()
            # Our own queue in front of httpx's pool, whose waiting is costly with thousands
            # of requests in line: the harness must never be what is slow.
            async with self._slots:
                sent = time.time()
                started = time.perf_counter()
                error = None
                try:
                    response = await self._client.request(
                        method,
                        path,
                        json=json,
                        headers={"Authorization": f"Bearer {key}", **(headers or {})},
                    )
                except httpx.HTTPError as exc:
                    response, error = None, type(exc).__name__
                latency_s = time.perf_counter() - started
            status = 0 if response is None else response.status_code
            retry_after = None if response is None else response.headers.get("retry-after")
            self.records.append(
                Record(
                    sent, method, route, status, latency_s, retry_after, self.phase, error,
                    started - due,
                )
            )  # fmt: skip
            if not retry or method not in WRITE_METHODS:
                return response
            if response is not None and status not in RETRY_STATUSES:
                return response
            wait_s = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
            if time.time() + wait_s > self._stop_at:
                return response
            await asyncio.sleep(wait_s)

    # ---- set-up ---------------------------------------------------------------------------

    async def set_up(self, concurrency: int = 8) -> None:
        """Every site through the API, then its sessions plugged in at the start."""
        # Idle connections are closed well before uvicorn's own keep-alive of 5 s does it:
        # else a request sent on a connection the server closes that instant fails (ReadError).
        limits = httpx.Limits(max_connections=self.config.connections, keepalive_expiry=2.0)
        timeout = httpx.Timeout(self.config.request_timeout_s)
        self._client = httpx.AsyncClient(base_url=self.base, limits=limits, timeout=timeout)
        self._slots = asyncio.Semaphore(self.config.connections)
        gate = asyncio.Semaphore(concurrency)

        async def one(scenario: SiteScenario) -> None:
            async with gate:
                keys = self.keys[scenario.tenant]
                response = await self.call(
                    "POST", "/v1/sites", "/v1/sites", keys["manage"], scenario.document
                )
                if response is None or response.status_code != 201:
                    raise RuntimeError(f"site {scenario.site_id}: {_said(response)}")
                self.ledger.sites.add(scenario.site_id)
                for session in scenario.initial:
                    await self._arrive(scenario, session, transaction=True, event=False)

        await asyncio.gather(*(one(s) for s in self.scenarios))

    # ---- the run ----------------------------------------------------------------------------

    async def run(self, on_tick: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.phase = "run"
        started = time.time()
        self._stop_at = started + self.config.duration_s
        tasks = []
        for i, scenario in enumerate(self.scenarios):
            phase = i / max(len(self.scenarios), 1)
            tasks.append(asyncio.create_task(self._meters(scenario, phase)))
            if self.config.mix:
                tasks.append(asyncio.create_task(self._site_events(scenario, started)))
                tasks.append(asyncio.create_task(self._polls(scenario, phase)))
        if self.config.mix:
            tasks.append(asyncio.create_task(self._what_ifs()))
        while time.time() < self._stop_at:
            if on_tick is not None:
                await on_tick(time.time() - started)
            await asyncio.sleep(min(1.0, max(0.0, self._stop_at - time.time())))
        for task in [*tasks, *self._pending]:
            task.cancel()
        await asyncio.gather(*tasks, *self._pending, return_exceptions=True)
        self.phase = "after"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def _until(self, at: float) -> bool:
        """Sleep until wall time `at`; False when the run ends first."""
        if at >= self._stop_at:
            await asyncio.sleep(max(0.0, self._stop_at - time.time()))
            return False
        await asyncio.sleep(max(0.0, at - time.time()))
        return True

    async def _site_events(self, scenario: SiteScenario, started: float) -> None:
        for event in scenario.events:
            if not await self._until(started + event.at_s):
                return
            self._spawn(self._event(scenario, event))

    async def _event(self, scenario: SiteScenario, event: Event) -> None:
        session = event.session
        if event.action == "arrive":
            await self._arrive(scenario, session, transaction=False, event=True)
            return
        site, sid = scenario.site_id, session["id"]
        if (site, sid) not in self.ledger.arrived:
            return  # its arrival never went through: a CSMS would not know the session either
        key = self.keys[scenario.tenant]["ingest"]
        route = "/v1/sites/{site_id}/sessions/{session_id}"
        path = f"/v1/sites/{site}/sessions/{sid}"
        if event.action == "depart":
            sent = time.time()
            response = await self.call("DELETE", route, path, key)
            if response is not None and response.status_code in (204, 404):
                if response.status_code == 204:
                    self.ledger.events.append((site, time.time(), sent, "departure"))
                self.ledger.departed.add((site, sid))
                self.live[site].pop(sid, None)
            return
        if event.action == "transaction":
            body = {"transaction_id": session["transaction_id"]}
        else:
            live = self.live[site].get(sid)
            if live is None:
                return
            departure = datetime.fromisoformat(live["posted_departure"]) + timedelta(minutes=30)
            body = {"departure": departure.isoformat()}
        sent = time.time()
        response = await self.call("PATCH", route, path, key, body)
        if response is not None and response.status_code == 200:
            kind = "transaction" if "transaction_id" in body else "departure change"
            self.ledger.events.append((site, time.time(), sent, kind))
            if "transaction_id" in body:
                self.ledger.transactions[(site, sid)] = body["transaction_id"]
            else:
                self.ledger.departures[(site, sid)] = body["departure"]
                self.live[site][sid]["posted_departure"] = body["departure"]

    async def _arrive(
        self, scenario: SiteScenario, session: dict[str, Any], transaction: bool, event: bool
    ) -> None:
        now = datetime.now(UTC)
        arrival = now - timedelta(seconds=max(0.0, -session["arrival_offset_s"]))
        departure = arrival + timedelta(seconds=session["dwell_s"])
        body = {
            k: session[k]
            for k in ("id", "charger_id", "energy_kwh", "max_current_a", "max_power_kw", "phases")
            if session.get(k) is not None
        }
        body |= {"arrival": arrival.isoformat(), "departure": departure.isoformat()}
        site = scenario.site_id
        if transaction:
            body["transaction_id"] = session["transaction_id"]
        sent = time.time()
        route = "/v1/sites/{site_id}/sessions"
        response = await self.call(
            "POST", route, f"/v1/sites/{site}/sessions", self.keys[scenario.tenant]["ingest"], body
        )
        # 409 on a write sent again: the first attempt landed although its answer was lost.
        if response is None or response.status_code not in (202, 409):
            return
        self.ledger.arrived.add((site, session["id"]))
        if transaction:
            self.ledger.transactions[(site, session["id"])] = session["transaction_id"]
        if event and response.status_code == 202:
            self.ledger.events.append((site, time.time(), sent, "arrival"))
        power_kw = 0.8 * (
            session.get("max_power_kw")
            or session.get("max_current_a", 16.0) * (session.get("phases") or 3) * 0.23
        )
        # An EV plugged in before the run has charged for most of its time so far (and may
        # be full already): the set-up sends that as its first meter value.
        plugged_h = (now - arrival).total_seconds() / 3600
        live = {
            "energy_kwh": session["energy_kwh"],
            "delivered_kwh": 0.0,
            "power_kw": power_kw,
            "charged_kwh": min(
                session["energy_kwh"], power_kw * plugged_h * self._rng.uniform(0.4, 1.0)
            ),
            "charging_since": now,
            "posted_departure": departure.isoformat(),
        }
        self.live[site][session["id"]] = live
        if not event and live["charged_kwh"] > 0:
            for channel in METER_CHANNELS:
                await channel(self, scenario, session["id"], live)

    async def _meters(self, scenario: SiteScenario, phase: float) -> None:
        """Every meter period: each live session's energy (spread over the period), and the
        site's grid meter."""
        period_s = self.config.meter_period_s
        start = time.time() + phase * period_s
        round_ = 0
        while await self._until(start + round_ * period_s):
            sessions = list(self.live[scenario.site_id].items())
            for k, (sid, live) in enumerate(sessions):
                at = start + round_ * period_s + period_s * k / max(len(sessions), 1)
                self._spawn(self._meter_value(scenario, sid, live, at))
            self._spawn(self._site_meter(scenario, start + round_ * period_s))
            round_ += 1

    async def _meter_value(
        self, scenario: SiteScenario, sid: str, live: dict[str, Any], at: float
    ) -> None:
        if not await self._until(at):
            return
        for channel in METER_CHANNELS:
            await channel(self, scenario, sid, live)

    async def _site_meter(self, scenario: SiteScenario, at: float) -> None:
        stamp = datetime.fromtimestamp(at - at % self.config.meter_period_s, UTC)
        charging_kw = sum(
            s["power_kw"]
            for s in self.live[scenario.site_id].values()
            if s["delivered_kwh"] < s["energy_kwh"]
        )
        base_kw = round(5.0 + 0.1 * len(scenario.document["site"]["chargers"]), 2)
        body = {
            "measurements": [
                {
                    "time_utc": stamp.isoformat(),
                    "base_load_kw": base_kw,
                    "import_kw": round(base_kw + charging_kw, 2),
                }
            ]
        }
        site = scenario.site_id
        response = await self.call(
            "POST",
            "/v1/sites/{site_id}/measurements",
            f"/v1/sites/{site}/measurements",
            self.keys[scenario.tenant]["ingest"],
            body,
        )
        if response is not None and response.status_code == 200:
            self.ledger.measurements.add((site, stamp.isoformat()))

    async def _polls(self, scenario: SiteScenario, phase: float) -> None:
        """The CSMS's `profiles?since=` and a dashboard's schedule (with its ETag)."""
        site = scenario.site_id
        key = self.keys[scenario.tenant]["read"]
        etag: str | None = None
        next_profiles = time.time() + phase * self.config.profiles_poll_s
        next_schedule = time.time() + phase * self.config.schedule_poll_s
        while await self._until(min(next_profiles, next_schedule)):
            if time.time() >= next_profiles:
                next_profiles += self.config.profiles_poll_s
                since = self.versions.get(site)
                query = f"?since={since}" if since else ""
                response = await self.call(
                    "GET",
                    "/v1/sites/{site_id}/profiles",
                    f"/v1/sites/{site}/profiles{query}",
                    self.keys[scenario.tenant]["ingest"],
                )
                if response is not None and response.status_code == 200:
                    self.versions[site] = response.json()["version"]
            if time.time() >= next_schedule:
                next_schedule += self.config.schedule_poll_s
                response = await self.call(
                    "GET",
                    "/v1/sites/{site_id}/schedule",
                    f"/v1/sites/{site}/schedule",
                    key,
                    headers={"If-None-Match": etag} if etag else None,
                )
                if response is not None and response.status_code == 200:
                    etag = response.headers.get("etag")

    async def _what_ifs(self) -> None:
        if self.config.what_ifs_per_minute <= 0:
            return
        period_s = 60.0 / self.config.what_ifs_per_minute
        at = time.time() + period_s / 2
        while await self._until(at):
            at += period_s
            scenario = self._rng.choice(self.scenarios)
            limit_kw = scenario.document["site"]["grid"]["import_limit_kw"]
            body = {"site": {"grid": {"import_limit_kw": round(0.8 * limit_kw, 1)}}}
            self._spawn(
                self.call(
                    "POST",
                    "/v1/sites/{site_id}/what-if",
                    f"/v1/sites/{scenario.site_id}/what-if",
                    self.keys[scenario.tenant]["read"],
                    body,
                    retry=False,
                )
            )


async def meter_by_session_patch(
    traffic: Traffic, scenario: SiteScenario, sid: str, live: dict[str, Any]
) -> None:
    """Today's channel: the session's metered energy as `PATCH …/sessions/{sid}`."""
    elapsed_h = (datetime.now(UTC) - live["charging_since"]).total_seconds() / 3600
    charged_kwh = live["charged_kwh"] + live["power_kw"] * elapsed_h
    delivered = round(min(live["energy_kwh"], charged_kwh), 3)
    site = scenario.site_id
    sent = time.time()
    response = await traffic.call(
        "PATCH",
        "/v1/sites/{site_id}/sessions/{session_id}",
        f"/v1/sites/{site}/sessions/{sid}",
        traffic.keys[scenario.tenant]["ingest"],
        {"energy_delivered_kwh": delivered},
        retry=False,  # the next meter value supersedes it
    )
    if response is not None and response.status_code == 200:
        live["delivered_kwh"] = delivered
        key = (site, sid)
        traffic.ledger.delivered_kwh[key] = max(traffic.ledger.delivered_kwh.get(key, 0), delivered)
        if response.json().get("replan") == "scheduled":
            traffic.ledger.events.append((site, time.time(), sent, "energy met"))


METER_CHANNELS: list[Callable[[Traffic, SiteScenario, str, dict[str, Any]], Awaitable[None]]]
METER_CHANNELS = [meter_by_session_patch]


def _said(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    return f"{response.status_code} {response.text[:300]}"
