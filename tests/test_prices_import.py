"""ENTSO-E day-ahead CSV exports (both platform layouts, both clock changes, 15-minute and
hourly, several areas and sequences) and `smartcharge prices import`, through a running
service and straight into the database, on both databases; bad input is one line and exit 2."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartcharge.api.app import create_app
from smartcharge.api.cli import main
from smartcharge.api.entsoe import EntsoeFormatError, read_day_ahead_csv
from smartcharge.api.settings import Settings
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import caller_for_key, create_key
from smartcharge.api.store.prices import held_prices
from smartcharge.api.store.sites import create_site, get_site
from tests.service_harness import SERVICE_DEFAULTS, site_document
from tests.test_service_schema import serve_in_thread

DATA = Path(__file__).parent.parent / "data" / "prices"
SHIPPED = DATA / "entsoe_day_ahead_NL_2024-11.csv"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_the_shipped_export_holds_the_shipped_prices():
    prices = read_day_ahead_csv(SHIPPED)
    assert (prices.currency, prices.area, len(prices.per_mwh)) == ("EUR", "BZN|NL", 696)
    assert prices.start_utc[0] == utc("2024-11-01 23:00")  # 2 November, 00:00 in Amsterdam
    assert prices.end_utc[-1] == utc("2024-11-30 23:00")
    source = pd.read_csv(DATA / "nl_day_ahead_2024-11.csv", index_col="time_utc")
    source.index = pd.to_datetime(source.index, utc=True)
    np.testing.assert_allclose(
        prices.per_mwh, source["price_eur_per_mwh"].reindex(prices.start_utc).to_numpy()
    )


LEGACY_AUTUMN = """\
"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|NL"
"27.10.2024 01:00 - 27.10.2024 02:00","80.10","EUR","BZN|NL"
"27.10.2024 02:00 - 27.10.2024 03:00","75.20","EUR","BZN|NL"
"27.10.2024 02:00 - 27.10.2024 03:00","-3.40","EUR","BZN|NL"
"27.10.2024 03:00 - 27.10.2024 04:00","70.00","EUR","BZN|NL"
"""


def test_legacy_layout_on_the_autumn_clock_change():
    prices = read_day_ahead_csv(LEGACY_AUTUMN)
    # 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET: four hours in a row, negative price kept.
    assert list(prices.start_utc) == [
        utc("2024-10-26 23:00") + pd.Timedelta(hours=h) for h in range(4)
    ]
    assert list(prices.per_mwh) == [80.1, 75.2, -3.4, 70.0]
    assert prices.end_utc[-1] == utc("2024-10-27 03:00")


def test_legacy_layout_on_the_spring_clock_change_and_unpublished_days():
    text = (
        '"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n'
        '"31.03.2024 01:00 - 31.03.2024 02:00","60.00"\n'
        '"31.03.2024 03:00 - 31.03.2024 04:00","61.00"\n'
        '"01.04.2024 00:00 - 01.04.2024 01:00","-"\n'
        '"01.04.2024 01:00 - 01.04.2024 02:00",""\n'
    )
    prices = read_day_ahead_csv(text)
    assert list(prices.start_utc) == [utc("2024-03-31 00:00"), utc("2024-03-31 01:00")]
    assert prices.currency == "EUR" and prices.area is None


REBUILT_QUARTERS = """\
"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)"
"26/10/2025 02:30:00 (CEST) - 26/10/2025 02:45:00 (CEST)","BZN|DE-LU","Sequence Sequence 1","50.00"
"26/10/2025 02:30:00 (CEST) - 26/10/2025 02:45:00 (CEST)","BZN|DE-LU","Sequence Sequence 2","99.00"
"26/10/2025 02:45:00 (CEST) - 26/10/2025 02:00:00 (CET)","BZN|DE-LU","Sequence Sequence 1","51.00"
"26/10/2025 02:45:00 (CEST) - 26/10/2025 02:00:00 (CET)","BZN|DE-LU","Sequence Sequence 2","99.00"
"26/10/2025 02:00:00 (CET) - 26/10/2025 02:15:00 (CET)","BZN|DE-LU","Sequence Sequence 1","52.00"
"26/10/2025 02:00:00 (CET) - 26/10/2025 02:15:00 (CET)","BZN|DE-LU","Sequence Sequence 2","99.00"
"""


def test_rebuilt_layout_quarter_hours_with_marked_offsets_and_sequences():
    prices = read_day_ahead_csv(REBUILT_QUARTERS)
    assert list(prices.start_utc) == [
        utc("2025-10-26 00:30"),
        utc("2025-10-26 00:45"),
        utc("2025-10-26 01:00"),
    ]
    assert list(prices.per_mwh) == [50.0, 51.0, 52.0]  # the first sequence only
    assert list(prices.end_utc - prices.start_utc) == [pd.Timedelta(minutes=15)] * 3
    assert prices.area == "BZN|DE-LU"


def test_several_areas_need_one_picked_and_utc_exports_read_as_utc():
    text = (
        '"MTU (UTC)","Area","Sequence","Day-ahead Price (EUR/MWh)"\n'
        '"01/11/2024 00:00:00 - 01/11/2024 01:00:00","BZN|NL","Without Sequence","10.0"\n'
        '"01/11/2024 00:00:00 - 01/11/2024 01:00:00","BZN|BE","Without Sequence","20.0"\n'
    )
    with pytest.raises(EntsoeFormatError, match="several areas"):
        read_day_ahead_csv(text)
    belgium = read_day_ahead_csv(text, area="BZN|BE")
    assert list(belgium.per_mwh) == [20.0] and belgium.start_utc[0] == utc("2024-11-01 00:00")
    with pytest.raises(EntsoeFormatError, match=r"--area BZN\|FR"):
        read_day_ahead_csv(text, area="BZN|FR")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ('"time","price"\n"x","1"\n', "not an ENTSO-E day-ahead price export"),
        (
            '"MTU (PST)","Day-ahead Price [EUR/MWh]"\n"01.11.2024 00:00 - 01.11.2024 01:00","1"\n',
            "PST",
        ),
        ('"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n"tomorrow - later","1"\n', "line 2"),
        (
            '"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n'
            '"01.11.2024 00:00 - 01.11.2024 01:00","abc"\n',
            "line 2",
        ),
        (
            '"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n'
            '"01.11.2024 00:00 - 01.11.2024 01:00","1"\n'
            '"01.11.2024 01:00 - 01.11.2024 02:00","1"\n'
            '"01.11.2024 00:00 - 01.11.2024 01:00","1"\n',
            "line 4",
        ),
    ],
)
def test_bad_exports_name_the_line_or_column(text, message):
    with pytest.raises(EntsoeFormatError, match=message):
        read_day_ahead_csv(text)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def served(database_url):
    """A real service on loopback (the command speaks HTTP) with a site `depot` of tenant
    `acme`, planned on the system clock."""
    key = create_key(open_database(database_url), "acme")
    app = create_app(Settings(database_url=database_url, **SERVICE_DEFAULTS))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_in_thread(app, port)
    import httpx

    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{base}/v1/sites", json=site_document("depot"), headers=headers).is_success
    yield base, key, database_url
    server.should_exit = True


def stored_points(database_url: str, key: str) -> list:
    database = open_database(database_url)
    site = get_site(database, caller_for_key(database, key).tenant_id, "depot")
    return held_prices(database, site.pk)


def test_import_through_the_service(served, capsys):
    base, key, url = served
    code, out, err = run(
        capsys, "prices", "import", str(SHIPPED), "--site", "depot", "--url", base, "--key", key,
        "--markup-per-kwh", "0.12", "--vat-pct", "21",
    )  # fmt: skip
    assert code == 0, err
    assert "stored 696 prices (EUR, BZN|NL)" in out
    points = stored_points(url, key)
    assert len(points) == 696
    first = read_day_ahead_csv(SHIPPED).per_mwh[0]
    assert points[0].import_per_kwh == pytest.approx((first / 1000 + 0.12) * 1.21, abs=1e-6)
    assert points[0].export_per_kwh is None
    assert points[-1].end == utc("2024-11-30 23:00").to_pydatetime()


def test_import_into_the_database(database_url, capsys, tmp_path):
    database = open_database(database_url)
    key = create_key(database, "acme")
    create_site(database, caller_for_key(database, key).tenant_id, site_document("depot"), "t")
    export = tmp_path / "gap.csv"
    export.write_text(
        '"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n'
        '"01.11.2024 00:00 - 01.11.2024 01:00","100"\n'
        '"01.11.2024 01:00 - 01.11.2024 02:00","-20"\n'
        '"01.11.2024 05:00 - 01.11.2024 06:00","300"\n'
    )
    code, _, err = run(
        capsys, "prices", "import", str(export), "--site", "depot", "--db", database_url,
        "--tenant", "acme", "--export-spot",
    )  # fmt: skip
    assert code == 0, err
    points = stored_points(database_url, key)
    assert [p.import_per_kwh for p in points] == [0.1, -0.02, 0.3]
    assert [p.export_per_kwh for p in points] == [0.1, -0.02, 0.3]
    # The gap in the file stays a gap: 02:00 to 06:00 local has no feed price.
    assert points[1].end == utc("2024-11-01 01:00").to_pydatetime()
    assert points[2].end == utc("2024-11-01 05:00").to_pydatetime()


def test_bad_input_is_one_line_and_exit_2(served, capsys, tmp_path):
    base, key, url = served
    common = ("--site", "depot", "--url", base, "--key", key)
    code, _, err = run(capsys, "prices", "import", str(tmp_path / "none.csv"), *common)
    assert code == 2 and err.count("\n") == 1 and "no such file" in err
    bad = tmp_path / "bad.csv"
    bad.write_text('"a","b"\n"1","2"\n')
    code, _, err = run(capsys, "prices", "import", str(bad), *common)
    assert code == 2 and err.count("\n") == 1 and "not an ENTSO-E" in err
    pounds = tmp_path / "gbp.csv"
    pounds.write_text(
        '"MTU (UTC)","Day-ahead Price [GBP/MWh]"\n"01.11.2024 00:00 - 01.11.2024 01:00","80"\n'
    )
    code, _, err = run(capsys, "prices", "import", str(pounds), *common)
    assert code == 2 and "GBP" in err and "EUR" in err
    code, _, err = run(
        capsys, "prices", "import", str(SHIPPED), "--site", "elsewhere", "--url", base, "--key", key
    )
    assert code == 2 and "--site elsewhere" in err
    code, _, err = run(
        capsys,
        "prices",
        "import",
        str(SHIPPED),
        "--site",
        "depot",
        "--url",
        base,
        "--key",
        "sck_wrong",
    )
    assert code == 2 and "--key" in err
    # Prices that end up beyond the service's range: refused by it, named, nothing stored.
    code, _, err = run(capsys, "prices", "import", str(SHIPPED), *common, "--markup-per-kwh", "80")
    assert code == 2 and err.count("\n") == 1 and "points[0].import_per_kwh" in err
    code, _, err = run(capsys, "prices", "import", str(SHIPPED), "--site", "depot", "--db", url)
    assert code == 2 and "--tenant" in err
    assert stored_points(url, key) == []
