"""Prometheus metrics of one app: solve durations and outcomes, how many solves wait, and the
faults met on the way (workers lost, a database away, keys over their rate)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SOLVE_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.solve_seconds = Histogram(
            "smartcharge_solve_duration_seconds",
            "Wall time of one solve, including forecasts and OCPP payloads.",
            ["kind"],
            buckets=SOLVE_BUCKETS_S,
            registry=self.registry,
        )
        self.solves = Counter(
            "smartcharge_solves",
            "Solves by kind and answer status (optimal, feasible, fallback, error, ...).",
            ["kind", "status"],
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "smartcharge_solve_queue_length",
            "Solves submitted to the solver pool and not finished.",
            registry=self.registry,
        )
        self.solver_retries = Counter(
            "smartcharge_solver_retries",
            "Solves whose worker process died and were retried on a fresh one (worker_lost), "
            "and solves abandoned past their deadline (abandoned: the fallback was answered).",
            ["reason"],
            registry=self.registry,
        )
        self.unavailable = Counter(
            "smartcharge_database_unavailable_responses",
            "Requests answered 503 because the database was locked or unreachable.",
            ["reason"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "smartcharge_rate_limited_responses",
            "Requests refused with 429 because their key was over its rate.",
            registry=self.registry,
        )
        self.replans_pending = Gauge(
            "smartcharge_replans_pending",
            "Sites with a re-plan waiting for its debounce or for the site's lease.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
