"""Write the PV climates of `data/pv/` beside Payerne from pvlib's own data (re-runnable).

    python -m benchmarks.make_pv_climates PSM3_FILE

- Greensboro NC and Sand Point AK: the TMY3 files pvlib installs (`pvlib/data/723170TYA.CSV`,
  `703165TY.csv`). TMY3 values are the hour *ending* at their local-standard-time stamp; the
  cut stamps each hour with its start in UTC. The year is a composite (each month from another
  year): the cut puts it on 2021, a year without 29 February, as pvlib's `coerce_year` does.
- The Colorado plateau (NSRDB 401182, 40.53 N 108.54 W, 2168 m), 2017: pvlib's test file
  `tests/data/test_read_psm3.csv` (PSM3 v3.2.2, 30-minute; PSM3_FILE is its path in a pvlib
  checkout). PSM3 values are for the instant of their stamp (the file's solar zenith is the
  sun's at that instant); the cut gives each half-hour the mean of the values at its two ends
  (the trapezoid rule), stamped with its start in UTC.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pvlib

PV_DATA = Path(__file__).resolve().parent.parent / "data" / "pv"
COLUMNS = ["ghi", "dni", "dhi", "temp_air", "wind_speed"]
TMY3 = {"greensboro": "723170TYA.CSV", "sand_point": "703165TY.csv"}


def _write(table: pd.DataFrame, name: str) -> Path:
    table = table[COLUMNS].round(1)
    table.index = table.index.tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")
    path = PV_DATA / name
    table.rename_axis("time_utc").to_csv(path, compression={"method": "gzip", "mtime": 0})
    return path


def tmy3_cut(file_name: str) -> pd.DataFrame:
    source = Path(pvlib.__file__).parent / "data" / file_name
    data, _ = pvlib.iotools.read_tmy3(source, coerce_year=2021, map_variables=True)
    return data.set_axis(data.index - pd.Timedelta(hours=1))  # hour ending -> hour starting


def psm3_cut(source: Path) -> pd.DataFrame:
    data, _ = pvlib.iotools.read_nsrdb_psm4(source, map_variables=True)
    instants = data[COLUMNS].astype(float)
    means = (instants + instants.shift(-1)) / 2  # [t, t + 30 min) from its two ends
    return means.iloc[:-1]


def main(argv: list[str]) -> int:
    for site, file_name in TMY3.items():
        print(_write(tmy3_cut(file_name), f"tmy3_{site}_60min.csv.gz"))
    if argv:
        print(_write(psm3_cut(Path(argv[0])), "nsrdb_psm3_colorado_2017_30min.csv.gz"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
