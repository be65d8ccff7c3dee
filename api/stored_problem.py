"""The problem a stored site poses right now: its document, live sessions, the metered peak of
the billing period, the price feed and the grid-operator windows over its horizon, the measured
history its forecasts learn from, the stored weather forecast its PV follows and the finished
sessions its estimates of unknown departures and energies learn from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from smartcharge.api.site_document import compose_problem, plan_start
from smartcharge.api.store.database import Database
from smartcharge.api.store.grid_limits import windows_in_force
from smartcharge.api.store.measurements import (
    latest_battery_soc,
    peak_import_kw,
    read_measurements,
)
from smartcharge.api.store.prices import held_prices
from smartcharge.api.store.sessions import finished_sessions, live_sessions, to_document
from smartcharge.api.store.tables import SiteRow
from smartcharge.api.store.weather import read_weather_frame
from smartcharge.api.time_inputs import (
    DEFAULT_BILLING_PERIOD,
    apply_grid_windows,
    billing_period_start,
    price_points,
)
from smartcharge.forecasting.weather import read_weather
from smartcharge.optimizer.problem import EARLIEST_TIME
from smartcharge.optimizer.session_estimates import SessionHistory

# The base-load methods look back up to 7 weeks: 7 days of level, 28 days of training for
# gradient boosting, 14 days of selection.
HISTORY_DAYS = 63
# Finished sessions the estimates of unknown departures and energies learn from (a season).
SESSION_HISTORY_DAYS = 180
# Weather read past the horizon's end, so the last slots interpolate between two forecast
# times (providers give hourly or 3-hourly values).
WEATHER_MARGIN = timedelta(hours=6)


@dataclass
class StoredProblem:
    problem: dict[str, Any]
    # Keyword arguments of `api.service.plan`: load_history_kw, pv_history_kw, weather (for
    # `resolve_forecasts`), session_history (for estimates). Pickled to the solver pool.
    histories: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.problem["sessions"]) * self.problem["horizon"]["slots"]


def stored_problem(
    database: Database,
    site: SiteRow,
    now: datetime,
    slots: int | None = None,
    sessions: list[dict[str, Any]] | None = None,
    document: dict[str, Any] | None = None,
) -> StoredProblem:
    """`sessions` and `document` replace the stored ones (what-if)."""
    document = document if document is not None else site.document
    start = plan_start(now, document.get("horizon", {}).get("step_minutes", 15))
    if sessions is None:
        sessions = [to_document(row) for row in live_sessions(database, site.pk)]
    timezone = document["site"].get("timezone", "UTC")
    period = document.get("tariff", {}).get("demand_charge_period", DEFAULT_BILLING_PERIOD)
    period_start = billing_period_start(start, timezone, period)
    # `none`: the peak never resets, so every metered value retention still keeps counts.
    peak = peak_import_kw(database, site.pk, period_start or EARLIEST_TIME, now)
    problem = compose_problem(document, sessions, start, slots=slots, measured_peak_kw=peak)
    start_from_measured_soc(problem, latest_battery_soc(database, site.pk, now))
    horizon = problem["horizon"]
    end = start + timedelta(minutes=horizon["step_minutes"] * horizon["slots"])
    step = timedelta(minutes=horizon["step_minutes"])
    tariff = problem.setdefault("tariff", {})
    if not tariff.get("prices"):  # points of the document's own (or what-if's) come first
        tariff["prices"] = price_points(
            held_prices(database, site.pk, start, end), start, end, step
        )
    apply_grid_windows(problem, windows_in_force(database, site.pk, start, end))
    since = start - timedelta(days=HISTORY_DAYS)
    measured = read_measurements(database, site.pk, since=since)
    forecasts_pv = problem.get("pv_kw") is None and bool(problem["site"].get("pv"))
    histories = {
        "load_history_kw": _series(measured["base_load_kw"]),
        "pv_history_kw": _series(measured["pv_kw"]),
        "weather": (
            stored_weather(database, site.pk, since, end + WEATHER_MARGIN) if forecasts_pv else None
        ),
    }
    history = _session_history(database, site.pk, problem, start)
    if history is not None:
        histories["session_history"] = history
    return StoredProblem(problem, histories)


def start_from_measured_soc(
    problem: dict[str, Any], measured: dict[str, tuple[datetime, float]]
) -> None:
    """Each battery starts from its latest measured state of charge, where one is stored: the
    document's `soc_kwh` is what it held when the site was configured, the measurement what it
    holds now. (A `final_soc_kwh` left out follows, SPEC §4: the starting state.) A state above
    a capacity lowered since is the capacity."""
    for battery in problem["site"].get("batteries") or []:
        if battery["id"] in measured:
            _, soc_kwh = measured[battery["id"]]
            battery["soc_kwh"] = min(soc_kwh, battery["capacity_kwh"])


def stored_weather(
    database: Database, site_pk: int, since: datetime, until: datetime
) -> pd.DataFrame | None:
    """The site's stored weather forecast in [since, until) as `resolve_forecasts` takes it
    (pvlib's column names), or None when there is none."""
    frame = read_weather_frame(database, site_pk, since=since, until=until)
    frame = frame.dropna(axis="columns", how="all")
    return read_weather(frame) if not frame.empty else None


def _session_history(
    database: Database, site_pk: int, problem: dict[str, Any], start: datetime
) -> SessionHistory | None:
    """The site's finished sessions, read only when a session's departure or energy is unknown."""
    if all(
        s.get("departure") is not None and s.get("energy_kwh") is not None
        for s in problem["sessions"]
    ):
        return None
    finished = finished_sessions(database, site_pk, start - timedelta(days=SESSION_HISTORY_DAYS))
    return SessionHistory.of(finished, problem["site"].get("timezone", "UTC"))


def _series(column: pd.Series) -> pd.Series | None:
    values = column.dropna()
    return values if not values.empty else None
