"""A stored site: SPEC's `site`, tariff and planning defaults, and how a plan's problem is
composed from it, the live sessions and the moment of planning.

Pure functions over plain dicts: the routes, the planner and what-if all compose problems here,
so a stored site is planned exactly as the same document posted to `POST /v1/optimize` would be.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartcharge.optimizer.problem import (
    NonNegativeSlotSeries,
    Options,
    PowerSeriesKw,
    ProblemError,
    Session,
    Site,
    Tariff,
    parse_problem,
)


class HorizonDefaults(BaseModel):
    """Each plan of a stored site starts at the current slot and looks this far ahead."""

    model_config = ConfigDict(extra="forbid")
    step_minutes: int = Field(default=15, ge=1, le=60)
    slots: int = Field(default=96, ge=1, le=2016)


class SiteDocument(BaseModel):
    """What `POST/PUT /v1/sites` hold: a SPEC problem without horizon start and sessions."""

    model_config = ConfigDict(extra="forbid")
    site: Site
    tariff: Tariff = Field(default_factory=Tariff)
    horizon: HorizonDefaults = Field(default_factory=HorizonDefaults)
    options: Options = Field(default_factory=Options)
    base_load_kw: PowerSeriesKw | None = Field(
        default=None, description="null: forecast from the site's measurements"
    )
    pv_kw: NonNegativeSlotSeries | None = Field(
        default=None, description="null: forecast from the site's PV arrays and measurements"
    )


def plan_start(now: datetime, step_minutes: int) -> datetime:
    """The start of the slot `now` falls in (slots are aligned to the epoch, in UTC)."""
    step_s = step_minutes * 60
    epoch_s = int(now.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch_s - epoch_s % step_s, UTC)


def compose_problem(
    document: dict[str, Any],
    sessions: list[dict[str, Any]],
    start: datetime,
    slots: int | None = None,
    measured_peak_kw: float | None = None,
) -> dict[str, Any]:
    """The SPEC problem a stored site poses at `start`, with the sessions still plugged in."""
    problem = copy.deepcopy(document)
    horizon = problem.pop("horizon", {})
    problem["horizon"] = {
        "start": start.isoformat(),
        "step_minutes": horizon.get("step_minutes", 15),
        "slots": slots or horizon.get("slots", 96),
    }
    end = start + timedelta(minutes=problem["horizon"]["step_minutes"])
    # A session without a departure is plugged in until the CSMS says it left (SPEC §6).
    problem["sessions"] = [
        s
        for s in sessions
        if s.get("departure") is None or datetime.fromisoformat(s["departure"]) >= end
    ]
    if measured_peak_kw is not None:
        tariff = problem.setdefault("tariff", {})
        tariff["peak_so_far_kw"] = max(tariff.get("peak_so_far_kw", 0.0), measured_peak_kw)
    return problem


def session_document(session: Session | dict[str, Any], delivered_kwh: float = 0.0) -> dict:
    """A stored session as SPEC's session: the energy it still wants from now on; an unknown
    need is estimated by the plan from what it has been given (SPEC §6)."""
    data = session.model_dump(mode="json") if isinstance(session, Session) else dict(session)
    if data.get("energy_kwh") is not None:
        data["energy_kwh"] = max(float(data["energy_kwh"]) - delivered_kwh, 0.0)
    else:
        data["energy_delivered_kwh"] = delivered_kwh
    return {k: v for k, v in data.items() if v is not None}


def validate_problem(problem: dict[str, Any], prefix: tuple[str | int, ...] = ()) -> None:
    """`parse_problem`, with the error paths rebased on the request body that caused them."""
    try:
        parse_problem(problem)
    except ProblemError as exc:
        for error in exc.errors:
            if prefix and error.loc[: len(prefix)] == prefix:
                error.loc = error.loc[len(prefix) :]
        raise


def merge(base: Any, patch: Any) -> Any:
    """`patch` laid over `base`: dicts merge by key, lists of objects with ids merge by id."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    if _is_id_list(base) and _is_id_list(patch):
        by_id = {item["id"]: item for item in base}
        for item in patch:
            by_id[item["id"]] = merge(by_id.get(item["id"], {}), item)
        return list(by_id.values())
    return copy.deepcopy(patch)


def _is_id_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and "id" in v for v in value)


def limit_fields(document: dict[str, Any]) -> dict[str, Any]:
    """Every limit an energy manager tunes, by a readable path (`circuits.panel-a.limit_kw`)."""
    site = document.get("site", {})
    grid = site.get("grid", {})
    fields = {
        f"grid.{name}": grid.get(name)
        for name in ("import_limit_kw", "export_limit_kw", "phase_limit_a")
    }
    for circuit in site.get("circuits", []):
        for name in ("limit_kw", "phase_limit_a"):
            fields[f"circuits.{circuit['id']}.{name}"] = circuit.get(name)
    return fields


def limit_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every limit that differs between two documents."""
    before, after = limit_fields(old), limit_fields(new)
    return [
        (field, before.get(field), after.get(field))
        for field in sorted(before.keys() | after.keys())
        if before.get(field) != after.get(field)
    ]
