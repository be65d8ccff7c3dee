"""Hypothesis strategies for random small problem documents that exercise every SPEC rule."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

from tests.builders import START

# Horizon starts: an ordinary morning, just before a month's end, on both DST changes of 2026
# in Europe/Amsterdam (the billing periods and time-of-use rules meet a boundary there).
STARTS = [
    START,
    datetime.fromisoformat("2026-11-30T23:30:00+01:00"),
    datetime.fromisoformat("2026-03-29T01:30:00+01:00"),
    datetime.fromisoformat("2026-10-25T02:15:00+02:00"),
]
CLOCK_TIMES = ["00:00", "01:45", "02:30", "06:00", "07:00", "07:10", "23:00", "24:00"]
DAYS = ["daily", "mon-fri", "sat,sun", "sun", "fri-mon", "tue"]

ROTATIONS_3 = ["L1L2L3", "L2L3L1", "L3L1L2", "L1L3L2"]


@st.composite
def series(draw, slots: int, low: float, high: float, allow_scalar: bool = True):
    if allow_scalar and draw(st.booleans()):
        return draw(st.floats(low, high, allow_nan=False).map(lambda v: round(v, 2)))
    return [round(draw(st.floats(low, high, allow_nan=False)), 2) for _ in range(slots)]


@st.composite
def chargers_and_circuits(draw):
    circuits = []
    for i in range(draw(st.integers(0, 3))):
        parent = draw(st.sampled_from([None] + [c["id"] for c in circuits]))
        circuit = {"id": f"p{i}", "parent": parent}
        if draw(st.booleans()):
            circuit["limit_kw"] = draw(st.sampled_from([5.0, 11.0, 15.0, 30.0]))
        if draw(st.booleans()):
            circuit["phase_limit_a"] = draw(st.sampled_from([10.0, 16.0, 25.0, 40.0]))
        circuits.append(circuit)
    chargers = []
    for i in range(draw(st.integers(1, 5))):
        circuit = draw(st.sampled_from([None] + [c["id"] for c in circuits]))
        if draw(st.integers(0, 5)) == 0:
            chargers.append(
                {
                    "id": f"dc{i}",
                    "kind": "dc",
                    "circuit": circuit,
                    "max_power_kw": draw(st.sampled_from([20.0, 50.0])),
                    "min_power_kw": draw(st.sampled_from([0.0, 5.0])),
                    "ocpp_version": "2.0.1",
                    "charging_rate_unit": "W",
                }
            )
            continue
        phases = draw(st.sampled_from([1, 3, 3]))
        rotation = (
            draw(st.sampled_from(["L1", "L2", "L3"]))
            if phases == 1
            else draw(st.sampled_from(ROTATIONS_3))
        )
        charger = {
            "id": f"c{i}",
            "circuit": circuit,
            "phases": phases,
            "phase_rotation": rotation,
            "max_current_a": draw(st.sampled_from([16.0, 32.0])),
            "min_current_a": draw(st.sampled_from([6.0, 6.0, 8.0])),
        }
        if draw(st.booleans()):
            charger["max_power_kw"] = draw(st.sampled_from([7.4, 11.0, 22.0]))
        chargers.append(charger)
    return chargers, circuits


@st.composite
def time_of_use(draw):
    """0-2 rules over the flat prices, some past midnight, some with one price only."""
    rules = []
    for _ in range(draw(st.integers(0, 2))):
        start, end = draw(st.sampled_from(CLOCK_TIMES[:-1])), draw(st.sampled_from(CLOCK_TIMES))
        if start == end:
            continue
        rule = {"days": draw(st.sampled_from(DAYS)), "from": start, "to": end}
        for name in draw(
            st.sampled_from(
                [["import_per_kwh"], ["export_per_kwh"], ["import_per_kwh", "export_per_kwh"]]
            )
        ):
            rule[name] = round(draw(st.floats(-0.05, 0.5)), 3)
        rules.append(rule)
    return rules


@st.composite
def price_feed(draw, start: datetime):
    """A feed of 0-6 points around the horizon, every 15, 20 or 60 minutes, from a time that
    need not lie on a slot's edge; negative prices and points without export included."""
    if draw(st.booleans()):
        return []
    spacing = timedelta(minutes=draw(st.sampled_from([15, 20, 60])))
    first = start + timedelta(minutes=draw(st.sampled_from([-60, -7, 0, 10, 45])))
    points = []
    for i in range(draw(st.integers(1, 6))):
        point = {
            "time": (first + i * spacing).isoformat(),
            "import_per_kwh": round(draw(st.floats(-0.1, 0.6)), 3),
        }
        if draw(st.booleans()):
            point["export_per_kwh"] = round(draw(st.floats(-0.05, 0.3)), 3)
        points.append(point)
    return points


@st.composite
def as_a_csms_knows_them(draw, session: dict, charger: dict, early: str) -> dict:
    """A session with what a CSMS may not know left out, and what meter values taught put in
    (SPEC §6)."""
    if draw(st.integers(0, 2)) == 0:
        del session["departure"]
    elif draw(st.booleans()):
        session["departure_early"] = early
    if draw(st.integers(0, 2)) == 0:
        del session["energy_kwh"]
        session["energy_delivered_kwh"] = draw(st.sampled_from([0.0, 3.0, 25.0]))
    if charger.get("kind") != "dc" and draw(st.booleans()):
        session["ev_max_current_a"] = draw(st.sampled_from([3.0, 7.5, 11.0]))
    session["ev_full"] = draw(st.integers(0, 5)) == 0
    return session


@st.composite
def problems(draw, csms: bool = False):
    """Random problems; with `csms`, sessions as a CSMS knows them (`as_a_csms_knows_them`)."""
    slots = draw(st.integers(2, 8))
    step_minutes = draw(st.sampled_from([15, 30, 60]))
    chargers, circuits = draw(chargers_and_circuits())
    start = draw(st.sampled_from(STARTS))

    def at(slot_float: float) -> str:
        return (start + timedelta(minutes=step_minutes * slot_float)).isoformat()

    sessions = []
    for charger in chargers:
        if draw(st.integers(0, 4)) == 0:
            continue
        arrival = draw(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]))
        departure = arrival + draw(st.sampled_from([0.7, 1.0, 2.0, 3.0, slots + 2.0]))
        session = {
            "id": f"s-{charger['id']}",
            "charger_id": charger["id"],
            "transaction_id": str(len(sessions) + 100),
            "arrival": at(arrival),
            "departure": at(departure),
            "energy_kwh": draw(st.sampled_from([0.0, 1.0, 5.0, 12.0, 40.0])),
            "priority": draw(st.integers(0, 2)),
        }
        if charger.get("kind") != "dc":
            session["phases"] = draw(st.sampled_from([1, 2, 3, 3]))
            session["max_current_a"] = draw(st.sampled_from([10.0, 16.0, 32.0]))
        elif draw(st.booleans()):
            session["max_power_kw"] = draw(st.sampled_from([10.0, 40.0]))
        if csms:
            early = at(arrival + (departure - arrival) * draw(st.sampled_from([0.3, 0.6, 1.0])))
            session = draw(as_a_csms_knows_them(session, charger, early))
        sessions.append(session)

    grid = {
        "import_limit_kw": draw(series(slots, 0.0, 60.0)),
        "export_limit_kw": draw(series(slots, 0.0, 20.0)),
        "voltage_v": 230,
    }
    phase_limit = st.sampled_from([16.0, 25.0, 40.0, 63.0])
    if draw(st.booleans()):
        grid["phase_limit_a"] = draw(phase_limit)
    elif draw(st.booleans()):  # a grid operator's cap that changes (null: none in that slot)
        grid["phase_limit_a"] = [draw(st.one_of(st.none(), phase_limit)) for _ in range(slots)]
    site_kind = {}
    if csms:
        site_kind["kind"] = draw(st.sampled_from(["workplace", "public", "depot", "residential"]))
    return {
        "site": {
            **site_kind,
            "id": "random",
            "timezone": "Europe/Amsterdam",
            "grid": grid,
            "circuits": circuits,
            "chargers": chargers,
        },
        "horizon": {"start": start.isoformat(), "step_minutes": step_minutes, "slots": slots},
        "tariff": {
            "import_price_per_kwh": draw(series(slots, -0.05, 0.5)),
            "export_price_per_kwh": draw(series(slots, -0.02, 0.2)),
            "time_of_use": draw(time_of_use()),
            "prices": draw(price_feed(start)),
            "demand_charge_per_kw": draw(st.sampled_from([0.0, 0.0, 5.0, 12.0])),
            "peak_so_far_kw": draw(st.sampled_from([0.0, 10.0, 30.0])),
            "demand_charge_period": draw(st.sampled_from(["month", "day", "none"])),
        },
        "base_load_kw": draw(series(slots, -2.0, 30.0)),
        "pv_kw": draw(series(slots, 0.0, 40.0)),
        "sessions": sessions,
        "options": {"time_limit_s": 20, "mip_gap": 1e-4},
    }


@st.composite
def storage_problems(draw):
    """`problems()` with SPEC §4 parts: 0-2 batteries (some below a circuit), chargers that
    are bidirectional (OCPP 2.1) or switch phases (three-phase AC, OCPP 2.0.1 or 2.1), and
    sessions that may discharge on the bidirectional ones."""
    doc = draw(problems())
    site = doc["site"]
    circuits = [None] + [c["id"] for c in site["circuits"]]
    batteries = []
    for b in range(draw(st.integers(0, 2))):
        capacity = draw(st.sampled_from([10.0, 50.0, 200.0]))
        lowest = draw(st.sampled_from([0.0, 0.1])) * capacity
        battery = {
            "id": f"bess-{b}",
            "circuit": draw(st.sampled_from(circuits)),
            "capacity_kwh": capacity,
            "soc_kwh": round(draw(st.floats(0.1, 0.9)) * capacity, 2),
            "min_soc_kwh": lowest,
            "max_charge_kw": draw(st.sampled_from([5.0, 20.0, 100.0])),
            "max_discharge_kw": draw(st.sampled_from([5.0, 20.0, 100.0])),
            "efficiency": draw(st.sampled_from([0.81, 0.9, 1.0])),
            "cycle_cost_per_kwh": draw(st.sampled_from([0.0, 0.02, 0.2])),
        }
        if draw(st.booleans()):
            battery["final_soc_kwh"] = round(draw(st.floats(0.1, 0.9)) * capacity, 2)
        batteries.append(battery)
    site["batteries"] = batteries
    for charger in site["chargers"]:
        three_phase_ac = charger.get("kind") != "dc" and charger.get("phases") == 3
        kind = draw(st.sampled_from(["plain", "v2g", "v2g", "switching", "both"]))
        if kind in ("v2g", "both"):
            charger.update(ocpp_version="2.1", bidirectional=True)
        if kind in ("switching", "both") and three_phase_ac:
            charger.setdefault("ocpp_version", "2.0.1")
            charger["phase_switching"] = True
    bidirectional = {c["id"] for c in site["chargers"] if c.get("bidirectional")}
    for session in doc["sessions"]:
        if session["charger_id"] in bidirectional and draw(st.integers(0, 3)) > 0:
            session["discharge"] = {
                "max_power_kw": draw(st.sampled_from([3.7, 11.0, 50.0])),
                "max_energy_kwh": draw(st.sampled_from([0.0, 2.0, 20.0, 20.0])),
            }
    doc["tariff"]["export_price_per_kwh"] = draw(
        st.one_of(
            st.just(doc["tariff"]["export_price_per_kwh"]),
            series(doc["horizon"]["slots"], 0.0, 1.0, allow_scalar=False),
        )
    )
    return doc
