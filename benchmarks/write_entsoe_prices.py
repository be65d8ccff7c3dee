"""Write `data/prices/entsoe_day_ahead_NL_2024-11.csv`: the Dutch day-ahead prices already
shipped (`data/prices/nl_day_ahead_2024-11.csv`) in the layout of a CSV exported from the ENTSO-E
Transparency Platform (rebuilt platform, times in CET/CEST), cut to whole local days, so that
`smartcharge prices import` has a real file to read and the service replay feeds real prices.

    python -m benchmarks.write_entsoe_prices
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

PRICES = Path(__file__).resolve().parent.parent / "data" / "prices"
SOURCE = PRICES / "nl_day_ahead_2024-11.csv"
TARGET = PRICES / "entsoe_day_ahead_NL_2024-11.csv"
LOCAL = "Europe/Amsterdam"


def main() -> int:
    table = pd.read_csv(SOURCE)
    start = pd.DatetimeIndex(pd.to_datetime(table["time_utc"], utc=True)).tz_convert(LOCAL)
    # The first local day is cut short (the data start at 01:00), the last runs into December.
    whole_days = (start.normalize() > start[0].normalize()) & (start.month == 11)
    rows = []
    for begin, price in zip(start[whole_days], table["price_eur_per_mwh"][whole_days], strict=True):
        end = begin + pd.Timedelta(hours=1)
        mtu = f"{begin:%d/%m/%Y %H:%M:%S} - {end:%d/%m/%Y %H:%M:%S}"
        rows.append([mtu, "BZN|NL", "Without Sequence", f"{price:.2f}"])
    with TARGET.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["MTU (CET/CEST)", "Area", "Sequence", "Day-ahead Price (EUR/MWh)"])
        writer.writerows(rows)
    print(f"wrote {TARGET} ({len(rows)} hours)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
