"""The public API (`smartcharge.*`): what docs/python.md promises, and what it must refuse."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import smartcharge
from smartcharge.api.service import optimize_answer
from smartcharge.datasets import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PUBLIC_MODULES = (
    "smartcharge.answer",
    "smartcharge.backtests",
    "smartcharge.engine",
    "smartcharge.replay",
)


@pytest.fixture(scope="module")
def garage() -> tuple[smartcharge.Problem, smartcharge.Answer]:
    problem = smartcharge.Problem.load(EXAMPLES / "garage-8.json")
    return problem, smartcharge.optimize(problem)


def test_docs_python_md_runs_as_written() -> None:
    result = doctest.testfile(
        str(ROOT / "docs" / "python.md"), module_relative=False, optionflags=DOCTEST_FLAGS
    )
    assert result.attempted > 20
    assert result.failed == 0


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_docstring_examples_run(module: str) -> None:
    imported = __import__(module, fromlist=["_"])
    result = doctest.testmod(
        imported,
        extraglobs={"smartcharge": smartcharge, "EXAMPLES": EXAMPLES},
        optionflags=DOCTEST_FLAGS,
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in smartcharge.__all__:
        value = getattr(smartcharge, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert set(smartcharge.__all__) <= set(dir(smartcharge))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        smartcharge.nope  # noqa: B018


def test_answer_is_the_spec_answer_with_frames(garage) -> None:
    problem, answer = garage
    reference = optimize_answer(json.loads((EXAMPLES / "garage-8.json").read_text()))
    data = answer.to_dict()
    assert data["kpis"] == pytest.approx(reference["kpis"])
    assert json.loads(answer.to_json())["status"] == data["status"] == answer.status
    schedule = answer.schedule
    assert list(schedule.columns) == [s["id"] for s in data["sessions"]]
    for s in data["sessions"]:
        assert schedule[s["id"]].tolist() == pytest.approx(s["power_kw"])
    assert schedule.index[0] == pd.Timestamp(problem.horizon.start)
    amps = answer.schedule_frame("current_a", multiindex=True)
    first = data["sessions"][0]
    assert amps[(first["charger_id"], first["id"])].tolist() == pytest.approx(first["current_a"])
    site = answer.site_frame()
    assert {"import_kw", "base_load_kw", "import_limit_kw", "import_price_per_kwh"} <= set(site)
    assert site["import_kw"].tolist() == pytest.approx(data["site"]["import_kw"])
    assert answer.sessions_frame()["energy_kwh"].sum() == pytest.approx(
        data["kpis"]["energy_delivered_kwh"]
    )
    # a copy: changing it leaves the answer as it was
    data["status"] = "changed"
    assert answer.status != "changed"
    assert "optimal" in repr(answer) and "<table>" in answer._repr_html_()


def test_answer_plot_draws(garage, tmp_path: Path) -> None:
    figure = garage[1].plot(tmp_path / "schedule.png")
    assert figure.axes and (tmp_path / "schedule.png").stat().st_size > 10_000


def test_check_finds_a_broken_limit(garage) -> None:
    problem, answer = garage
    assert smartcharge.check(problem, answer) == []
    broken = answer.to_dict()
    session = max(broken["sessions"], key=lambda s: max(s["current_a"]))
    session["current_a"] = [c * 3 for c in session["current_a"]]
    rules = {v.rule for v in smartcharge.check(problem, broken)}
    assert rules, "tripling a session's current must break some limit"


@pytest.mark.parametrize(
    "source",
    [
        lambda p: p,
        lambda p: str(p),
        lambda p: p.read_text(),
        lambda p: json.loads(p.read_text()),
    ],
    ids=["path", "str-path", "json-text", "dict"],
)
def test_problem_loads_from_any_source(source) -> None:
    path = EXAMPLES / "garage-8.json"
    problem = smartcharge.Problem.load(source(path))
    assert isinstance(problem, smartcharge.Problem)
    assert smartcharge.Problem.load(problem) is problem


def test_problem_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(smartcharge.ProblemError) as caught:
        smartcharge.Problem.load('{"site": {"id": 1}')
    assert "not valid JSON (line 1" in str(caught.value)
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(
        smartcharge.ProblemError, match=r"list\.json: a problem is an object, not list"
    ):
        smartcharge.Problem.load(listed)
    doc = json.loads((EXAMPLES / "garage-8.json").read_text())
    doc["sessions"][2]["charger_id"] = "cp-99"
    with pytest.raises(smartcharge.ProblemError, match=r"sessions\[2\]\.charger_id"):
        smartcharge.optimize(doc)
    with pytest.raises(FileNotFoundError):
        smartcharge.Problem.load(tmp_path / "missing.json")


def test_simulate_compares_strategies(tmp_path: Path) -> None:
    site, sessions = smartcharge.datasets.replay_week("workplace-week")
    table = pd.DataFrame(
        [
            {"session_id": s["id"], **{k: v for k, v in s.items() if k not in ("id",)}}
            for s in sessions[:5]
        ]
    )
    replay = smartcharge.simulate(site, table, "edf,offline", days=0.25, progress=False)
    assert replay.strategies == ["edf", "offline"]
    kpis = replay.kpis
    assert (
        kpis.loc["offline", "energy_delivered_kwh"]
        >= kpis.loc["edf", "energy_delivered_kwh"] - 1e-6
    )
    assert replay.plot(tmp_path / "replay.png").axes
    with pytest.raises(ValueError, match="strategies: unknown fastest"):
        smartcharge.simulate(site, sessions[:2], ["fastest"])
    with pytest.raises(KeyError, match="was not replayed"):
        replay.answer("milp")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_import_smartcharge_loads_no_heavy_stack() -> None:
    result = run_python(
        "import sys, smartcharge; smartcharge.Problem; "
        "print(sorted(m for m in ('pandas', 'pyomo', 'matplotlib', 'sqlalchemy', 'fastapi') "
        "if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("distributed", ["batch", "data/examples/garage-8.json"], "dask"),
        ("psycopg", ["serve", "--db", "postgresql://u@127.0.0.1:1/db"], "postgres"),
        ("psycopg", ["keys", "list", "--db", "postgresql://u@127.0.0.1:1/db"], "postgres"),
        ("distributed", ["serve", "--solver-pool", "dask://127.0.0.1:8786"], "dask"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(blocked: str, argv: list[str], extra: str) -> None:
    result = run_python(
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from smartcharge.api.cli import main\n"
        f"sys.exit(main({argv!r}))"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"smartcharge: error: {result.stderr.split('error: ')[1].strip()}"
    ]
    assert f"pip install 'smartcharge[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_is_the_installed_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartcharge.api.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"smartcharge {smartcharge.__version__}"
    assert smartcharge.__version__[0].isdigit()


def test_the_api_runs_without_the_console_extra_and_says_so() -> None:
    result = run_python(
        "import sys; sys.modules['jinja2'] = None\n"
        "from fastapi.testclient import TestClient\n"
        "from smartcharge.api.app import create_app\n"
        "from smartcharge.api.settings import Settings\n"
        "import tempfile, os\n"
        "url = 'sqlite:///' + os.path.join(tempfile.mkdtemp(), 'x.db')\n"
        "with TestClient(create_app(Settings(database_url=url, solver_pool='thread'))) as c:\n"
        "    page = c.get('/')\n"
        "    print(page.status_code, page.text)\n"
        "    print(c.get('/healthz').status_code)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "503 " + "The console needs the 'console' extra: " + (
        "pip install 'smartcharge[console]'"
    )
    assert lines[-1] == "200"
