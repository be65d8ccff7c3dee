"""Many sites planned in parallel on a Dask cluster (`dask.distributed`).

A `LocalCluster` when no scheduler is given, the same code on Kubernetes, SLURM or a cloud
cluster when one is: one task per site, one HiGHS thread per task, answers streamed to a
folder as they finish. A site whose input is bad is reported with its reason and never retried
(it would fail again); a solver error or a lost worker is retried by Dask. Each answer is
written once, when its task's result first arrives.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RETRIES = 2


@dataclass
class SiteResult:
    name: str
    status: str  # an answer status, or "invalid" / "error"
    seconds: float
    gap: float | None = None
    reason: str | None = None
    answer: dict[str, Any] | None = field(default=None, repr=False)


def plan_site(name: str, problem: dict[str, Any]) -> SiteResult:
    """One site, in a worker: the answer, or the reason the input is bad."""
    from smartcharge.api.service import plan
    from smartcharge.optimizer.problem import ProblemError

    started = time.perf_counter()
    try:
        _, answer = plan(problem)
    except ProblemError as exc:
        return SiteResult(name, "invalid", time.perf_counter() - started, reason=str(exc))
    return SiteResult(
        name,
        answer["status"],
        time.perf_counter() - started,
        gap=answer["solver"].get("mip_gap"),
        answer=answer,
    )


def local_client(n_workers: int = 2):
    """A `LocalCluster` of single-threaded worker processes and its client."""
    from dask.distributed import Client, LocalCluster

    from smartcharge.api.solver_pool import preload_on_workers

    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    preload_on_workers(client)
    return client


def plan_many(
    problems: Iterable[tuple[str, dict[str, Any]]],
    client=None,
    out_dir: Path | None = None,
    progress: bool = True,
    on_result=None,
) -> list[SiteResult]:
    """Plan every (name, problem) on the cluster behind `client` (a local one if None).

    `on_result(result)` is called as each site finishes (notebooks stream with it).
    """
    from dask.distributed import as_completed

    own_client = client is None
    client = client or local_client()
    try:
        futures = {
            client.submit(plan_site, name, doc, key=f"plan-{name}", retries=RETRIES): name
            for name, doc in problems
        }
        results = []
        bar = _progress(len(futures), progress)
        for future in as_completed(futures):
            name = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # retries exhausted: report, let the others go on
                result = SiteResult(name, "error", 0.0, reason=f"{type(exc).__name__}: {exc}")
            if out_dir is not None and result.answer is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{name}.answer.json").write_text(json.dumps(result.answer))
            results.append(result)
            bar.update(1)
            if on_result is not None:
                on_result(result)
        bar.close()
        return results
    finally:
        if own_client:
            cluster = client.cluster
            client.close()
            cluster.close()


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="sites", unit="site", disable=not enabled, file=sys.stderr)


def summary(results: list[SiteResult]) -> str:
    """Statuses, gaps and time per site, as a few lines of text."""
    statuses = Counter(r.status for r in results)
    seconds = [r.seconds for r in results if r.answer is not None]
    gaps = [r.gap for r in results if r.gap is not None]
    lines = [
        f"{len(results)} sites: "
        + ", ".join(f"{count} {status}" for status, count in statuses.most_common()),
    ]
    if seconds:
        lines.append(
            f"time per site: median {statistics.median(seconds):.2f} s, "
            f"max {max(seconds):.2f} s, total {sum(seconds):.1f} s"
        )
    if gaps:
        lines.append(
            f"gap: median {100 * statistics.median(gaps):.3f} %, max {100 * max(gaps):.3f} %"
        )
    for r in results:
        if r.reason:
            lines.append(f"  {r.name}: {r.status}: {r.reason}")
    return "\n".join(lines)
