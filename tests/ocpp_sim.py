"""A charge point simulator (OCPP 1.6J, 2.0.1, 2.1) and a small CSMS, for real OCPP round trips.

Both sides are the `ocpp` package's `ChargePoint` classes over `websockets` on loopback, so
every request and response is checked against the official JSON schemas on the way out and on
the way in, exactly as between a real CSMS and a real charger:

- `Csms` is the central system: a websockets server that accepts chargers on `/<charger id>`
  with subprotocol `ocpp1.6`, `ocpp2.0.1` or `ocpp2.1`, answers BootNotification,
  StartTransaction (1.6: the CSMS assigns the transaction id) and TransactionEvent (2.0.1 and
  2.1: the charger does), and hands out its side of each connection for
  `set_charging_profile` / `get_composite_schedule`.
- `Simulator16` / `Simulator201` / `Simulator21` are the chargers: they connect to the CSMS (as
  real chargers do), store the charging profiles they accept, drop them on
  `ClearChargingProfile`, start and stop transactions and compute `GetCompositeSchedule` from
  their profiles.

The simulator's smart-charging model (OCPP 1.6 §3.13, 2.0.1 K01/K08), small on purpose:
- only `Absolute` profiles of purpose `TxProfile` / `TxDefaultProfile` are accepted;
- a profile with the same id replaces the stored one; in 1.6 so does one with the same
  stackLevel and purpose on the same connector, 2.0.1 rejects that (a different id);
- a `TxProfile` needs a transaction running on its connector/EVSE (and its `transactionId`),
  and is deleted when that transaction stops (1.6 §3.13.4 "SHOULD be deleted");
- `ClearChargingProfile` removes the profile with the id given, or every profile matching the
  criteria given (all of them without any);
- at each moment the active `TxProfile` of highest stackLevel rules, else the active
  `TxDefaultProfile` of highest stackLevel, else the charger's own maximum; a profile is active
  from its `startSchedule` for its `duration` (forever without one);
- limits are converted between A and W at the nominal voltage and the period's `numberPhases`
  (3 if absent), floored to 0.1;
- OCPP 2.1 periods keep their `operationMode`, `setpoint` and `dischargeLimit`, and the
  composite schedule reports them (a V2G plan reads back with its negative set-points); a
  set-point or discharge limit is never converted between units (bidirectional plans are in W).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from ocpp import v16, v21, v201
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
TX_PROFILE = "TxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
NOMINAL_VOLTAGE_V = Decimal(230)
TENTH = Decimal("0.1")

# --- profiles and the composite schedule (no network) ---------------------------------------


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exact(number: Any) -> Decimal:
    """A wire number as an exact decimal (21.4 -> Decimal('21.4'), not its binary float)."""
    return number if isinstance(number, Decimal) else Decimal(str(number))


def wire_number(value: Decimal) -> int | float:
    """A decimal as sent: an int where whole, else a float (json cannot encode Decimal)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class Period:
    start_s: int  # offset from the schedule's start
    limit: Decimal | None  # None: a 2.1 period without one
    phases: int | None
    mode: str | None = None  # OCPP 2.1 operationMode (None: ChargingOnly)
    setpoint: Decimal | None = None
    discharge_limit: Decimal | None = None

    def effect(self) -> tuple[Any, ...]:
        return (self.limit, self.phases, self.mode, self.setpoint, self.discharge_limit)


def period_from_wire(period: dict[str, Any]) -> Period:
    """A snake_case period of any version, its numbers as exact decimals."""

    def number(key: str) -> Decimal | None:
        return None if period.get(key) is None else exact(period[key])

    return Period(
        int(period["start_period"]),
        number("limit"),
        period.get("number_phases"),
        period.get("operation_mode"),
        number("setpoint"),
        number("discharge_limit"),
    )


@dataclass(frozen=True)
class StoredProfile:
    """One accepted charging profile, version-neutral."""

    id: int
    target: int  # connector (1.6) or EVSE (2.0.1); 0 = the whole charger
    stack_level: int
    purpose: str
    kind: str
    transaction_id: str | None
    start: datetime | None
    duration_s: int | None
    unit: str
    periods: tuple[Period, ...]

    def active_at(self, moment: datetime) -> bool:
        if self.start is None or moment < self.start:
            return False
        return self.duration_s is None or moment < self.start + timedelta(seconds=self.duration_s)

    def period_at(self, moment: datetime) -> Period:
        assert self.start is not None
        offset = (moment - self.start).total_seconds()
        return [p for p in self.periods if p.start_s <= offset][-1]

    def changes(self) -> Iterable[datetime]:
        """The moments at which this profile's limit may change."""
        if self.start is None:
            return
        for period in self.periods:
            yield self.start + timedelta(seconds=period.start_s)
        if self.duration_s is not None:
            yield self.start + timedelta(seconds=self.duration_s)


def profile_from_wire(target: int, profile: dict[str, Any]) -> StoredProfile:
    """A stored profile from a snake_case 1.6 `csChargingProfiles` or 2.0.1 `chargingProfile`."""
    schedule = profile["charging_schedule"]
    if isinstance(schedule, list):  # 2.0.1: one to three schedules; we use the first
        schedule = schedule[0]
    start = schedule.get("start_schedule")
    transaction_id = profile.get("transaction_id")
    return StoredProfile(
        id=int(
            profile["charging_profile_id"] if "charging_profile_id" in profile else profile["id"]
        ),
        target=target,
        stack_level=int(profile["stack_level"]),
        purpose=str(profile["charging_profile_purpose"]),
        kind=str(profile["charging_profile_kind"]),
        transaction_id=None if transaction_id is None else str(transaction_id),
        start=None if start is None else parse_time(start),
        duration_s=schedule.get("duration"),
        unit=str(schedule["charging_rate_unit"]),
        periods=tuple(map(period_from_wire, schedule["charging_schedule_period"])),
    )


def convert_limit(
    limit: Decimal | None, unit: str, wanted: str, phases: int | None
) -> Decimal | None:
    """A limit in another rate unit at the nominal voltage, floored to 0.1."""
    if unit == wanted or limit is None:
        return limit
    factor = NOMINAL_VOLTAGE_V * (phases or 3)
    value = limit * factor if wanted == "W" else limit / factor
    return value.quantize(TENTH, rounding=ROUND_FLOOR)


def ruling_profile(profiles: Iterable[StoredProfile], moment: datetime) -> StoredProfile | None:
    """The TxProfile of highest stackLevel active at `moment`, else such a TxDefaultProfile."""
    profiles = list(profiles)
    for purpose in (TX_PROFILE, TX_DEFAULT_PROFILE):
        active = [p for p in profiles if p.purpose == purpose and p.active_at(moment)]
        if active:
            return max(active, key=lambda p: p.stack_level)
    return None


def composite_schedule(
    profiles: Iterable[StoredProfile],
    target: int,
    start: datetime,
    duration_s: int,
    unit: str,
    max_limit: Callable[[str], Decimal],
) -> list[Period]:
    """The limit in force from `start` for `duration_s` on `target`, as merged periods."""
    relevant = [p for p in profiles if p.target in (0, target)]
    offsets = {0} | {
        int((change - start).total_seconds()) for p in relevant for change in p.changes()
    }
    periods: list[Period] = []
    for offset in sorted(o for o in offsets if 0 <= o < duration_s):
        moment = start + timedelta(seconds=offset)
        ruling = ruling_profile(relevant, moment)
        if ruling is None:
            period = Period(offset, max_limit(unit), None)
        else:
            own = ruling.period_at(moment)
            limit = convert_limit(own.limit, ruling.unit, unit, own.phases)
            period = Period(offset, limit, own.phases, own.mode, own.setpoint, own.discharge_limit)
        if not periods or periods[-1].effect() != period.effect():
            periods.append(period)
    return periods


# --- the charge point simulator --------------------------------------------------------------


@dataclass
class ChargerState:
    """What a simulated charger knows: its profiles, transactions, clock and maximum."""

    max_current_a: Decimal = Decimal(32)
    phases: int = 3
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    profiles: dict[int, StoredProfile] = field(default_factory=dict)
    transactions: dict[int, str] = field(default_factory=dict)  # target -> transaction id
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # raw CSMS calls

    def max_limit(self, unit: str) -> Decimal:
        return convert_limit(self.max_current_a, "A", unit, self.phases)

    def install(self, target: int, wire_profile: dict[str, Any], version: str) -> str | None:
        """Store a profile; None when accepted, else why it is rejected."""
        profile = profile_from_wire(target, wire_profile)
        if profile.kind != "Absolute":
            return "only Absolute profiles are simulated"
        if profile.purpose not in (TX_PROFILE, TX_DEFAULT_PROFILE):
            return f"purpose {profile.purpose} is not simulated"
        if profile.purpose == TX_PROFILE:
            running = self.transactions.get(target)
            if target == 0 or running is None:
                return "a TxProfile needs a running transaction on its connector/EVSE"
            if profile.transaction_id not in (None, running):
                return f"transaction {profile.transaction_id} is not running (it is {running})"
        same_role = [
            other.id
            for other in self.profiles.values()
            if other.id != profile.id
            and (other.target, other.stack_level, other.purpose)
            == (profile.target, profile.stack_level, profile.purpose)
        ]
        if same_role and version != "1.6":
            return "another profile id has this stackLevel and purpose"
        for other_id in same_role:  # 1.6: the same stackLevel and purpose replace
            del self.profiles[other_id]
        self.profiles[profile.id] = profile
        return None

    def clear(
        self,
        profile_id: int | None = None,
        target: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Drop the profile `profile_id`, else those matching every criterion; any dropped?"""
        if profile_id is not None:
            return self.profiles.pop(profile_id, None) is not None
        criteria = {"target": target, "purpose": purpose, "stack_level": stack_level}
        matching = [
            p.id
            for p in self.profiles.values()
            if all(want is None or getattr(p, name) == want for name, want in criteria.items())
        ]
        for pid in matching:
            del self.profiles[pid]
        return bool(matching)

    def end_transaction(self, target: int) -> str:
        """The transaction on `target` stops; its TxProfiles go with it."""
        transaction_id = self.transactions.pop(target)
        self.profiles = {
            pid: p
            for pid, p in self.profiles.items()
            if not (p.purpose == TX_PROFILE and p.target == target)
        }
        return transaction_id

    def composite(self, target: int, duration_s: int, unit: str | None) -> tuple[str, list[Period]]:
        now = self.clock()
        if unit is None:
            ruling = ruling_profile(self.profiles.values(), now)
            unit = ruling.unit if ruling is not None else "A"
        periods = composite_schedule(
            self.profiles.values(), target, now, duration_s, unit, self.max_limit
        )
        return unit, periods


def install_message(state: ChargerState, message: dict[str, Any]) -> str | None:
    """An emitted answer message installed without the network (as its charger would store it);
    None when accepted, else why not."""
    payload = camel_to_snake_case(message["payload"])
    if "cs_charging_profiles" in payload:
        return state.install(payload["connector_id"], payload["cs_charging_profiles"], "1.6")
    return state.install(payload["evse_id"], payload["charging_profile"], message["ocpp_version"])


def _wire_periods(periods: list[Period]) -> list[dict[str, Any]]:
    """Composite periods as sent: 2.1 fields only where a period has them (None is dropped)."""
    wire = []
    for p in periods:
        numbers = {"limit": p.limit, "setpoint": p.setpoint, "discharge_limit": p.discharge_limit}
        wire.append(
            {
                "start_period": p.start_s,
                **{k: wire_number(v) for k, v in numbers.items() if v is not None},
                "number_phases": p.phases,
                "operation_mode": p.mode,
            }
        )
    return wire


class _Recording:
    """Keeps every CALL the CSMS sends, as it arrived on the wire, before the package routes it."""

    state: ChargerState

    async def route_message(self, raw_msg: str) -> None:
        with contextlib.suppress(ValueError, TypeError, IndexError):
            message = json.loads(raw_msg)
            if message[0] == 2:
                self.state.received.append((message[2], message[3]))
        await super().route_message(raw_msg)  # type: ignore[misc]


class Simulator16(_Recording, v16.ChargePoint):
    """An OCPP 1.6J charge point."""

    version = "1.6"

    def __init__(self, charger_id: str, connection: Any, state: ChargerState) -> None:
        super().__init__(charger_id, connection, response_timeout=5)
        self.state = state

    async def boot(self) -> None:
        await self.call(
            call16.BootNotification(charge_point_model="Sim-16", charge_point_vendor="smartcharge"),
            suppress=False,
        )

    async def start_transaction(self, connector_id: int, transaction_id: str | None = None) -> str:
        """StartTransaction.req; the CSMS assigns the id (`transaction_id` is ignored in 1.6)."""
        result = await self.call(
            call16.StartTransaction(
                connector_id=connector_id,
                id_tag="SIM-TAG",
                meter_start=0,
                timestamp=wire_time(self.state.clock()),
            ),
            suppress=False,
        )
        self.state.transactions[connector_id] = str(result.transaction_id)
        return str(result.transaction_id)

    async def stop_transaction(self, connector_id: int) -> None:
        transaction_id = self.state.end_transaction(connector_id)
        await self.call(
            call16.StopTransaction(
                meter_stop=0,
                timestamp=wire_time(self.state.clock()),
                transaction_id=int(transaction_id),
            ),
            suppress=False,
        )

    @on(Action16.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,  # the 1.6 field name
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> result16.ClearChargingProfile:
        found = self.state.clear(id, connector_id, charging_profile_purpose, stack_level)
        return result16.ClearChargingProfile(status="Accepted" if found else "Unknown")

    @on(Action16.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> result16.SetChargingProfile:
        refused = self.state.install(connector_id, cs_charging_profiles, self.version)
        return result16.SetChargingProfile(status="Accepted" if refused is None else "Rejected")

    @on(Action16.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> result16.GetCompositeSchedule:
        unit, periods = self.state.composite(connector_id, duration, charging_rate_unit)
        start = wire_time(self.state.clock())
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=start,
            charging_schedule={
                "duration": duration,
                "start_schedule": start,
                "charging_rate_unit": unit,
                "charging_schedule_period": _wire_periods(periods),
            },
        )


class _Simulator2x(_Recording):
    """An OCPP 2.0.1 or 2.1 charging station: the two share these messages' shapes; each
    subclass names its version's request and response classes."""

    version: str
    calls: Any
    results: Any

    def __init__(self, charger_id: str, connection: Any, state: ChargerState) -> None:
        super().__init__(charger_id, connection, response_timeout=5)  # type: ignore[call-arg]
        self.state = state

    async def boot(self) -> None:
        await self.call(  # type: ignore[attr-defined]
            self.calls.BootNotification(
                charging_station={"model": f"Sim-{self.version}", "vendor_name": "smartcharge"},
                reason="PowerUp",
            ),
            suppress=False,
        )

    async def start_transaction(self, evse_id: int, transaction_id: str | None = None) -> str:
        """TransactionEvent(Started); in 2.0.1 the charger chooses the transaction id."""
        transaction_id = transaction_id or f"sim-{self.id}-{evse_id}"
        await self._transaction_event("Started", "CablePluggedIn", 0, evse_id, transaction_id)
        self.state.transactions[evse_id] = transaction_id
        return transaction_id

    async def stop_transaction(self, evse_id: int) -> None:
        transaction_id = self.state.end_transaction(evse_id)
        await self._transaction_event("Ended", "EVDeparted", 1, evse_id, transaction_id)

    async def _transaction_event(
        self, event_type: str, trigger: str, seq_no: int, evse_id: int, transaction_id: str
    ) -> None:
        await self.call(  # type: ignore[attr-defined]
            self.calls.TransactionEvent(
                event_type=event_type,
                timestamp=wire_time(self.state.clock()),
                trigger_reason=trigger,
                seq_no=seq_no,
                transaction_info={"transaction_id": transaction_id},
                evse={"id": evse_id, "connector_id": 1},
            ),
            suppress=False,
        )

    @on(Action201.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        criteria = charging_profile_criteria or {}
        found = self.state.clear(
            charging_profile_id,
            criteria.get("evse_id"),
            criteria.get("charging_profile_purpose"),
            criteria.get("stack_level"),
        )
        return self.results.ClearChargingProfile(status="Accepted" if found else "Unknown")

    @on(Action201.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        refused = self.state.install(evse_id, charging_profile, self.version)
        if refused is None:
            return self.results.SetChargingProfile(status="Accepted")
        return self.results.SetChargingProfile(
            status="Rejected",
            status_info={"reason_code": "Rejected", "additional_info": refused[:512]},
        )

    @on(Action201.get_composite_schedule)
    def on_get_composite_schedule(
        self, evse_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        unit, periods = self.state.composite(evse_id, duration, charging_rate_unit)
        return self.results.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": wire_time(self.state.clock()),
                "charging_rate_unit": unit,
                "charging_schedule_period": _wire_periods(periods),
            },
        )


class Simulator201(_Simulator2x, v201.ChargePoint):
    """An OCPP 2.0.1 charging station."""

    version, calls, results = "2.0.1", call201, result201


class Simulator21(_Simulator2x, v21.ChargePoint):
    """An OCPP 2.1 charging station (its V2G periods go into the composite schedule)."""

    version, calls, results = "2.1", call21, result21


Simulator = Simulator16 | Simulator201 | Simulator21
SIMULATORS: dict[str, type[Simulator]] = {
    "1.6": Simulator16,
    "2.0.1": Simulator201,
    "2.1": Simulator21,
}


@contextlib.asynccontextmanager
async def simulated_charger(
    csms_url: str, charger_id: str, version: str, state: ChargerState | None = None
) -> AsyncIterator[Simulator]:
    """A simulator connected to the CSMS at `csms_url`, booted, serving until the block ends."""
    connection = await connect(
        f"{csms_url}/{charger_id}", subprotocols=[Subprotocol(SUBPROTOCOLS[version])]
    )
    simulator = SIMULATORS[version](charger_id, connection, state or ChargerState())
    serving = asyncio.create_task(simulator.start())
    try:
        await simulator.boot()
        yield simulator
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await serving
        await connection.close()


# --- the CSMS ---------------------------------------------------------------------------------


class Csms16(v16.ChargePoint):
    """The CSMS's side of a 1.6 connection."""

    def __init__(self, charger_id: str, connection: Any, csms: Csms) -> None:
        super().__init__(charger_id, connection, response_timeout=5)
        self.csms = csms

    @on(Action16.boot_notification)
    def on_boot_notification(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=wire_time(datetime.now(UTC)), interval=300, status="Accepted"
        )

    @on(Action16.start_transaction)
    def on_start_transaction(self, connector_id: int, **_: Any) -> result16.StartTransaction:
        transaction_id = self.csms.transaction_ids.get((self.id, connector_id), 1)
        return result16.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action16.stop_transaction)
    def on_stop_transaction(self, **_: Any) -> result16.StopTransaction:
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})


class _Csms2x:
    """The CSMS's side of a 2.0.1 or 2.1 connection; subclasses name their version's classes."""

    calls: Any
    results: Any

    def __init__(self, charger_id: str, connection: Any, csms: Csms) -> None:
        super().__init__(charger_id, connection, response_timeout=5)  # type: ignore[call-arg]
        self.csms = csms

    @on(Action201.boot_notification)
    def on_boot_notification(self, **_: Any) -> Any:
        return self.results.BootNotification(
            current_time=wire_time(datetime.now(UTC)), interval=300, status="Accepted"
        )

    @on(Action201.transaction_event)
    def on_transaction_event(self, **_: Any) -> Any:
        return self.results.TransactionEvent()


class Csms201(_Csms2x, v201.ChargePoint):
    calls, results = call201, result201


class Csms21(_Csms2x, v21.ChargePoint):
    calls, results = call21, result21


CsmsChargePoint = Csms16 | Csms201 | Csms21
CSMS_SIDES: dict[str, type[CsmsChargePoint]] = {"1.6": Csms16, "2.0.1": Csms201, "2.1": Csms21}


class Csms:
    """A websockets CSMS on 127.0.0.1 at a free port; chargers connect to `url`/<charger id>.

    `transaction_ids` maps (charger id, connector id) to the id a 1.6 StartTransaction gets.
    """

    def __init__(self, transaction_ids: dict[tuple[str, int], int] | None = None) -> None:
        self.transaction_ids = transaction_ids or {}
        self.url = ""
        self._server: Server | None = None
        self._chargers: dict[str, CsmsChargePoint] = {}
        self._connected: dict[str, asyncio.Event] = {}

    async def __aenter__(self) -> Csms:
        self._server = await serve(
            self._serve_charger,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS.values()],
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def charger(self, charger_id: str, timeout_s: float = 5.0) -> CsmsChargePoint:
        """The CSMS's side of the connection of `charger_id`, once it has connected."""
        event = self._connected.setdefault(charger_id, asyncio.Event())
        await asyncio.wait_for(event.wait(), timeout_s)
        return self._chargers[charger_id]

    async def _serve_charger(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        charger_id = connection.request.path.strip("/")
        version = {p: v for v, p in SUBPROTOCOLS.items()}.get(connection.subprotocol or "")
        if version is None:  # a real CSMS refuses a charger that speaks no OCPP it knows
            await connection.close(code=1002, reason="no supported OCPP subprotocol")
            return
        side: CsmsChargePoint = CSMS_SIDES[version](charger_id, connection, self)
        self._chargers[charger_id] = side
        self._connected.setdefault(charger_id, asyncio.Event()).set()
        with contextlib.suppress(ConnectionClosed):
            await side.start()


async def set_charging_profile(
    side: CsmsChargePoint, payload: dict[str, Any], *, validate: bool = True
) -> Any:
    """Send an emitted camelCase payload as `SetChargingProfile`; the charger's response.

    The payload's keys go snake_case for the package's request class, which turns them back
    into camelCase on the wire. A CallError (e.g. the charger's schema check) raises.
    """
    arguments = camel_to_snake_case(payload)
    calls = call16 if isinstance(side, Csms16) else side.calls
    request = calls.SetChargingProfile(**arguments)
    return await side.call(request, suppress=False, skip_schema_validation=not validate)


async def clear_charging_profile(side: CsmsChargePoint, profile_id: int | None = None) -> str:
    """`ClearChargingProfile` of one profile id (every profile without one); the status."""
    if isinstance(side, Csms16):
        result = await side.call(call16.ClearChargingProfile(id=profile_id), suppress=False)
    else:
        request = side.calls.ClearChargingProfile(charging_profile_id=profile_id)
        result = await side.call(request, suppress=False)
    return str(result.status)


@dataclass(frozen=True)
class Composite:
    start: datetime
    duration_s: int
    unit: str
    periods: list[Period]


async def get_composite_schedule(
    side: CsmsChargePoint, target: int, duration_s: int, unit: str
) -> Composite:
    """`GetCompositeSchedule` for a connector (1.6) or EVSE (2.0.1, 2.1), read into a
    `Composite`."""
    if isinstance(side, Csms16):
        result = await side.call(
            call16.GetCompositeSchedule(
                connector_id=target, duration=duration_s, charging_rate_unit=unit
            ),
            suppress=False,
        )
        assert result.status == "Accepted", result
        schedule = result.charging_schedule
        start = parse_time(result.schedule_start or schedule["start_schedule"])
    else:
        result = await side.call(
            side.calls.GetCompositeSchedule(
                evse_id=target, duration=duration_s, charging_rate_unit=unit
            ),
            suppress=False,
        )
        assert result.status == "Accepted", result
        schedule = result.schedule
        start = parse_time(schedule["schedule_start"])
    return Composite(
        start=start,
        duration_s=int(schedule["duration"]),
        unit=schedule["charging_rate_unit"],
        periods=[period_from_wire(p) for p in schedule["charging_schedule_period"]],
    )
