"""smartcharge: a smart-charging energy optimization engine for charge point operators.

The repository keeps `optimizer/`, `forecasting/` and `api/` at its top; installed, they are
`smartcharge.optimizer`, `smartcharge.forecasting` and `smartcharge.api`, and the shipped data
is `smartcharge/data`.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # `__version__` is read from the installed metadata on first use: importlib.metadata costs
    # every process 60 ms of start-up, which a command or a solver worker need not pay.
    if name != "__version__":
        raise AttributeError(f"module 'smartcharge' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smartcharge")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
