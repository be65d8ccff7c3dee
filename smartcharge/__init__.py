"""smartcharge: how many amperes each plugged-in EV gets.

A smart-charging optimization engine for charge point operators: a MILP (HiGHS) that plans
every session's current under grid, phase and circuit limits, tariffs, demand charges and PV,
with base-load and PV forecasts and OCPP ``SetChargingProfile`` payloads for each charger.

The public API, for notebooks and programs:

- :func:`optimize` — plan a problem (SPEC §1) → :class:`Answer` (SPEC §2 JSON, DataFrames, plot)
- :class:`Problem` — parse and validate a problem from a dict, a JSON file or JSON text
- :func:`check` — every hard limit an answer breaks (the independent checker)
- :func:`forecast` — the base load and PV a plan would use, with P10–P90 bands
- :func:`backtest` — how well those forecasts would have done on a measured series
- :func:`simulate` — replay sessions under several strategies → :class:`Replay`
- :mod:`smartcharge.datasets` — the real data the package ships

The packages below (`smartcharge.optimizer`, `smartcharge.forecasting`, `smartcharge.api`) are
the engine's parts; their names may change between releases, these do not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartcharge import datasets
    from smartcharge.answer import Answer
    from smartcharge.backtests import Backtest, backtest
    from smartcharge.engine import check, forecast, optimize
    from smartcharge.optimizer.check import Violation
    from smartcharge.optimizer.problem import Problem, ProblemError
    from smartcharge.replay import Replay, simulate

__all__ = [
    "Answer",
    "Backtest",
    "Problem",
    "ProblemError",
    "Replay",
    "Violation",
    "__version__",
    "backtest",
    "check",
    "datasets",
    "forecast",
    "optimize",
    "simulate",
]

# Loaded on first use: `import smartcharge` (and so every `smartcharge` command, solver-pool
# process and Dask worker) must not pay for pandas, Pyomo or matplotlib it does not need.
_LAZY = {
    "Answer": "smartcharge.answer",
    "Backtest": "smartcharge.backtests",
    "backtest": "smartcharge.backtests",
    "Problem": "smartcharge.optimizer.problem",
    "ProblemError": "smartcharge.optimizer.problem",
    "Replay": "smartcharge.replay",
    "Violation": "smartcharge.optimizer.check",
    "check": "smartcharge.engine",
    "forecast": "smartcharge.engine",
    "optimize": "smartcharge.engine",
    "simulate": "smartcharge.replay",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # Read from the installed metadata on first use: importlib.metadata costs every
        # process tens of ms of start-up, which a command or a solver worker need not pay.
        from importlib.metadata import PackageNotFoundError, version

        try:
            globals()[name] = version("smartcharge")
        except PackageNotFoundError:  # a source tree that was never installed
            globals()[name] = "0+unknown"
        return globals()[name]
    if name == "datasets":
        return importlib.import_module("smartcharge.datasets")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'smartcharge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
