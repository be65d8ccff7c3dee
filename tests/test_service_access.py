"""Keys with roles and limits, on SQLite and PostgreSQL: what each role may call (403 naming
the role otherwise), a key over its rate (429 with Retry-After), bodies over the cap (413 before
they are read), ids the service can store and address, absurd numbers (422 naming the field),
and the audit log of every change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.api.cli import main
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from tests.service_harness import arrival, running_api, site_document


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_each_role_may_do_what_it_needs_and_no_more(database_url):
    with running_api(database_url) as api:
        database = open_database(database_url)
        read = create_key(database, "acme", "dashboard", role="read")
        ingest = create_key(database, "acme", "csms", role="ingest")
        client = api.client
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201

        # read: every GET, and what stores nothing; no change.
        for path in ("/v1/sites", "/v1/sites/depot", "/v1/sites/depot/sessions"):
            assert client.get(path, headers=headers(read)).status_code == 200, path
        what_if = {"site": {"grid": {"import_limit_kw": 30}}}
        answered = client.post("/v1/sites/depot/what-if", json=what_if, headers=headers(read))
        assert answered.status_code == 200
        refused = client.post(
            "/v1/sites/depot/sessions", json=arrival("s-1", "cp-0"), headers=headers(read)
        )
        assert refused.status_code == 403
        assert (
            "'read'" in refused.json()["detail"] and "ingest or manage" in refused.json()["detail"]
        )
        limits = {"import_limit_kw": 30, "reason": "test"}
        assert (
            client.patch("/v1/sites/depot/limits", json=limits, headers=headers(read)).status_code
            == 403
        )

        # ingest: what a CSMS sends, and reads; no sites, limits or keys.
        sent = client.post(
            "/v1/sites/depot/sessions", json=arrival("s-1", "cp-0"), headers=headers(ingest)
        )
        assert sent.status_code == 202
        stamp = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
        meter = {"measurements": [{"time_utc": stamp, "import_kw": 12.0}]}
        assert (
            client.post(
                "/v1/sites/depot/measurements", json=meter, headers=headers(ingest)
            ).status_code
            == 200
        )
        patched = client.patch(
            "/v1/sites/depot/sessions/s-1",
            json={"departure": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            headers=headers(ingest),
        )
        assert patched.status_code == 200
        now = datetime.now(UTC).isoformat()
        readings = {"readings": [{"time": now, "current_a": [10.0, 10.0, 10.0]}]}
        metered = client.post(
            "/v1/sites/depot/sessions/s-1/meter", json=readings, headers=headers(ingest)
        )
        assert metered.status_code == 200, metered.text
        assert (
            client.post(
                "/v1/sites/depot/sessions/s-1/meter", json=readings, headers=headers(read)
            ).status_code
            == 403
        )
        assert (
            client.delete("/v1/sites/depot/sessions/s-1", headers=headers(ingest)).status_code
            == 204
        )
        for method, path in (("PATCH", "/v1/sites/depot/limits"), ("DELETE", "/v1/sites/depot")):
            answer = client.request(method, path, json=limits, headers=headers(ingest))
            assert answer.status_code == 403 and "'ingest'" in answer.json()["detail"], path
        assert client.get("/v1/keys", headers=headers(ingest)).status_code == 403
        assert client.get("/v1/audit", headers=headers(ingest)).status_code == 403
        assert (
            client.post(
                "/v1/sites", json=site_document("other"), headers=headers(ingest)
            ).status_code
            == 403
        )

        # /v1/me says what the console may offer.
        me = client.get("/v1/me", headers=headers(read)).json()
        assert me["tenant"] == "acme" and me["role"] == "read" and read.startswith(me["key_prefix"])
        assert me["may"] == {"change_sites": False, "ingest": False, "manage_keys": False}
        assert client.get("/v1/me", headers=headers(ingest)).json()["may"]["ingest"] is True
        assert api.get("/v1/me").json()["may"] == {
            "change_sites": True,
            "ingest": True,
            "manage_keys": True,
        }
        api.settle()


def test_keys_of_the_tenant_through_the_api(database_url):
    with running_api(database_url) as api:
        created = api.post(
            "/v1/keys", json={"role": "ingest", "label": "csms", "rate_limit_per_s": 50}
        )
        assert created.status_code == 201
        key = created.json()["key"]
        assert created.json()["role"] == "ingest" and created.json()["rate_limit_per_s"] == 50
        assert api.client.get("/v1/me", headers=headers(key)).json()["rate_limit_per_s"] == 50
        listed = api.get("/v1/keys").json()
        assert {k["prefix"] for k in listed} >= {key[:12]}
        assert all("key" not in k for k in listed)
        bad = api.post("/v1/keys", json={"role": "admin"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "role"]
        # Another tenant's key is not this tenant's to revoke.
        other = create_key(open_database(database_url), "globex")
        assert api.delete(f"/v1/keys/{other[:12]}").status_code == 404
        assert api.delete(f"/v1/keys/{key[:12]}").status_code == 204
        assert api.client.get("/v1/me", headers=headers(key)).status_code == 401
        assert api.client.get("/v1/me", headers=headers(other)).status_code == 200


def test_existing_keys_become_manage_in_the_migration(tmp_path, capsys):
    """A key made before roles existed (migration 0004) can still do everything after 0005."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from smartcharge.api.store.database import MIGRATIONS, Database
    from smartcharge.api.store.keys import caller_for_key, hash_key

    database = Database(f"sqlite:///{tmp_path}/old.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            sa.text("INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', '2026-01-01')")
        )
        connection.execute(
            sa.text(
                "INSERT INTO api_keys (tenant_id, key_hash, prefix, created_at) "
                "VALUES (1, :hash, 'sck_old_key_', '2026-01-01')"
            ),
            {"hash": hash_key("sck_old_key_secret")},
        )
    database.migrate()
    assert caller_for_key(database, "sck_old_key_secret").role == "manage"
    assert main(["keys", "list", "--db", database.url]) == 0
    assert "manage" in capsys.readouterr().out


def test_a_key_over_its_rate_is_refused_with_retry_after(database_url):
    with running_api(database_url, rate_limit_per_s=2.0, rate_limit_burst=5) as api:
        statuses = [api.get("/v1/sites").status_code for _ in range(12)]
        assert statuses[:5] == [200] * 5 and 429 in statuses
        refused = api.get("/v1/sites")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1 and "slow down" in refused.json()["detail"]
        # Another key of the same tenant has its own bucket.
        other = create_key(open_database(database_url), "acme")
        assert api.client.get("/v1/sites", headers=headers(other)).status_code == 200
        time.sleep(1.1)  # two tokens back
        assert api.get("/v1/sites").status_code == 200
        assert "smartcharge_rate_limited_responses_total" in api.client.get("/metrics").text


def test_a_body_over_the_cap_is_413_before_it_is_read(database_url):
    with running_api(database_url, max_body_bytes=2048) as api:
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        rows = [
            {
                "time_utc": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
                "import_kw": 1.0,
            }
            for i in range(200)
        ]
        declared = api.post("/v1/sites/depot/measurements", json={"measurements": rows})
        assert (
            declared.status_code == 413
            and "SMARTCHARGE_MAX_BODY_BYTES" in declared.json()["detail"]
        )

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"measurements": ['
            for _ in range(100):
                yield b'{"time_utc": "2026-11-01T00:00:00+00:00", "import_kw": 1.0},'
            yield b"]}"

        streamed = api.client.post(
            "/v1/sites/depot/measurements",
            content=chunks(),
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        assert api.get("/v1/sites/depot/measurements").json() == []
        small = {"measurements": rows[:3]}
        assert api.post("/v1/sites/depot/measurements", json=small).status_code == 200


@pytest.mark.parametrize(
    ("where", "bad_id"),
    [("site", "../../etc"), ("site", "x" * 5000), ("charger", "cp 1"), ("session", "s/1")],
)
def test_ids_the_service_cannot_address_are_refused(database_url, where, bad_id):
    with running_api(database_url) as api:
        document = site_document("depot")
        if where == "site":
            document["site"]["id"] = bad_id
            answer = api.post("/v1/sites", json=document)
            loc = ["body", "site", "id"]
        elif where == "charger":
            document["site"]["chargers"][0]["id"] = bad_id
            answer = api.post("/v1/sites", json=document)
            loc = ["body", "site", "chargers", 0, "id"]
        else:
            assert api.post("/v1/sites", json=document).status_code == 201
            answer = api.post("/v1/sites/depot/sessions", json=arrival(bad_id, "cp-0"))
            loc = ["body", "id"]
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == loc and "A-Za-z" not in error["msg"] and "64" in error["msg"]
        listed = api.get("/v1/sites").json()
        assert all(len(s["id"]) <= 64 for s in listed)
        api.settle()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"energy_kwh": 1e308}, ["body", "energy_kwh"]),
        ({"max_power_kw": 1e12}, ["body", "max_power_kw"]),
    ],
)
def test_absurd_numbers_are_422_naming_the_field(database_url, change, field):
    with running_api(database_url) as api:
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        answer = api.post("/v1/sites/depot/sessions", json={**arrival("s-1", "cp-0"), **change})
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == field
        assert "more than" in answer.json()["detail"][0]["msg"]
        limits = api.patch(
            "/v1/sites/depot/limits", json={"import_limit_kw": 1e12, "reason": "typo"}
        )
        assert limits.status_code == 422
        assert "grid connection" in str(limits.json()["detail"])
        meter = {"measurements": [{"time_utc": "2026-11-01T00:00:00+00:00", "base_load_kw": 1e308}]}
        answer = api.post("/v1/sites/depot/measurements", json=meter)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "base_load_kw"
        api.settle()


def test_every_change_is_in_the_audit_log_with_who_made_it(database_url):
    with running_api(database_url) as api:
        database = open_database(database_url)
        csms = create_key(database, "acme", "csms", role="ingest")
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        limits = {"import_limit_kw": 45, "reason": "transformer"}
        assert api.patch("/v1/sites/depot/limits", json=limits).status_code == 200
        as_csms = {"headers": headers(csms)}
        client = api.client
        assert (
            client.post(
                "/v1/sites/depot/sessions", json=arrival("s-1", "cp-0"), **as_csms
            ).status_code
            == 202
        )
        # Meter values are not changes anyone audits; a departure moved by the driver is.
        meter = client.patch(
            "/v1/sites/depot/sessions/s-1", json={"energy_delivered_kwh": 1.0}, **as_csms
        )
        assert meter.json()["replan"] == "with_next_plan"
        stamp = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
        client.post(
            "/v1/sites/depot/measurements",
            json={"measurements": [{"time_utc": stamp, "import_kw": 3.0}]},
            **as_csms,
        )
        departure = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
        client.patch("/v1/sites/depot/sessions/s-1", json={"departure": departure}, **as_csms)
        refused = client.patch("/v1/sites/depot/limits", json=limits, **as_csms)
        assert refused.status_code == 403
        created = api.post("/v1/keys", json={"role": "read", "label": "wall screen"})
        api.settle()

        log = api.get("/v1/audit").json()
        entries = [(e["method"], e["path"], e["role"], e["changes"]) for e in reversed(log)]
        assert [(m, p) for m, p, _, _ in entries] == [
            ("POST", "/v1/sites"),
            ("PATCH", "/v1/sites/depot/limits"),
            ("POST", "/v1/sites/depot/sessions"),
            ("PATCH", "/v1/sites/depot/sessions/s-1"),
            ("POST", "/v1/keys"),
        ]
        assert all(e["actor"].startswith("acme/") for e in log)
        by_path = {(m, p): (role, changes) for m, p, role, changes in entries}
        assert by_path[("POST", "/v1/sites/depot/sessions")][0] == "ingest"
        assert (
            "sessions s-1 changed: departure"
            in by_path[("PATCH", "/v1/sites/depot/sessions/s-1")][1]
        )
        assert (
            "limit_changes grid.import_limit_kw created"
            in by_path[("PATCH", "/v1/sites/depot/limits")][1]
        )
        assert f"api_keys {created.json()['prefix']} created" in by_path[("POST", "/v1/keys")][1]
        assert log[0]["key_prefix"] == api.key[:12]
        depot_only = api.get("/v1/audit", params={"site_id": "depot"}).json()
        assert len(depot_only) == 4
        # Another tenant sees none of it.
        other = create_key(database, "globex")
        assert client.get("/v1/audit", headers=headers(other)).json() == []


def test_feeds_and_grid_windows_need_manage_and_are_audited(database_url):
    """Prices, grid-operator windows and weather forecasts are what the operator decides or
    buys, not what a CSMS sends: an ingest key may read them, not change them."""
    with running_api(database_url) as api:
        ingest = create_key(open_database(database_url), "acme", "csms", role="ingest")
        assert api.post("/v1/sites", json=site_document("depot")).status_code == 201
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        prices = {
            "points": [
                {"time": (hour + timedelta(hours=h)).isoformat(), "import_per_kwh": 0.2 + h / 100}
                for h in range(3)
            ]
        }
        window = {
            "start": (hour + timedelta(hours=2)).isoformat(),
            "end": (hour + timedelta(hours=4)).isoformat(),
            "import_limit_kw": 20,
            "source": "dso",
        }
        weather = {
            "time": [(hour + timedelta(hours=h)).isoformat() for h in (1, 2)],
            "ghi_w_m2": [300.0, 350.0],
        }
        changes = (
            ("PUT", "/v1/sites/depot/prices", prices),
            ("POST", "/v1/sites/depot/grid-limits", window),
            ("POST", "/v1/sites/depot/weather", weather),
        )
        for method, path, body in changes:
            refused = api.client.request(method, path, json=body, headers=headers(ingest))
            assert refused.status_code == 403 and "'ingest'" in refused.json()["detail"], path
            assert api.client.get(path, headers=headers(ingest)).status_code == 200, path
        for method, path, body in changes:
            answer = api.client.request(method, path, json=body, headers=api.headers)
            assert answer.is_success, answer.text
        window_id = api.get("/v1/sites/depot/grid-limits").json()[0]["id"]
        assert api.delete(f"/v1/sites/depot/grid-limits/{window_id}").status_code == 204
        api.settle()

        log = {(e["method"], e["path"]): e for e in api.get("/v1/audit").json()}
        assert log[("PUT", "/v1/sites/depot/prices")]["changes"] == [
            f"price_points 3 stored from {hour.isoformat()} to "
            f"{(hour + timedelta(hours=2)).isoformat()}"
        ]
        assert log[("POST", "/v1/sites/depot/grid-limits")]["changes"] == [
            "grid_limit_windows created"
        ]
        assert log[("DELETE", f"/v1/sites/depot/grid-limits/{window_id}")]["changes"] == [
            f"grid_limit_windows {window_id} changed: cancelled_at, cancelled_by"
        ]
        stored_weather = log[("POST", "/v1/sites/depot/weather")]
        assert stored_weather["changes"][0].startswith("weather_forecasts 2 stored")
        assert all(e["site_id"] == "depot" and e["role"] == "manage" for e in log.values())
