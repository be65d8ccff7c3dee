"""Where the data the package ships lives.

`data/` sits beside `optimizer/` in a source tree and becomes `smartcharge/data` beside
`smartcharge/optimizer` in the wheel: one relative path finds it in both.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
EXAMPLES_DIR = DATA_DIR / "examples"
