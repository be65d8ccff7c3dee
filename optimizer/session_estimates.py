"""Departures and energy needs a CSMS is not told, estimated (SPEC §6).

On OCPP 1.6 AC charging nothing says when the driver leaves or how much the battery wants. A
missing value is estimated from, in order:

1. **The site's own finished sessions** (`SessionHistory`): those that arrived on the same
   weekday within an hour of this arrival's time of day, else on the same kind of day (Monday
   to Friday, or Saturday and Sunday) within that hour. They are trusted only when at least
   `MIN_HISTORY_SESSIONS` of them are still consistent with what is known now (stayed longer
   than this EV has been plugged in; took more than it has been given). Why 20: the rank of an
   empirical 25th percentile from n samples has a standard deviation of sqrt(n p (1 - p)), which
   is 1.9 samples for n = 20, so the estimate lies between the true 15th and 35th percentiles
   about two times in three; that is already closer to this site's truth than a national table
   of another population (the ElaadNL kinds' own 25th percentiles of dwell differ by a factor
   of 2.5), while fewer samples leave the early quantile to one or two sessions.
2. **ElaadNL distributions** for `site.kind` (`data/ev/`): the connection time and energy
   demand of each kind, scaled to the mean of EVs arriving in the same half hour (a scale
   family: the shape of the kind's distribution, the level of its arrival time). `workplace`
   and `public` have their own tables; `residential` and `depot` use the home-charging one
   (`private`), the closest of the three to a fleet that returns in the evening and leaves in
   the morning: a depot with other shifts learns its own from history.

Every estimate is conditional on what is known at the horizon's start: an EV plugged in for
3 h has a departure drawn from those that stay longer than 3 h, one given 12 kWh a need from
those that take more than 12. The departure is the median of that; `departure_early` the
`options.departure_quantile` of it (planned against for the energy that fits by then, see
`optimizer.index`); the energy need its median.

Pure functions over numpy and the standard library (no pandas: `smartcharge optimize` with
given forecasts stays light).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from smartcharge.optimizer.problem import Problem, Session
from smartcharge.optimizer.shipped_data import DATA_DIR

MIN_HISTORY_SESSIONS = 20
# Arrivals within this many hours of the time of day count as "the same arrival time".
HISTORY_WINDOW_H = 1.0
DEPARTURE_QUANTILE = 0.5
DEFAULT_KIND = "public"
# Columns of the ElaadNL tables for each site kind: (distribution tables, per-arrival means).
KIND_COLUMNS = {
    "workplace": ("workplace", "work"),
    "public": ("public", "public"),
    "residential": ("private", "home"),
    "depot": ("private", "home"),
}
# An estimate is at least this far beyond what is known: a departure after the next slot
# starts (the EV is plugged in now), an energy need a little above what was delivered.
_MIN_ENERGY_LEFT_KWH = 0.1
# An EV past this share of its arrival time's (scaled) distribution is estimated from the
# kind's unscaled one: the scale family's tail ends where a few real EVs still go on.
_BEYOND_SHARE = 0.98


@dataclass(frozen=True)
class SessionHistory:
    """Finished sessions of one site: local weekday and hour of arrival, dwell, energy taken."""

    weekday: np.ndarray  # (N,) 0 = Monday
    hour: np.ndarray  # (N,) local time of day of arrival [h]
    dwell_h: np.ndarray  # (N,)
    energy_kwh: np.ndarray  # (N,)

    @classmethod
    def of(
        cls, sessions: Iterable[tuple[datetime, datetime, float]], timezone: str
    ) -> SessionHistory:
        """From (arrival, departure, energy_kwh) of finished sessions, in the site's zone."""
        tz = ZoneInfo(timezone)
        rows = [(a.astimezone(tz), d, e) for a, d, e in sessions if d > a and e >= 0]
        return cls(
            weekday=np.array([a.weekday() for a, _, _ in rows], dtype=int),
            hour=np.array([a.hour + a.minute / 60 for a, _, _ in rows], dtype=float),
            dwell_h=np.array([(d - a).total_seconds() / 3600 for a, d, _ in rows], dtype=float),
            energy_kwh=np.array([e for _, _, e in rows], dtype=float),
        )

    def __len__(self) -> int:
        return int(self.dwell_h.size)


@dataclass(frozen=True)
class SessionEstimate:
    """What was estimated for one session, and from what."""

    departure: datetime | None = None  # the median (None: given)
    departure_early: datetime | None = None
    energy_total_kwh: float | None = None  # the whole need since arrival (None: given)
    energy_kwh: float | None = None  # what is left of it from the horizon's start
    source: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return [n for n in ("departure", "energy_kwh") if getattr(self, n) is not None]

    def to_answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": dict(self.source)}
        if self.departure is not None:
            out["departure"] = self.departure.isoformat()
            out["departure_early"] = (
                self.departure_early.isoformat() if self.departure_early else None
            )
        if self.energy_kwh is not None:
            out["energy_kwh"] = round(self.energy_kwh, 6)
            out["energy_total_kwh"] = round(float(self.energy_total_kwh or 0.0), 6)
        return out


def estimate_sessions(
    problem: Problem, history: SessionHistory | None = None
) -> tuple[Problem, dict[str, SessionEstimate]]:
    """The problem with every missing departure and energy need estimated, and per session id
    what was estimated. A problem without missing values comes back as it is."""
    missing = [s for s in problem.sessions if s.estimated]
    if not missing:
        return problem, {}
    kind = problem.site.kind or DEFAULT_KIND
    now = problem.horizon.start
    step = problem.horizon.step
    quantile = problem.options.departure_quantile
    tz = ZoneInfo(problem.site.timezone)
    next_arrival = _next_arrival_on_charger(problem.sessions)
    estimates: dict[str, SessionEstimate] = {}
    sessions = []
    for session in problem.sessions:
        if not session.estimated:
            sessions.append(session)
            continue
        local = session.arrival.astimezone(tz)
        group = _history_group(history, local)
        update: dict[str, Any] = {}
        source: dict[str, str] = {}
        estimate: dict[str, Any] = {}
        if session.departure is None:
            elapsed_h = max((now - session.arrival).total_seconds() / 3600, 0.0)
            early_h, median_h, source["departure"] = _departure_ladder(
                group, elapsed_h, quantile, kind, local
            )
            earliest = max(now, session.arrival) + step
            latest = next_arrival.get(session.id)
            departure = _clamp(session.arrival + _hours(median_h), earliest, latest)
            early = _clamp(session.arrival + _hours(early_h), earliest, departure)
            update["departure"] = estimate["departure"] = departure
            if session.departure_early is None or session.departure_early > departure:
                update["departure_early"] = early
            estimate["departure_early"] = update.get("departure_early", session.departure_early)
        if session.energy_kwh is None:
            delivered = session.energy_delivered_kwh
            (total,), source["energy_kwh"] = _quantiles(
                group, "energy_kwh", delivered, (problem.options.energy_quantile,), kind, local
            )
            total = max(total, delivered + _MIN_ENERGY_LEFT_KWH)
            update["energy_kwh"] = estimate["energy_kwh"] = round(total - delivered, 3)
            estimate["energy_total_kwh"] = round(total, 3)
        sessions.append(session.model_copy(update=update))
        estimates[session.id] = SessionEstimate(source=source, **estimate)
    return problem.model_copy(update={"sessions": sessions}), estimates


def _hours(h: float) -> timedelta:
    return timedelta(minutes=round(h * 60))


def _clamp(time: datetime, earliest: datetime, latest: datetime | None) -> datetime:
    time = max(time, earliest)
    return min(time, latest) if latest is not None else time


def _next_arrival_on_charger(sessions: list[Session]) -> dict[str, datetime]:
    """Per session with an unknown departure, the next arrival on its charger: it left by then."""
    by_charger: dict[str, list[Session]] = {}
    for s in sessions:
        by_charger.setdefault(s.charger_id, []).append(s)
    nexts = {}
    for items in by_charger.values():
        items.sort(key=lambda s: s.arrival)
        for earlier, later in itertools.pairwise(items):
            if earlier.departure is None:
                nexts[earlier.id] = later.arrival
    return nexts


# -- site history --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Candidate samples from the history, most specific first: (label, mask)."""

    history: SessionHistory
    levels: list[tuple[str, np.ndarray]]


def _history_group(history: SessionHistory | None, local_arrival: datetime) -> _Group | None:
    if history is None or len(history) == 0:
        return None
    hour = local_arrival.hour + local_arrival.minute / 60
    gap = np.abs(history.hour - hour)
    near = np.minimum(gap, 24 - gap) <= HISTORY_WINDOW_H
    weekday = local_arrival.weekday()
    weekend = weekday >= 5
    same_day = history.weekday == weekday
    same_kind_of_day = (history.weekday >= 5) == weekend
    return _Group(
        history,
        [
            ("site_history:weekday", near & same_day),
            ("site_history:day_type", near & same_kind_of_day),
        ],
    )


def _departure_ladder(
    group: _Group | None, elapsed_h: float, quantile: float, kind: str, local_arrival: datetime
) -> tuple[float, float, str]:
    """Hours from arrival to the early and the median departure, revised only when the EV
    outlasts the early one: conditioned on having stayed until the last early departure
    passed, not until now. Conditioning on every slot would move the deadline on with the
    clock (the longer an EV stays, the longer it is expected to stay), so that a plan that
    waits for cheaper slots before it would wait forever; a deadline that holds until it is
    reached makes the plan deliver by it."""
    checkpoint_h = 0.0
    while True:
        (early_h, median_h), source = _quantiles(
            group, "dwell_h", checkpoint_h, (quantile, DEPARTURE_QUANTILE), kind, local_arrival
        )
        if early_h > elapsed_h or early_h <= checkpoint_h + 1e-6:
            return early_h, median_h, source
        checkpoint_h = early_h


def _quantiles(
    group: _Group | None,
    name: str,
    known: float,
    quantiles: tuple[float, ...],
    kind: str,
    local_arrival: datetime,
) -> tuple[list[float], str]:
    """Quantiles of `name` (dwell_h or energy_kwh) among sessions above `known`, from the
    most specific history level with enough of them, else from the kind's distribution."""
    if group is not None:
        values = getattr(group.history, name)
        for label, mask in group.levels:
            above = values[mask & (values > known)]
            if above.size >= MIN_HISTORY_SESSIONS:
                return [float(np.quantile(above, q)) for q in quantiles], label
    table = distribution(kind, name)
    scale = table.scale_at(local_arrival.hour + local_arrival.minute / 60)
    if table.cdf(known / scale) > _BEYOND_SHARE:
        # Beyond what nearly all EVs arriving then take or stay: estimated from all the kind's.
        scale = max(scale, 1.0)
    return [table.conditional_quantile(q, known, scale) for q in quantiles], f"distribution:{kind}"


# -- ElaadNL distributions -----------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """A quantity tabulated by exceedance (row p: the value p % of sessions exceed), with the
    mean of the sessions arriving in each half hour relative to the mean over all arrivals."""

    exceedance_pct: np.ndarray  # increasing, 0..100
    values: np.ndarray  # decreasing
    scale_by_half_hour: np.ndarray  # (48,)

    def quantile(self, q: float) -> float:
        return float(np.interp(100 * (1 - q), self.exceedance_pct, self.values))

    def cdf(self, x: float) -> float:
        return 1 - float(np.interp(x, self.values[::-1], self.exceedance_pct[::-1])) / 100

    def scale_at(self, hour: float) -> float:
        return float(self.scale_by_half_hour[int(hour * 2) % 48])

    def conditional_quantile(self, q: float, known: float, scale: float) -> float:
        """Quantile q of X = scale * X0 given X > known: scale * Q0(F0(k) + q (1 - F0(k)))."""
        below = self.cdf(known / scale)
        return scale * self.quantile(below + q * (1 - below))


_TABLES = {
    "dwell_h": "distribution-of-connection-time.csv",
    "energy_kwh": "distribution-of-energy-demand.csv",
}
_MEANS = {"dwell_h": "mean-session-length-per.csv", "energy_kwh": "mean-demand-per-arrival.csv"}


@cache
def distribution(kind: str, name: str) -> Distribution:
    """The distribution of `name` (dwell_h or energy_kwh) for a site kind."""
    table_column, mean_column = KIND_COLUMNS[kind]
    header, rows = _read_csv(_TABLES[name])
    column = header.index(table_column)
    exceedance = np.array([float(r[0]) for r in rows])
    values = np.array([float(r[column]) for r in rows])
    return Distribution(exceedance, values, _scale_by_half_hour(table_column, mean_column, name))


def _scale_by_half_hour(table_column: str, mean_column: str, name: str) -> np.ndarray:
    """Mean per half hour of arrival over its mean weighted by arrivals (1 where unknown)."""
    header, rows = _read_csv(_MEANS[name])
    column = header.index(mean_column)
    means = np.full(48, np.nan)
    for row in rows:
        hours, minutes = (int(p) for p in row[0].split(":"))
        if column < len(row) and row[column].strip():
            means[hours * 2 + minutes // 30] = float(row[column])
    arrival_header, arrival_rows = _read_csv("distribution-of-arrival.csv")
    share = np.array([float(r[arrival_header.index(table_column)]) for r in arrival_rows])
    share_per_half_hour = share.reshape(48, 2).sum(axis=1)
    known = ~np.isnan(means)
    overall = float(
        (share_per_half_hour[known] * means[known]).sum() / share_per_half_hour[known].sum()
    )
    return np.where(known, means / overall, 1.0)


def _read_csv(name: str) -> tuple[list[str], list[list[str]]]:
    with open(DATA_DIR / "ev" / name, encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    return rows[0], rows[1:]
