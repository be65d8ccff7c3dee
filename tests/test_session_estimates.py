"""Unknown departures and energies (SPEC §6): estimates from a site's own history (hand-built
histories whose quantiles are known), the fallback to the ElaadNL distributions of the site's
kind, deadlines that hold until reached, and plans that protect against an early departure."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from smartcharge.optimizer.check import check_answer, format_violations
from smartcharge.optimizer.optimize import optimize
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.session_estimates import (
    MIN_HISTORY_SESSIONS,
    SessionHistory,
    estimate_sessions,
)
from smartcharge.optimizer.shipped_data import DATA_DIR
from tests.builders import charger, problem

CET = timezone(timedelta(hours=1))
MONDAY_8 = datetime(2026, 11, 23, 8, 0, tzinfo=CET)  # a Monday


def history_of(dwell_h, energy_kwh, arrival=MONDAY_8, every_days=7) -> SessionHistory:
    """Sessions arriving at `arrival`'s time, one every `every_days` days before it."""
    sessions = []
    for i, (dwell, energy) in enumerate(zip(dwell_h, energy_kwh, strict=True)):
        start = arrival - timedelta(days=every_days * (i + 1))
        sessions.append((start, start + timedelta(hours=dwell), energy))
    return SessionHistory.of(sessions, "Europe/Amsterdam")


def unknown_session(arrival=MONDAY_8, **fields) -> dict:
    return {"id": "s", "charger_id": "c1", "arrival": arrival.isoformat(), **fields}


def estimated(now, session, history=None, kind="workplace", **options):
    doc = problem([charger("c1")], [session], slots=8)
    doc["horizon"]["start"] = now.isoformat()
    doc["site"]["kind"] = kind
    doc["options"].update(options)
    filled, estimates = estimate_sessions(parse_problem(doc), history)
    return filled.sessions[0], estimates[session["id"]]


FORTY = list(range(1, 41))  # dwell 1..40 h and energy 1..40 kWh: quantiles by hand


def test_history_quantiles_by_hand():
    """40 Mondays at 08:00 staying 1..40 h: the 25th percentile is 1 + 0.25 * 39 = 10.75 h,
    the median 20.5 h (linear interpolation); the energy 1..40 kWh after 10 kWh delivered:
    the 90th percentile of 11..40 is 11 + 0.9 * 29 = 37.1 kWh, 27.1 kWh still to go."""
    history = history_of(FORTY, FORTY)
    session, estimate = estimated(MONDAY_8, unknown_session(energy_delivered_kwh=10.0), history)
    assert session.departure == MONDAY_8 + timedelta(hours=20.5)
    assert session.departure_early == MONDAY_8 + timedelta(hours=10.75)
    assert session.energy_kwh == pytest.approx(27.1)
    assert estimate.energy_total_kwh == pytest.approx(37.1)
    assert estimate.source == {
        "departure": "site_history:weekday",
        "energy_kwh": "site_history:weekday",
    }
    assert estimate.fields == ["departure", "energy_kwh"]


def test_a_deadline_holds_until_it_is_reached_then_moves_on():
    """Conditioning on every slot would push the deadline on with the clock; it is revised only
    once the EV outlasts it: at 12 h (past 10.75 h) the quantiles of the 30 stays above
    10.75 h, i.e. 11..40: 18.25 h and 25.5 h."""
    history = history_of(FORTY, FORTY)
    for hours in (0.0, 3.0, 10.5):
        now = MONDAY_8 + timedelta(hours=hours)
        session, _ = estimated(now, unknown_session(energy_kwh=5), history)
        assert session.departure_early == MONDAY_8 + timedelta(hours=10.75)
    session, _ = estimated(MONDAY_8 + timedelta(hours=12), unknown_session(energy_kwh=5), history)
    assert session.departure_early == MONDAY_8 + timedelta(hours=18.25)
    assert session.departure == MONDAY_8 + timedelta(hours=25.5)


def test_too_little_history_is_not_trusted():
    """One session short of the minimum on the weekday and on weekdays alike: the kind's
    distribution decides; the same number on other weekdays counts for the day type."""
    few = history_of(FORTY[: MIN_HISTORY_SESSIONS - 1], FORTY[: MIN_HISTORY_SESSIONS - 1])
    _, estimate = estimated(MONDAY_8, unknown_session(energy_kwh=5), few)
    assert estimate.source["departure"] == "distribution:workplace"
    tuesdays = history_of(FORTY, FORTY, arrival=MONDAY_8 + timedelta(days=1))
    _, estimate = estimated(MONDAY_8, unknown_session(energy_kwh=5), tuesdays)
    assert estimate.source["departure"] == "site_history:day_type"
    saturdays = history_of(FORTY, FORTY, arrival=MONDAY_8 + timedelta(days=5))
    _, estimate = estimated(MONDAY_8, unknown_session(energy_kwh=5), saturdays)
    assert estimate.source["departure"] == "distribution:workplace"


def test_history_far_from_the_arrival_time_does_not_count():
    evening = history_of(FORTY, FORTY, arrival=MONDAY_8 + timedelta(hours=10))
    _, estimate = estimated(MONDAY_8, unknown_session(energy_kwh=5), evening)
    assert estimate.source["departure"] == "distribution:workplace"


def _table(name: str) -> tuple[list[str], list[list[str]]]:
    with open(DATA_DIR / "ev" / name, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _mean_at(name: str, column: str, clock: str) -> float:
    header, rows = _table(name)
    return float(next(r for r in rows if r[0] == clock)[header.index(column)])


@pytest.mark.parametrize(
    ("kind", "column", "mean_column"),
    [
        ("workplace", "workplace", "work"),
        ("public", "public", "public"),
        ("residential", "private", "home"),
        ("depot", "private", "home"),
    ],
)
def test_the_distributions_of_each_kind(kind, column, mean_column):
    """Without history: the kind's table, scaled to the mean of its arrival half hour. Two
    arrival times' median dwells stand in the ratio of their means (read here from the CSVs),
    and the median of the energy table's scale family likewise."""
    header, rows = _table("distribution-of-connection-time.csv")
    assert any(r[0] == "50" for r in rows) and column in header
    times = {"08:00": MONDAY_8, "17:00": MONDAY_8 + timedelta(hours=9)}
    dwell = {}
    for clock, arrival in times.items():
        session, estimate = estimated(arrival, unknown_session(arrival), kind=kind)
        assert estimate.source == {
            "departure": f"distribution:{kind}",
            "energy_kwh": f"distribution:{kind}",
        }
        dwell[clock] = (session.departure - arrival).total_seconds() / 3600
    means = {c: _mean_at("mean-session-length-per.csv", mean_column, c) for c in times}
    assert dwell["17:00"] / dwell["08:00"] == pytest.approx(
        means["17:00"] / means["08:00"], rel=0.01
    )


def test_a_site_without_a_kind_is_estimated_as_public():
    doc = problem([charger("c1")], [unknown_session()], slots=8)
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    _, estimates = estimate_sessions(parse_problem(doc))
    assert estimates["s"].source["departure"] == "distribution:public"


def test_given_values_are_never_estimated():
    departure = MONDAY_8 + timedelta(hours=3)
    session, estimate = estimated(
        MONDAY_8, unknown_session(departure=departure.isoformat()), history_of(FORTY, FORTY)
    )
    assert session.departure == departure and session.departure_early is None
    assert estimate.fields == ["energy_kwh"]
    doc = problem([charger("c1")], [unknown_session(departure=departure.isoformat(),
                                                    energy_kwh=4.0)], slots=8)  # fmt: skip
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    parsed = parse_problem(doc)
    assert estimate_sessions(parsed) == (parsed, {})


def test_an_unknown_departure_ends_when_the_next_ev_plugs_in():
    """Two sessions on one charger, the first without a departure: it left by the second's
    arrival, so its estimate never runs into it."""
    later = MONDAY_8 + timedelta(minutes=45)
    doc = problem(
        [charger("c1")],
        [unknown_session(energy_kwh=5.0), {**unknown_session(later, energy_kwh=5.0), "id": "t"}],
        slots=8,
    )
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    doc["site"]["kind"] = "depot"
    filled, _ = estimate_sessions(parse_problem(doc))
    assert filled.sessions[0].departure == later
    assert filled.sessions[0].departure_early <= later


def _plan(doc):
    parsed = parse_problem(doc)
    plan = optimize(parsed)
    answer = plan.to_answer()
    violations = check_answer(parsed, answer)
    assert not violations, format_violations(violations)
    return plan, answer


def test_the_answer_lists_the_estimates_and_keeps_to_them():
    doc = problem([charger("c1")], [unknown_session()], slots=96)
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    doc["site"]["kind"] = "workplace"
    plan, answer = _plan(doc)
    entry = answer["sessions"][0]
    assert entry["estimated"] == ["departure", "energy_kwh"]
    departure = datetime.fromisoformat(entry["estimate"]["departure"])
    assert departure == plan.problem.sessions[0].departure
    assert entry["energy_kwh"] == pytest.approx(entry["estimate"]["energy_kwh"], abs=0.05)
    after = (departure - MONDAY_8) // timedelta(minutes=15)
    assert not np.any(entry["current_a"][after:])
    # An answer that charges past its own estimate breaks the checker's rule.
    broken = {**answer, "sessions": [{**entry, "estimate": {**entry["estimate"],
              "departure": (MONDAY_8 + timedelta(minutes=15)).isoformat()}}]}  # fmt: skip
    assert any(v.rule == "session_window" for v in check_answer(parse_problem(doc), broken))


def test_the_energy_that_fits_by_the_early_departure_is_planned_before_it():
    """One EV, a cheap night after an expensive evening: known to stay until 07:00 it charges
    in the cheapest slots; with the same departure but a possible early one at 22:00 it takes
    what fits (10 kWh at 11 kW: within the hour) before 22:00, though that costs more."""
    start = datetime(2026, 11, 23, 18, 0, tzinfo=CET)
    prices = [0.40] * 16 + [0.10] * 36  # 18:00-22:00 dear, then cheap until 07:00
    sessions = [
        {
            "id": "s",
            "charger_id": "c1",
            "arrival": start.isoformat(),
            "departure": (start + timedelta(hours=13)).isoformat(),
            "energy_kwh": 10.0,
        }
    ]
    doc = problem([charger("c1")], sessions, slots=52, tariff={"import_price_per_kwh": prices})
    doc["horizon"]["start"] = start.isoformat()
    _, late = _plan(doc)
    assert sum(late["sessions"][0]["power_kw"][:16]) == 0
    doc["sessions"][0]["departure_early"] = (start + timedelta(hours=4)).isoformat()
    plan, early = _plan(doc)
    delivered_by_22 = sum(early["sessions"][0]["power_kw"][:16]) * 0.25
    assert delivered_by_22 == pytest.approx(10.0, abs=0.05)
    assert "early_departure" not in plan.solver["stages"]  # the weighted solve sufficed


def test_the_early_energy_never_costs_another_session_its_energy():
    """Two EVs share 11 kW for two hours; one may leave after the first hour. Energy comes
    first: both still get all of theirs (11 kWh in total fits only with both charging in both
    hours' shares), and within that the early one gets its part first."""
    sessions = [
        {"id": "a", "charger_id": "c1", "arrival": MONDAY_8.isoformat(),
         "departure": (MONDAY_8 + timedelta(hours=2)).isoformat(), "energy_kwh": 11.0,
         "departure_early": (MONDAY_8 + timedelta(hours=1)).isoformat()},
        {"id": "b", "charger_id": "c2", "arrival": MONDAY_8.isoformat(),
         "departure": (MONDAY_8 + timedelta(hours=1)).isoformat(), "energy_kwh": 5.0},
    ]  # fmt: skip
    doc = problem([charger("c1"), charger("c2")], sessions, slots=8, import_limit_kw=11.04)
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    _, answer = _plan(doc)
    by_id = {s["id"]: s for s in answer["sessions"]}
    assert by_id["b"]["unmet_kwh"] == pytest.approx(0.0, abs=0.05)
    assert by_id["a"]["energy_kwh"] == pytest.approx(11.0, abs=0.1)
    first_hour_a = sum(by_id["a"]["power_kw"][:4]) * 0.25
    assert first_hour_a == pytest.approx(11.04 - 5.0, abs=0.1)  # all b leaves it


@pytest.mark.parametrize("model", ["matrix", "pyomo"])
def test_both_models_agree_on_the_early_stage(model):
    """A shortage (the staged path): the early stage runs after energy, before cost."""
    sessions = [
        {"id": f"s{i}", "charger_id": f"c{i}", "arrival": MONDAY_8.isoformat(),
         "departure": (MONDAY_8 + timedelta(hours=2)).isoformat(), "energy_kwh": 20.0,
         "departure_early": (MONDAY_8 + timedelta(hours=1)).isoformat()}
        for i in range(2)
    ]  # fmt: skip
    doc = problem([charger("c0"), charger("c1")], sessions, slots=8, import_limit_kw=11.04)
    doc["horizon"]["start"] = MONDAY_8.isoformat()
    doc["options"]["model"] = model
    plan, answer = _plan(doc)
    assert "early_departure" in plan.solver["stages"]
    assert answer["kpis"]["energy_delivered_kwh"] == pytest.approx(22.08, abs=0.05)


def test_an_ev_beyond_its_arrival_times_distribution_is_estimated_from_all_of_its_kind():
    """Home charging at 08:30: the mean need of those arrivals is half of the day's, so the
    scaled table ends near 48 kWh. An EV that has taken 50 kWh and still draws wants more
    than a token 0.1 kWh: it is estimated from all home charging (up to 99.9 kWh)."""
    arrival = MONDAY_8 + timedelta(minutes=30)
    session, estimate = estimated(
        arrival + timedelta(hours=6),
        unknown_session(arrival, departure=(arrival + timedelta(hours=12)).isoformat(),
                        energy_delivered_kwh=50.0),
        kind="depot",
    )  # fmt: skip
    assert session.energy_kwh > 10.0
    assert estimate.energy_total_kwh <= 99.9
