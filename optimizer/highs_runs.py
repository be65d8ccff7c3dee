"""HiGHS instances as the engine uses them: silent on stdout, and run against a wall clock.

Two facts of HiGHS 1.x shape this module:
- `time_limit` is compared with the instance's *cumulative* run time (the clock is not reset
  by `run()`; HiGHS plans to change that in 2.0): a re-solve given "3 s" on an instance that has
  already run for 5 s stops at once. `run_until` therefore sets the limit as run time so far
  plus the seconds left to the deadline.
- The banner is printed to stdout by the first instance created while `output_flag` is on,
  which would corrupt `smartcharge optimize`'s JSON on stdout. `new_highs` switches the output
  off before the banner is written; `log_solver_to(sys.stderr)` (the CLI's `--verbose`) sends
  the solver log to a stream through HiGHS's logging callback instead of its console.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import highspy

_log_stream: TextIO | None = None


def log_solver_to(stream: TextIO | None) -> None:
    """Send the log of every HiGHS instance created from now on to `stream` (None: silent)."""
    global _log_stream
    _log_stream = stream


class _QuietHighs(highspy.Highs):
    """A HiGHS instance whose output is off before its first log line (the banner)."""

    def enableCallbacks(self) -> None:  # called by highspy.Highs.__init__
        self.setOptionValue("output_flag", False)
        super().enableCallbacks()


def new_highs(threads: int) -> highspy.Highs:
    """A silent HiGHS instance (logging to `log_solver_to`'s stream if one is set).

    HiGHS's thread scheduler is global to the process: every instance must ask for the same
    number of threads or its runs fail.
    """
    highs = _QuietHighs()
    highs.setOptionValue("threads", threads)
    stream = _log_stream
    if stream is not None:
        highs.setOptionValue("output_flag", True)
        highs.setOptionValue("log_to_console", False)
        highs.cbLogging.subscribe(lambda event: stream.write(event.message))
    return highs


@contextmanager
def c_stdout_to_stderr() -> Iterator[None]:
    """What C code prints to stdout (HiGHS's banner, from an instance another library creates)
    goes to stderr meanwhile. C's stdio buffer is flushed before fd 1 is given back, or the
    banner would still reach stdout later."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def run_until(highs: highspy.Highs, deadline: float, stall: StallStop | None = None) -> None:
    """Run `highs` until it is done or the wall clock reaches `deadline` (perf_counter s).

    A MIP is also interrupted from its callback once the deadline has passed (HiGHS checks its
    own limit only between phases of work) or when `stall` says its incumbent has stalled.
    """
    left_s = max(deadline - time.perf_counter(), 0.01)
    highs.setOptionValue("time_limit", highs.getRunTime() + left_s)
    guard = _Guard(deadline, stall)
    highs.cbMipInterrupt.subscribe(guard)
    try:
        highs.run()
    finally:
        highs.cbMipInterrupt.unsubscribe(guard)


class StallStop:
    """Stop a MIP whose best schedule has not improved by `min_improvement` for `stall_s`
    seconds after its root node: on these models branch and bound rarely moves a weak bound
    (a demand charge spread over semi-continuous currents), and the schedule found early is
    the one it returns. The root itself is never cut short by it (its incumbent is often a
    trivial one found before the root LP is even solved)."""

    def __init__(self, stall_s: float, min_improvement: float) -> None:
        self.stall_s = stall_s
        self.min_improvement = min_improvement
        self.best = math.inf
        self.improved_at = math.inf

    def stalled(self, out: highspy.cb.HighsCallbackOutput) -> bool:
        if out.mip_primal_bound < self.best - self.min_improvement:
            self.best = out.mip_primal_bound
            self.improved_at = out.running_time
        if out.mip_node_count < 1:
            self.improved_at = out.running_time
            return False
        return out.running_time - self.improved_at > self.stall_s


class _Guard:
    def __init__(self, deadline: float, stall: StallStop | None) -> None:
        self.deadline = deadline
        self.stall = stall

    def __call__(self, event: highspy.HighsCallbackEvent) -> None:
        late = time.perf_counter() > self.deadline
        if late or (self.stall is not None and self.stall.stalled(event.data_out)):
            event.interrupt()
