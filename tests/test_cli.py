"""`smartcharge optimize`: answers, plots, and one clear line with exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartcharge.api.cli import main
from tests.builders import charger, problem, session


def write(tmp_path: Path, doc: dict | str, name: str = "problem.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_optimize_writes_answer_and_plot(tmp_path, capsys):
    path = write(tmp_path, problem([charger("c1")], [session("s1", "c1", 5.52)]))
    out, plot = tmp_path / "answer.json", tmp_path / "schedule.png"
    assert main(["optimize", str(path), "--out", str(out), "--plot", str(plot)]) == 0
    answer = json.loads(out.read_text())
    assert answer["status"] == "optimal"
    assert answer["ocpp"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "optimal" in capsys.readouterr().out


def test_optimize_prints_the_answer_without_out(tmp_path, capsys):
    path = write(tmp_path, problem([charger("c1")], [session("s1", "c1", 5.52)]))
    assert main(["optimize", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["kpis"]["energy_delivered_kwh"] == 5.52


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a problem is a JSON object"),
        (
            json.dumps(problem([charger("c1")], [session("s1", "nope", 5.0)])),
            "sessions[0].charger_id: unknown charger 'nope'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, content, expected):
    path = write(tmp_path, content)
    result = subprocess.run(
        [sys.executable, "-m", "smartcharge.api.cli", "optimize", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("smartcharge")]
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_file_is_exit_code_2(tmp_path, capsys):
    assert main(["optimize", str(tmp_path / "absent.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_weather_formats_offered_are_the_readers_formats() -> None:
    from smartcharge.api.commands.forecast import WEATHER_FORMATS
    from smartcharge.forecasting.providers import PROVIDER_FORMATS

    assert WEATHER_FORMATS == PROVIDER_FORMATS
