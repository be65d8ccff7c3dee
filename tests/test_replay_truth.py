"""A replay that tells the truth (SPEC §6): the EVs draw what they really take (`ideal`,
`taper`), strategies are not told what is hidden and see estimates and meter values instead,
`offline` keeps perfect information, and `--days` replays the sessions of the days asked."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest

from smartcharge.optimizer.replay import ReplayOptions, offline, replay, run_strategies
from smartcharge.optimizer.strategies import STRATEGIES
from tests.builders import START, at, charger, problem, session

ALL_HIDDEN = ("departure", "energy", "ev_max", "phases")


def one_ev(energy_kwh: float = 11.0, slots: int = 16) -> tuple[dict, list[dict]]:
    site = problem([charger("c1")], [], slots=slots)
    site["site"]["kind"] = "public"
    return site, [session("s1", "c1", energy_kwh, arrival=at(0), departure=at(slots))]


def test_days_replays_the_sessions_arriving_within_them():
    """Two days of sessions, one day asked for: the second day's sessions are left out and the
    replay runs only until the first day's last departure."""
    site = problem([charger("c1"), charger("c2")], [], slots=96)
    sessions = [
        session("day-1", "c1", 5.0, arrival=at(8), departure=at(100)),
        session("day-2", "c2", 5.0, arrival=at(100), departure=at(140)),
    ]
    (result,) = run_strategies(site, sessions, ["edf"], slots=96)
    assert [s.id for s in result.problem.sessions] == ["day-1"]
    assert result.problem.horizon.slots == 100


def test_a_tapering_ev_takes_less_than_offered():
    site, sessions = one_ev(energy_kwh=20.0)
    ideal = replay(site, sessions, STRATEGIES["uncontrolled"], "u", 16).kpis()
    taper = replay(
        site, sessions, STRATEGIES["uncontrolled"], "u", 16, options=ReplayOptions("taper")
    ).kpis()
    assert ideal["energy_delivered_kwh"] == pytest.approx(20.0, abs=0.01)
    assert ideal["offered_not_drawn_kwh"] < 0.5  # only the last, partly used slot
    assert 15.0 < taper["energy_delivered_kwh"] < 20.0
    assert taper["offered_not_drawn_kwh"] > 0


def test_a_battery_size_from_the_sessions_table(tmp_path):
    """A larger battery tapers over more of the need: less in the same time."""
    site, sessions = one_ev(energy_kwh=20.0)
    small = replay(site, sessions, STRATEGIES["uncontrolled"], "u", 16,
                   options=ReplayOptions("taper")).kpis()  # fmt: skip
    large = [{**sessions[0], "battery_kwh": 100.0}]
    big = replay(site, large, STRATEGIES["uncontrolled"], "u", 16,
                 options=ReplayOptions("taper")).kpis()  # fmt: skip
    assert big["energy_delivered_kwh"] < small["energy_delivered_kwh"] - 1.0


def test_hidden_fields_are_estimated_and_learnt_values_reach_the_view():
    """A one-phase EV capped at 10 A: hidden, the first view plans it as the charger's
    three-phase 16 A with estimated departure and energy; after two meter readings the view
    of a learning strategy knows its phase and its maximum (plus the headroom)."""
    site, sessions = one_ev(energy_kwh=30.0)
    sessions[0] |= {"phases": 1, "max_current_a": 10.0}
    seen = []

    def recording(view):
        seen.append(view.sessions[0])
        return STRATEGIES["edf"](view)

    replay(site, sessions, recording, "rec", 16, options=ReplayOptions(hide=frozenset(ALL_HIDDEN)))
    first = seen[0]
    assert first.phases is None and first.max_current_a is None
    assert first.departure_early is not None and first.departure != sessions[0]["departure"]
    assert first.energy_kwh != 30.0 and first.energy_delivered_kwh == 0.0
    third = seen[2]
    assert third.phases == 1 and third.ev_max_current_a == pytest.approx(11.0)
    assert third.energy_delivered_kwh == pytest.approx(2 * 10 * 0.23 * 0.25)
    seen.clear()
    naive = ReplayOptions(hide=frozenset(ALL_HIDDEN), learn=False)
    replay(site, sessions, recording, "rec", 16, options=naive)
    assert seen[2].phases is None and seen[2].ev_max_current_a is None


def test_offline_keeps_perfect_information():
    site, sessions = one_ev(energy_kwh=20.0)
    told = offline(site, sessions, 16, ReplayOptions("taper")).kpis()
    hidden = offline(site, sessions, 16, ReplayOptions("taper", frozenset(ALL_HIDDEN))).kpis()
    timing = ("replan_median_s", "replan_max_s")
    assert {k: v for k, v in told.items() if k not in timing} == {
        k: v for k, v in hidden.items() if k not in timing
    }


def rotated_site() -> tuple[dict, list[dict]]:
    """Three chargers wired L1L2L3, L2L3L1, L3L1L2 under a 32 A grid phase limit, each with a
    one-phase EV wanting more than it can get: told nothing, a plan that thinks them
    three-phase can run the three at 32 / 3 A; one that learns their phases runs all at
    16 A (each on its own grid phase)."""
    chargers = [
        charger(f"c{i}", phase_rotation=rotation)
        for i, rotation in enumerate(["L1L2L3", "L2L3L1", "L3L1L2"])
    ]
    site = problem(chargers, [], slots=16, grid={"phase_limit_a": 32.0})
    site["site"]["kind"] = "depot"
    sessions = [
        session(f"s{i}", f"c{i}", 30.0, arrival=at(0), departure=at(16), phases=1,
                max_current_a=16.0)
        for i in range(3)
    ]  # fmt: skip
    return site, sessions


def test_learning_the_phases_delivers_more():
    site, sessions = rotated_site()
    learnt, naive = run_strategies(
        site, sessions, ["milp", "milp-naive"], 16, hide=("phases", "ev_max")
    )
    assert learnt.kpis()["violations"] == naive.kpis()["violations"] == 0
    gained = learnt.kpis()["energy_delivered_kwh"] - naive.kpis()["energy_delivered_kwh"]
    assert gained > 5.0
    assert learnt.learnt["s0"]["phases"] == 1


def test_simulate_cli_flags(tmp_path, capsys):
    from smartcharge.api.cli import main

    site, sessions = rotated_site()
    (tmp_path / "site.json").write_text(json.dumps(site))
    with open(tmp_path / "sessions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["session_id", "charger_id", "arrival", "departure", "energy_kwh",
                         "max_current_a", "phases", "battery_kwh"])  # fmt: skip
        for s in sessions:
            writer.writerow([s["id"], s["charger_id"], s["arrival"], s["departure"],
                             s["energy_kwh"], 16, 1, 60])  # fmt: skip
    args = ["simulate", str(tmp_path / "site.json"), str(tmp_path / "sessions.csv")]
    code = main([*args, "--strategy", "edf,offline", "--ev-model", "taper",
                 "--hide", "departure,energy", "--days", "0.25", "--json"])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["strategy"] for r in rows] == ["edf", "offline"]
    assert all(r["energy_delivered_kwh"] < r["energy_requested_kwh"] for r in rows)
    assert main([*args, "--hide", "departure,colour"]) == 2
    assert "--hide: cannot hide colour" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--ev-model", "bouncy"])
    assert exit_.value.code == 2


def test_the_public_simulate_takes_the_same_options():
    import smartcharge

    site, sessions = one_ev(energy_kwh=20.0)
    replayed = smartcharge.simulate(
        site, sessions, "edf,offline", days=0.25, ev_model="taper", hide="departure,energy",
        progress=False,
    )  # fmt: skip
    kpis = replayed.kpis
    assert list(kpis.index) == ["edf", "offline"]
    assert kpis.loc["edf", "energy_delivered_kwh"] < 20.0
    with pytest.raises(ValueError, match="cannot hide"):
        smartcharge.simulate(site, sessions, "edf", hide="weather", progress=False)


def test_an_estimated_departure_can_lie_beyond_the_replay():
    """The view looks ahead as far at the replay's end as anywhere: an EV whose estimated
    departure lies past the last true departure still counts its energy."""
    site, sessions = one_ev(energy_kwh=8.0, slots=8)
    (result,) = run_strategies(site, sessions, ["milp"], 8, hide=("departure",))
    assert result.kpis()["energy_delivered_kwh"] == pytest.approx(8.0, abs=0.05)
    assert result.problem.horizon.start == START
    assert timedelta(minutes=15) * result.problem.horizon.slots == timedelta(hours=2)
