"""Day-ahead prices from a CSV exported by hand from the ENTSO-E Transparency Platform
(Market > Energy Prices > Day-ahead Prices, "Export Data" as CSV), in either of its layouts:

- the platform before its 2024/25 rebuild:
  `"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|NL"` with rows such as
  `"01.11.2024 00:00 - 01.11.2024 01:00","116.00","EUR","BZN|NL"` (older files have only the
  first two columns, or `MTU (CET)`);
- the rebuilt platform: `"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)"` with
  rows such as `"01/11/2024 00:00:00 - 01/11/2024 01:00:00","BZN|NL","Without Sequence","116.00"`;
  around a clock change a time may carry its offset's name: `... 02:00:00 (CEST) - ...`.

The MTU column names the time zone of the times (the export's choice): `CET/CEST` (Central
European local time), `UTC`, `EET/EEST`, `WET/WEST`. On the autumn day the local hour after
02:00 occurs twice; unmarked, the first is summer time (the file runs in time order). Hourly and
15-minute files alike; cells without a price (`-`, `n/e`, empty: not published yet) are dropped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ZONES = {
    "CET/CEST": "Europe/Brussels",
    "CET": "Europe/Brussels",  # older exports: the same local time under a shorter name
    "EET/EEST": "Europe/Athens",
    "WET/WEST": "Europe/Lisbon",
    "UTC": "UTC",
}
SUMMER_NAMES = {"CEST", "EEST", "WEST"}
MISSING = {"", "-", "n/e", "N/A", "n/a"}
MTU_HEADER = re.compile(r"^MTU \((?P<zone>[A-Z/]+)\)$")
PRICE_HEADER = re.compile(r"^Day-ahead Price [\[(](?P<currency>[A-Z]{3})/MWh[\])]$")
# `01.11.2024 00:00`, `01/11/2024 00:00:00`, optionally followed by ` (CET)` or ` (CEST)`.
TIME = re.compile(
    r"(?P<day>\d{2})[./](?P<month>\d{2})[./](?P<year>\d{4}) "
    r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::\d{2})?(?: \((?P<name>[A-Z]+)\))?"
)


class EntsoeFormatError(ValueError):
    """A file that is not a day-ahead price export, or a row that cannot be read: the
    message names the row or column and what is wrong."""


@dataclass(frozen=True)
class DayAheadPrices:
    """Prices per market time unit: `start_utc[i]` to `end_utc[i]` costs `per_mwh[i]`."""

    start_utc: pd.DatetimeIndex
    end_utc: pd.DatetimeIndex
    per_mwh: np.ndarray
    currency: str
    area: str | None


def read_day_ahead_csv(source: Path | str, area: str | None = None) -> DayAheadPrices:
    """The prices of an export (a path, or the file's text). `area` (e.g. `BZN|NL`) picks one
    bidding zone from an export holding several."""
    text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise EntsoeFormatError("the file is empty")
    delimiter = _delimiter(text)
    table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
    columns = [c.strip() for c in table.columns]
    table.columns = columns
    mtu = next((c for c in columns if MTU_HEADER.match(c)), None)
    price = next((c for c in columns if PRICE_HEADER.match(c)), None)
    if mtu is None or price is None:
        raise EntsoeFormatError(
            "not an ENTSO-E day-ahead price export: expected columns 'MTU (…)' and "
            f"'Day-ahead Price [EUR/MWh]' or '(EUR/MWh)', found {columns}"
        )
    zone = MTU_HEADER.match(mtu)["zone"]
    if zone not in ZONES:
        raise EntsoeFormatError(f"column {mtu!r}: unknown time zone {zone} (known: {list(ZONES)})")
    table, found_area = _one_area(table, area)
    table = _one_sequence(table)
    table = table[~table[price].str.strip().isin(MISSING)]
    if table.empty:
        raise EntsoeFormatError(f"column {price!r}: no prices in the file")
    rows = table.index.to_numpy() + 2  # the file's line numbers, for messages
    per_mwh = _prices(table[price], rows, price)
    start_utc, end_utc = _intervals(table[mtu], rows, ZONES[zone], mtu)
    order = np.argsort(start_utc.asi8, kind="stable")
    if np.any(np.diff(start_utc.asi8[order]) == 0):
        duplicate = rows[order][1:][np.diff(start_utc.asi8[order]) == 0][0]
        raise EntsoeFormatError(f"line {duplicate}: a second price for the same time")
    return DayAheadPrices(
        start_utc[order],
        end_utc[order],
        per_mwh[order],
        PRICE_HEADER.match(price)["currency"],
        found_area,
    )


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _one_area(table: pd.DataFrame, area: str | None) -> tuple[pd.DataFrame, str | None]:
    if "Area" not in table.columns:
        return table, area
    areas = sorted(set(table["Area"].str.strip()))
    if area is not None:
        if area not in areas:
            raise EntsoeFormatError(f"--area {area}: not in the file (it holds {areas})")
        return table[table["Area"].str.strip() == area], area
    if len(areas) > 1:
        raise EntsoeFormatError(f"the file holds several areas {areas}: pick one with --area")
    return table, areas[0] if areas else None


def _one_sequence(table: pd.DataFrame) -> pd.DataFrame:
    """Where the auction ran in several sequences, the first one's prices (the day-ahead
    auction proper); rows marked 'Without Sequence' where there is only one."""
    if "Sequence" not in table.columns:
        return table
    sequences = table["Sequence"].str.strip()
    if (sequences == "Without Sequence").any():
        return table[sequences == "Without Sequence"]
    numbered = sequences.str.extract(r"(\d+)\s*$")[0].astype(float)
    return table[numbered == numbered.min()] if numbered.notna().any() else table


def _prices(column: pd.Series, rows: np.ndarray, name: str) -> np.ndarray:
    values = pd.to_numeric(column.str.strip().str.replace(",", "", regex=False), errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EntsoeFormatError(
            f"line {rows[first]}, {name!r}: {column.iloc[first]!r} is not a price"
        )
    return values.to_numpy(dtype=float)


def _intervals(
    column: pd.Series, rows: np.ndarray, zone: str, name: str
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Each row's start and end in UTC. Starts are localised in file order (the second of two
    equal unmarked local times is winter time). An end is the start plus the interval's length
    on the local clock, which is its real length except at a clock change, where the rows
    run on in time order anyway (`02:45 (CEST) - 02:00 (CET)`): there the file's usual length."""
    parts = column.str.split(" - ", n=1, regex=False)
    if (parts.str.len() != 2).any():
        first = int(np.flatnonzero((parts.str.len() != 2).to_numpy())[0])
        raise EntsoeFormatError(f"line {rows[first]}, {name!r}: expected 'start - end'")
    starts = [_time(p[0], rows[i], name) for i, p in enumerate(parts)]
    ends = [_time(p[1], rows[i], name) for i, p in enumerate(parts)]
    naive_start = pd.DatetimeIndex([s[0] for s in starts])
    length = pd.DatetimeIndex([e[0] for e in ends]) - naive_start
    usual = length[length > pd.Timedelta(0)]
    if usual.empty:
        raise EntsoeFormatError(f"{name!r}: every interval ends before it starts")
    length = length.where(length > pd.Timedelta(0), usual.median())
    if zone == "UTC":
        start = naive_start.tz_localize("UTC")
        return start, start + length
    first_seen = ~pd.Series(naive_start).duplicated(keep="first").to_numpy()
    summer = np.array(
        [
            label in SUMMER_NAMES if label else first
            for (_, label), first in zip(starts, first_seen, strict=True)
        ]
    )
    try:
        start = naive_start.tz_localize(zone, ambiguous=summer, nonexistent="raise")
    except Exception as exc:  # the error's type differs between pandas versions
        raise EntsoeFormatError(
            f"{name!r}: a time that does not exist on the local clock ({exc})"
        ) from None
    start = start.tz_convert("UTC")
    return start, start + length


def _time(text: str, row: int, name: str) -> tuple[pd.Timestamp, str | None]:
    match = TIME.fullmatch(text.strip())
    if match is None:
        raise EntsoeFormatError(f"line {row}, {name!r}: cannot read the time {text.strip()!r}")
    naive = pd.Timestamp(
        year=int(match["year"]),
        month=int(match["month"]),
        day=int(match["day"]),
        hour=int(match["hour"]),
        minute=int(match["minute"]),
    )
    return naive, match["name"]
