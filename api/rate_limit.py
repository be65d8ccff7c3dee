"""Per-key request rates: a token bucket per key, in this process.

Each key may make `rate_per_s` requests a second on average and `burst` at once; past that a
request is refused with 429 and `Retry-After` (when the next token is there), so a client
retrying in a loop slows down to what the bucket allows instead of starving every other tenant.
Buckets live in the API process: N processes behind a load balancer allow a key N times its
rate at most (the database is not asked, so a flood costs no writes).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate_per_s: float | None = None) -> float:
        """0 when the request may go ahead (a token taken), else the seconds until it may."""
        rate = rate_per_s or self.rate_per_s
        burst = max(self.burst, rate)  # a key's own rate above the default burst keeps its rate
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate


def retry_after_header(wait_s: float) -> dict[str, str]:
    """HTTP's Retry-After is whole seconds: rounded up, so a client that obeys it succeeds."""
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
