"""A cold `smartcharge optimize`, end to end: a new process per run, as a user or a cron job
starts it.

Problems: the tiny one (2 sessions, 3 slots) and the hard recipe (`benchmarks.generator.HARD`)
at 200 and 1000 chargers x 96 slots. For each, the median wall time and CPU time of `--repeat`
runs of the installed command (`--out`, so that printing the answer is not timed), beside the
interpreter alone and the interpreter importing numpy, highspy and pydantic (the floor of any
plan). Then `python -X importtime` of a tiny plan: the total import time, the largest imports,
and which heavy libraries a plan with given forecasts loads (none should).

    python -m benchmarks.cold_start [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("pyomo", "pandas", "scipy", "sqlalchemy", "alembic", "fastapi", "matplotlib", "sklearn")
TINY = {
    "site": {
        "id": "tiny",
        "grid": {"import_limit_kw": 20.0},
        "chargers": [{"id": "c1", "max_current_a": 16.0}, {"id": "c2", "max_current_a": 16.0}],
    },
    "horizon": {"start": "2026-01-01T00:00:00+00:00", "step_minutes": 15, "slots": 3},
    "sessions": [
        {
            "id": f"s{i}",
            "charger_id": f"c{i}",
            "arrival": "2026-01-01T00:00:00+00:00",
            "departure": "2026-01-01T01:00:00+00:00",
            "energy_kwh": 5.0,
        }
        for i in (1, 2)
    ],
}


def timed(command: list[str], repeat: int) -> tuple[float, float]:
    """(median wall s, median CPU s of the child) over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def import_report(problem: Path) -> tuple[float, list[tuple[float, str]], list[str]]:
    """(total import s, the largest self times, heavy libraries loaded) of one cold plan."""
    code = (
        "import io, json, sys\n"
        "from smartcharge.api.cli import main\n"
        "out, sys.stdout = sys.stdout, io.StringIO()\n"
        f"main(['optimize', {str(problem)!r}])\n"
        "sys.stdout = out\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    rows = re.findall(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", run.stderr)
    top_level = [
        (int(cumulative), name) for _, cumulative, name in rows if not name.startswith(" ")
    ]
    total_s = sum(c for c, name in top_level if "." not in name or name.count(".") == 0) / 1e6
    largest = sorted(((int(own) / 1e6, name) for own, _, name in rows), reverse=True)[:8]
    modules = {name.split(".")[0] for name in json.loads(run.stdout.strip().splitlines()[-1])}
    return total_s, largest, sorted(modules & set(HEAVY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    from benchmarks.generator import hard_problem

    command = [str(Path(sys.executable).with_name("smartcharge"))]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "smartcharge.api.cli"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        problems = {
            "tiny problem (2 sessions, 3 slots)": TINY,
            "hard 200 x 96 (gap 0.001)": hard_problem(200),
            "hard 1000 x 96 (gap 0.001)": hard_problem(1000),
        }
        rows = [
            ("python -c pass", *timed([sys.executable, "-c", "pass"], args.repeat)),
            (
                "python -c 'import numpy, highspy, pydantic'",
                *timed([sys.executable, "-c", "import numpy, highspy, pydantic"], args.repeat),
            ),
        ]
        for name, doc in problems.items():
            path = work / f"{len(rows)}.json"
            path.write_text(json.dumps(doc))
            out = work / f"{len(rows)}.answer.json"
            repeat = args.repeat if len(doc["sessions"]) < 500 else max(3, args.repeat // 2)
            rows.append(
                (
                    f"smartcharge optimize: {name}",
                    *timed([*command, "optimize", str(path), "--out", str(out)], repeat),
                )
            )
        tiny = work / "tiny.json"
        tiny.write_text(json.dumps(TINY))
        total_s, largest, heavy = import_report(tiny)

    print("| process | wall s (median) | CPU s (median) |")
    print("|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    print()
    print(f"Imports of a tiny plan (python -X importtime): {total_s:.3f} s in all; largest own:")
    for seconds, name in largest:
        print(f"- {name.strip()}: {seconds * 1000:.1f} ms")
    print(f"Heavy libraries loaded by a plan with given forecasts: {', '.join(heavy) or 'none'}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
