"""The service's clock: the one place "now" comes from for what a plan is about (its horizon
start, the billing period, which grid-operator windows are in force, what has departed, what
retention prunes).

Production uses the system clock. A test or a benchmark hands `create_app(clock=...)` a
`SimulatedClock` and moves it itself, so the service can be driven through a week in minutes.
Nothing in the settings, the environment or the HTTP API can replace the clock: a running
service always plans on the wall clock. Audit stamps (when a row was received, when a plan
started solving) stay on the wall clock either way.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that stands still until it is set or advanced (thread-safe: routes read it from
    the thread pool while a driver moves it)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("SimulatedClock.set needs a timezone-aware time")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now
