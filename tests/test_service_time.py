"""The service through time: the billing period whose metered peak a plan carries (reset at the
local midnight that starts it), retention pruning in batches while writes go on, and the
migrations that make the schema, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from smartcharge.api.clock import SimulatedClock
from smartcharge.api.store.database import MIGRATIONS, open_database
from smartcharge.api.store.keys import caller_for_key
from smartcharge.api.store.measurements import (
    read_battery_soc,
    read_measurements,
    upsert_battery_soc,
    upsert_measurements,
)
from smartcharge.api.store.prices import held_prices, upsert_prices
from smartcharge.api.store.retention import prune_before
from smartcharge.api.store.sites import get_site
from smartcharge.api.store.tables import Base
from smartcharge.api.store.weather import read_weather_frame, upsert_weather
from smartcharge.api.stored_problem import stored_problem
from smartcharge.api.time_inputs import billing_period_start
from tests.service_harness import site_document

AMSTERDAM = "Europe/Amsterdam"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("moment", "period", "start"),
    [
        # Winter time: the 1st at 00:00 +01:00 is 23:00 UTC the day before.
        ("2026-11-01T00:20:00+01:00", "month", "2026-11-01T00:00:00+01:00"),
        ("2026-10-31T23:50:00+01:00", "month", "2026-10-01T00:00:00+02:00"),
        # The month started in summer time: its start keeps the summer offset.
        ("2026-10-26T12:00:00+01:00", "month", "2026-10-01T00:00:00+02:00"),
        ("2026-03-29T12:00:00+02:00", "day", "2026-03-29T00:00:00+01:00"),  # a 23-hour day
        ("2026-10-25T23:30:00+01:00", "day", "2026-10-25T00:00:00+02:00"),  # a 25-hour day
        ("2026-06-15T12:00:00+02:00", "none", None),
    ],
)
def test_billing_periods_start_at_local_midnight(moment, period, start):
    found = billing_period_start(local(moment), AMSTERDAM, period)
    assert found == (None if start is None else local(start))


def metered_site(api, **tariff) -> tuple:
    document = site_document("depot")
    document["tariff"] = {"import_price_per_kwh": 0.25, "demand_charge_per_kw": 9.5, **tariff}
    assert api.post("/v1/sites", json=document).status_code == 201
    database = open_database(api.url)
    site = get_site(database, caller_for_key(database, api.key).tenant_id, "depot")
    peaks = {
        "2026-10-20T18:00:00+02:00": 80.0,  # October's peak
        "2026-10-31T23:45:00+01:00": 20.0,  # October's last quarter-hour
        "2026-11-01T00:00:00+01:00": 30.0,  # November's first
        "2026-11-01T09:00:00+01:00": 45.0,
        "2026-11-02T08:00:00+01:00": 25.0,
    }
    rows = [{"time_utc": local(t), "import_kw": kw} for t, kw in peaks.items()]
    upsert_measurements(database, site.pk, rows)
    return database, site


def peak_at(database, site, moment: str, document=None) -> float:
    problem = stored_problem(database, site, local(moment), document=document).problem
    return problem["tariff"]["peak_so_far_kw"]


def test_the_months_peak_resets_on_the_first_at_local_midnight(api):
    database, site = metered_site(api)
    assert peak_at(database, site, "2026-10-31T23:50:00+01:00") == 80.0
    assert peak_at(database, site, "2026-11-01T00:05:00+01:00") == 30.0
    assert peak_at(database, site, "2026-11-02T10:00:00+01:00") == 45.0


def test_a_daily_period_and_none(api):
    database, site = metered_site(api)
    daily = {**site.document, "tariff": {**site.document["tariff"], "demand_charge_period": "day"}}
    assert peak_at(database, site, "2026-11-01T23:50:00+01:00", daily) == 45.0
    assert peak_at(database, site, "2026-11-02T10:00:00+01:00", daily) == 25.0
    # No billing period: the peak never resets (every metered value kept counts), and the
    # document's own peak_so_far_kw is a floor (a contracted peak).
    tariff = {**site.document["tariff"], "demand_charge_period": "none"}
    none = {**site.document, "tariff": tariff}
    assert peak_at(database, site, "2026-11-02T10:00:00+01:00", none) == 80.0
    contracted = {**site.document, "tariff": {**tariff, "peak_so_far_kw": 100}}
    assert peak_at(database, site, "2026-11-02T10:00:00+01:00", contracted) == 100.0


OLD = datetime(2025, 1, 1, tzinfo=UTC)
RECENT = datetime(2026, 3, 1, tzinfo=UTC)
CUTOFF = datetime(2025, 6, 1, tzinfo=UTC)


def fill(database, site_pk: int, start: datetime, count: int) -> None:
    times = [start + timedelta(minutes=15 * i) for i in range(count)]
    upsert_measurements(database, site_pk, [{"time_utc": t, "import_kw": 1.0} for t in times])
    upsert_weather(database, site_pk, [{"time_utc": t, "ghi_w_m2": 10.0} for t in times])
    upsert_prices(database, site_pk, [{"time_utc": t, "import_per_kwh": 0.2} for t in times])
    upsert_battery_soc(database, site_pk, [("bess-1", t, 10.0) for t in times])


def test_retention_prunes_in_batches_while_writes_go_on(database_url):
    database = open_database(database_url)
    from smartcharge.api.store.keys import create_key
    from smartcharge.api.store.sites import create_site

    tenant_id = caller_for_key(database, create_key(database, "acme")).tenant_id
    sites = [
        create_site(database, tenant_id, site_document(f"site-{i}"), "test").pk for i in range(2)
    ]
    for site_pk in sites:
        fill(database, site_pk, OLD, 100)
        fill(database, site_pk, RECENT, 10)

    written: list[datetime] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def keep_writing() -> None:
        moment = RECENT + timedelta(days=1)
        while not done.is_set():
            try:
                upsert_measurements(database, sites[0], [{"time_utc": moment, "pv_kw": 2.0}])
            except BaseException as exc:  # the test fails on any write refused
                failures.append(exc)
                return
            written.append(moment)
            moment += timedelta(minutes=1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        pruned = prune_before(database, CUTOFF, batch_rows=7)
    finally:
        done.set()
        writer.join()
    assert failures == []
    assert pruned == {
        "measurements": 200,
        "battery_soc": 200,
        "weather_forecasts": 200,
        "price_points": 200,
        "meter_values": 0,
    }
    for site_pk in sites:
        assert read_measurements(database, site_pk, until=CUTOFF).empty
        assert read_weather_frame(database, site_pk, until=CUTOFF).empty
        assert held_prices(database, site_pk, until=CUTOFF) == []
        assert read_battery_soc(database, site_pk, until=CUTOFF) == {}
        assert len(read_battery_soc(database, site_pk)) == 10
        assert len(read_weather_frame(database, site_pk)) == 10
        assert len(held_prices(database, site_pk)) == 10
    kept = read_measurements(database, sites[0])
    assert len(kept) == 10 + len(written) and len(written) > 0
    assert prune_before(database, CUTOFF, batch_rows=7) == dict.fromkeys(pruned, 0)


def test_the_tick_prunes_what_retention_no_longer_keeps(make_api):
    clock = SimulatedClock(RECENT + timedelta(days=2))
    with make_api(clock=clock, retention_days=400) as api:
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        database = open_database(api.url)
        site = get_site(database, caller_for_key(database, api.key).tenant_id, "depot")
        fill(database, site.pk, clock.now() - timedelta(days=401), 5)
        fill(database, site.pk, clock.now() - timedelta(days=399), 5)
        api.client.portal.call(api.client.app.state.planner.tick_once)
        assert len(read_measurements(database, site.pk)) == 5
        assert read_measurements(database, site.pk).index.min() >= clock.now() - timedelta(days=400)


def test_retention_keeps_at_least_a_billing_month():
    from pydantic import ValidationError

    from smartcharge.api.settings import Settings

    with pytest.raises(ValidationError, match="billing"):
        Settings(retention_days=20)
    assert Settings(retention_days=0).retention_days == 0


def test_the_migrations_make_the_schema_the_tables_declare(database_url):
    database = open_database(database_url)
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    # And they step down and up again (a release rolled back, then forward).
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")  # through 0004 and 0003
        command.upgrade(config, "head")
    database.dispose()


def test_a_stored_daily_tariff_plans_with_the_days_metered_peak(make_api):
    """The whole path: a stored document billing per day, metered values, a plan at 23:20
    whose horizon crosses midnight: it carries today's peak, and tomorrow starts afresh."""
    clock = SimulatedClock(local("2026-11-01T23:20:00+01:00"))
    with make_api(clock=clock) as api:
        metered_site(api, demand_charge_period="day")
        api.settle(quiet_s=0.3)
        api.patch("/v1/sites/depot/limits", json={"reason": "re-plan"})  # any event
        schedule = api.wait_for_version("depot", 2)
        assert schedule["kpis"]["peak_so_far_kw"] == 45.0
        periods = schedule["demand_periods"]
        assert [local(p["start"]) for p in periods] == [
            local("2026-11-01T00:00:00+01:00"),
            local("2026-11-02T00:00:00+01:00"),
        ]
        assert periods[0]["peak_so_far_kw"] == 45.0 and periods[1]["peak_so_far_kw"] == 0.0
