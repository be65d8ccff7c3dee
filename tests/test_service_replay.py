"""A short service replay (`benchmarks/service_replay.py` has the week): three hours of the
example workplace week driven through the HTTP API on a simulated clock, on both databases,
with sessions arriving, metered and leaving, the next day's prices put at 13:00 and a DSO
window. Each quarter-hour's plan starts at that quarter-hour, every stored plan passes the
checker, the chargers doing each plan's first slot break no limit, and the service delivers
what `simulate`'s MILP delivers on the same hours."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from benchmarks.service_replay import checked_plans, drive, load_week
from smartcharge.api.clock import SimulatedClock
from smartcharge.optimizer.replay import ReplayResult, replay, whole_replay
from smartcharge.optimizer.strategies import STRATEGIES


def test_three_hours_of_the_workplace_week_through_the_service(make_api):
    # Monday 11:00-14:00; the DSO calls at 11:30 for 12:00-13:00; prices come at 13:00.
    week = load_week(days=3 / 24, from_hour=11, window_day=0, window_hours=(11.5, 12, 13))
    clock = SimulatedClock(week.start - timedelta(days=1))
    with make_api(clock=clock, debounce_s=0.02, max_wait_s=0.5) as api:
        api.client.headers.update(api.headers)
        setpoint, _ = drive(api.client, api.client.app, clock, week, "feed", history_days=15)
        tomorrow = api.get(
            "/v1/sites/workplace-week/prices",
            params={"from": (week.first_day + timedelta(days=1)).isoformat()},
        ).json()["points"]
        assert len(tomorrow) == 24  # put at 13:00 for the next day
        window = api.get("/v1/sites/workplace-week/grid-limits/history").json()
        assert [w["import_limit_kw"] for w in window] == [20.0]
        plans, failing = checked_plans(api.url)
    assert plans >= week.slots and failing == 0

    full = whole_replay(week.problem, week.sessions, week.slots)
    service = ReplayResult("service", full, setpoint).kpis()
    simulated = replay(week.problem, week.sessions, STRATEGIES["milp"], "milp", week.slots).kpis()
    assert service["violations"] == 0, service
    assert service["energy_delivered_kwh"] > 0
    assert np.isclose(
        service["energy_delivered_kwh"], simulated["energy_delivered_kwh"], rtol=0.02
    ), (service, simulated)
