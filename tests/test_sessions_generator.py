"""Session generator: seeded, never two sessions at once on a charger, close to the ElaadNL
distributions it samples, and `smartcharge sessions generate` fails in one line with exit 2."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from smartcharge.api.cli import main
from smartcharge.optimizer.problem import parse_problem
from smartcharge.optimizer.session_table import SESSION_COLUMNS, read_sessions
from smartcharge.optimizer.sessions_generator import distributions, generate_sessions

ROOT = Path(__file__).parent.parent
WORKPLACE = ROOT / "data" / "examples" / "workplace-20.json"


@pytest.fixture(scope="module")
def site():
    doc = json.loads(WORKPLACE.read_text())
    doc["sessions"] = []
    return parse_problem(doc)


def _times(sessions: list[dict], key: str) -> np.ndarray:
    return np.array([datetime.fromisoformat(s[key]) for s in sessions])


def test_same_seed_same_sessions_other_seed_others(site):
    first = generate_sessions(site, "public", 3, seed=4)
    assert first == generate_sessions(site, "public", 3, seed=4)
    assert first != generate_sessions(site, "public", 3, seed=5)


@pytest.mark.parametrize("kind", ["workplace", "public", "private"])
def test_no_charger_has_two_sessions_at_once(site, kind):
    sessions = generate_sessions(site, kind, 14, seed=1, sessions_per_day=4.0)
    by_charger: dict[str, list[tuple[datetime, datetime]]] = {}
    for s in sessions:
        by_charger.setdefault(s["charger_id"], []).append(
            (datetime.fromisoformat(s["arrival"]), datetime.fromisoformat(s["departure"]))
        )
    assert len(by_charger) == len(site.site.chargers)
    for spans in by_charger.values():
        spans.sort()
        for (_, departure), (arrival, _) in itertools.pairwise(spans):
            assert arrival >= departure
    # and the engine accepts them as they are (it rejects overlaps with a 422)
    parse_problem({**site.model_dump(mode="json"), "sessions": sessions})


def test_sessions_arrive_within_the_days_and_fit_the_car(site):
    sessions = generate_sessions(site, "private", 2, seed=2)
    start = site.horizon.start
    arrivals, departures = _times(sessions, "arrival"), _times(sessions, "departure")
    assert all(start <= a < start + timedelta(days=2) for a in arrivals)
    assert all(d > a for a, d in zip(arrivals, departures, strict=True))
    for s, a, d in zip(sessions, arrivals, departures, strict=True):
        kw = min(s["max_current_a"], 16.0) * 230 * min(s["phases"], 3) / 1000
        assert 0 < s["energy_kwh"] <= kw * (d - a).total_seconds() / 3600


def test_workplace_weekends_are_quiet(site):
    sessions = generate_sessions(site, "workplace", 28, seed=3)
    weekend = sum(datetime.fromisoformat(s["arrival"]).weekday() >= 5 for s in sessions)
    assert weekend < 0.1 * len(sessions)


@pytest.mark.parametrize("kind", ["workplace", "public", "private"])
def test_sessions_follow_the_elaadnl_distributions(site, kind):
    sessions = generate_sessions(site, kind, 56, seed=7)
    arrivals, departures = _times(sessions, "arrival"), _times(sessions, "departure")
    tables = distributions()

    # arrival hour of day: histogram by hour within 0.12 total variation of the data
    hours = np.array([a.hour for a in arrivals])
    drawn = np.bincount(hours, minlength=24) / len(hours)
    density = tables["arrival"][kind].to_numpy(dtype=float).reshape(24, 4).sum(axis=1)
    assert 0.5 * np.abs(drawn - density / density.sum()).sum() < 0.12

    def data_median(name: str) -> float:
        table = tables[name]
        return float(np.interp(50, table.iloc[:, 0], table[kind]))

    dwell_h = np.array(
        [(d - a).total_seconds() / 3600 for a, d in zip(arrivals, departures, strict=True)]
    )
    assert np.median(dwell_h) == pytest.approx(data_median("connection-time"), rel=0.15)
    # energy is capped at what the car can take while plugged in, so it sits a little lower
    energy = np.median([s["energy_kwh"] for s in sessions])
    assert 0.7 * data_median("energy-demand") <= energy <= 1.05 * data_median("energy-demand")


def test_cli_writes_a_csv_that_simulate_reads(tmp_path):
    out = tmp_path / "sessions.csv"
    args = ["sessions", "generate", "--site", str(WORKPLACE), "--kind", "workplace"]
    assert main([*args, "--days", "2", "--seed", "9", "--out", str(out)]) == 0
    sessions = read_sessions(out)
    assert isinstance(sessions, list) and sessions
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == SESSION_COLUMNS
    again = tmp_path / "again.csv"
    assert main([*args, "--days", "2", "--seed", "9", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()


def test_cli_sessions_replay_through_simulate(tmp_path, capsys):
    out = tmp_path / "sessions.csv"
    generate = ["sessions", "generate", "--site", str(WORKPLACE), "--kind", "workplace"]
    assert main([*generate, "--days", "1", "--seed", "2", "--out", str(out)]) == 0
    code = main(
        ["simulate", str(WORKPLACE), str(out), "--strategy", "edf", "--days", "1", "--json"]
    )
    assert code == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["strategy"] == "edf" and row["energy_delivered_kwh"] > 0
    assert row["violations"] == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--kind": "office"}, "--kind: 'office' is not one of"),
        ({"--days": "0"}, "--days: 0 is outside (0, 366]"),
        ({"--days": "a week"}, "--days: 'a week' is not a number"),
        ({"--seed": "1.5"}, "--seed: '1.5' is not an integer"),
        ({"--site": "absent.json"}, "absent.json: no such file"),
        ({"--site": "bad.json"}, "not valid JSON"),
        ({"--site": "unknown-circuit.json"}, "unknown-circuit.json: site.chargers[0].circuit"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, change, expected):
    (tmp_path / "bad.json").write_text("{not json")
    doc = json.loads(WORKPLACE.read_text())
    doc["site"]["chargers"][0]["circuit"] = "nowhere"
    (tmp_path / "unknown-circuit.json").write_text(json.dumps(doc))
    options = {"--site": str(WORKPLACE), "--kind": "public", "--days": "1", "--seed": "1"}
    for key, value in change.items():
        options[key] = str(tmp_path / value) if key == "--site" else value
    result = subprocess.run(
        [sys.executable, "-m", "smartcharge.api.cli", "sessions", "generate"]
        + [part for item in options.items() for part in item],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("smartcharge")]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
