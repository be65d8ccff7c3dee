"""The load harness's short version (`benchmarks/load.py`): a minute of a CPO's traffic against
`smartcharge serve` with its process pool on SQLite — meter values, arrivals, transactions,
departures, polls and what-ifs — with no 5xx, and every acknowledged write found after. Its
speed is measured by the benchmark, never asserted here."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.load import event_to_profiles_s, report, run_load
from benchmarks.load_traffic import LoadConfig

pytestmark = pytest.mark.xdist_group("load")


def test_a_minute_of_traffic_without_a_5xx_or_a_lost_write(tmp_path):
    config = LoadConfig(
        sites=8,
        chargers=(20, 40),
        duration_s=60.0,
        speed=20.0,
        meter_period_s=15.0,
        profiles_poll_s=10.0,
        schedule_poll_s=20.0,
        what_ifs_per_minute=3.0,
    )
    result = run_load(config, "sqlite", directory=tmp_path, server_env={"SMARTCHARGE_TICK_S": "0"})
    print(report(result))
    statuses = Counter(r.status for r in result.records)
    assert not [s for s in statuses if s >= 500], statuses
    assert result.lost == []
    routes = Counter(f"{r.method} {r.route}" for r in result.run_records() if r.status < 300)
    for needed in (
        "PATCH /v1/sites/{site_id}/sessions/{session_id}",
        "POST /v1/sites/{site_id}/sessions",
        "POST /v1/sites/{site_id}/measurements",
        "GET /v1/sites/{site_id}/profiles",
    ):
        assert routes[needed] > 0, routes
    delays, unanswered = event_to_profiles_s(result)
    assert len(delays) > 0 and unanswered == 0
