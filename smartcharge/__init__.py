"""smartcharge: a smart-charging energy optimization engine for charge point operators.

The repository keeps `optimizer/`, `forecasting/` and `api/` at its top; installed, they are
`smartcharge.optimizer`, `smartcharge.forecasting` and `smartcharge.api`, and the shipped data
is `smartcharge/data`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smartcharge")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
