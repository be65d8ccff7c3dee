"""A cold `smartcharge optimize` loads only what planning needs, and its stdout is the answer.

What is imported is checked on `sys.modules` in a fresh interpreter (not a timing: the speed is
measured by `benchmarks/cold_start.py`). HiGHS's banner and log never reach stdout, so the
answer pipes into `jq`; `--verbose` sends the solver's log to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "workplace-20.json"
NOT_FOR_PLANNING = ("pyomo", "pandas", "sqlalchemy", "alembic", "fastapi", "matplotlib", "sklearn")

MODULES_AFTER_OPTIMIZE = """
import io, json, sys
from smartcharge.api.cli import main
stdout, sys.stdout = sys.stdout, io.StringIO()
code = main(["optimize", sys.argv[1]])
sys.stdout = stdout
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_optimize_with_given_forecasts_loads_no_heavy_library():
    doc = json.loads(EXAMPLE.read_text())
    assert doc["base_load_kw"] is not None and doc["pv_kw"] is not None  # forecasts given
    result = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER_OPTIMIZE, str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert loaded.isdisjoint(NOT_FOR_PLANNING), sorted(loaded & set(NOT_FOR_PLANNING))
    assert "highspy" in loaded  # the solver did run


def _smartcharge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smartcharge.api.cli", *args],
        capture_output=True,
        text=True,
        check=True,
    )


def test_stdout_is_only_the_answer_and_verbose_logs_to_stderr():
    quiet = _smartcharge("optimize", str(EXAMPLE))
    assert json.loads(quiet.stdout)["status"] == "optimal"  # nothing but JSON on stdout
    assert "HiGHS" not in quiet.stdout and "HiGHS" not in quiet.stderr

    verbose = _smartcharge("optimize", str(EXAMPLE), "--verbose")
    assert json.loads(verbose.stdout)["status"] == "optimal"
    assert "Coefficient ranges" in verbose.stderr  # the solver's own log


def test_the_pyomo_reference_prints_no_banner_on_stdout(tmp_path):
    doc = json.loads(EXAMPLE.read_text())
    doc["options"] = {**doc.get("options", {}), "model": "pyomo"}
    path = tmp_path / "pyomo.json"
    path.write_text(json.dumps(doc))
    answer = json.loads(_smartcharge("optimize", str(path)).stdout)
    assert answer["solver"]["model"] == "pyomo"


def _solver_stack_loaded() -> bool:
    return "smartcharge.api.service" in sys.modules and "highspy" in sys.modules


def test_solver_processes_start_with_the_solver_stack_loaded():
    import asyncio

    from smartcharge.api.solver_pool import make_pool

    pool = make_pool("process", 1)
    try:
        assert asyncio.run(pool.run(_solver_stack_loaded))
    finally:
        pool.close()
