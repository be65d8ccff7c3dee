"""Sites per second: sequential vs a Dask LocalCluster of 2 workers, on the same sites.

    python -m benchmarks.batch_scale [--sites 500]

Sites are seeded, 20 to 200 chargers each (`benchmarks.generator`), 96 quarter-hours.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from benchmarks.generator import generate_problem
from smartcharge.api.batch import local_client, plan_many, plan_site


def sites(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 201, n)
    return [(f"site-{i}", generate_problem(int(size), seed=i)) for i, size in enumerate(sizes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    args = parser.parse_args(argv)
    problems = sites(args.sites)
    chargers = [len(doc["site"]["chargers"]) for _, doc in problems]
    print(
        f"{len(problems)} sites, {min(chargers)}-{max(chargers)} chargers, {sum(chargers)} in all",
        file=sys.stderr,
    )

    started = time.perf_counter()
    sequential = [plan_site(name, doc) for name, doc in problems]
    sequential_s = time.perf_counter() - started

    client = local_client(n_workers=2)
    try:
        client.run(lambda: __import__("smartcharge.api.service"))  # warm the workers' imports
        started = time.perf_counter()
        parallel = plan_many(problems, client, progress=True)
        parallel_s = time.perf_counter() - started
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()

    per_site = [r.seconds for r in sequential]
    print("| run | sites | wall s | sites / s | per-site median s | per-site p95 s | statuses |")
    print("|---|---|---|---|---|---|---|")
    for name, results, wall in (
        ("sequential, 1 process", sequential, sequential_s),
        ("LocalCluster, 2 workers x 1 thread", parallel, parallel_s),
    ):
        statuses = ", ".join(
            f"{s}: {sum(r.status == s for r in results)}"
            for s in sorted({r.status for r in results})
        )
        seconds = [r.seconds for r in results]
        print(
            f"| {name} | {len(results)} | {wall:.1f} | {len(results) / wall:.2f} "
            f"| {statistics.median(seconds):.3f} | {np.percentile(seconds, 95):.3f} "
            f"| {statuses} |"
        )
    print(
        f"\nspeed-up {sequential_s / parallel_s:.2f}x; "
        f"per-site mean {statistics.mean(per_site):.3f} s sequential"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
