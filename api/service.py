"""The engine as one call: a problem in, a SPEC §2 answer (with OCPP payloads) out.

Shared by the CLI, the HTTP API and notebooks, so all three give the same answer. Forecasts
fill `base_load_kw` / `pv_kw` when a problem leaves them null; a stored site's measured history
and weather forecast come in as keyword arguments (picklable: they travel to the solver pool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartcharge.api.ocpp.payloads import build_ocpp_messages, pending_transactions
from smartcharge.optimizer.optimize import Plan, fallback_plan, optimize
from smartcharge.optimizer.problem import Problem, parse_problem
from smartcharge.optimizer.session_estimates import SessionHistory

if TYPE_CHECKING:  # pandas loads only when forecasts are made (a cold start without them)
    import pandas as pd


def with_forecasts(
    problem: Problem,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
) -> tuple[Problem, list[str]]:
    """The problem with null base load / PV replaced by forecasts, and the warnings that made.
    `weather` (pvlib's column names, see `forecasting.weather.read_weather`) supplements the
    problem's own `weather` for PV."""
    if problem.base_load_kw is not None and problem.pv_kw is not None:
        return problem, []
    from smartcharge.forecasting.resolve import resolve_forecasts

    forecasts = resolve_forecasts(
        problem, load_history_kw=load_history_kw, pv_history_kw=pv_history_kw, weather=weather
    )
    resolved = problem.model_copy(
        update={
            "base_load_kw": [float(v) for v in forecasts.base_load_kw],
            "pv_kw": [max(float(v), 0.0) for v in forecasts.pv_kw],
        }
    )
    return resolved, list(forecasts.warnings)


def plan(
    data: dict[str, Any] | Problem,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
    session_history: SessionHistory | None = None,
) -> tuple[Plan, dict[str, Any]]:
    """Validate, forecast what is missing, estimate unknown departures and energies (from
    `session_history`, the site's finished sessions), optimize, and emit OCPP payloads."""
    return _answered(
        data,
        lambda problem: optimize(problem, session_history=session_history),
        load_history_kw=load_history_kw,
        pv_history_kw=pv_history_kw,
        weather=weather,
    )


def _answered(
    data: dict[str, Any] | Problem,
    solve: Callable[[Problem], Plan],
    **histories: pd.Series | pd.DataFrame | None,
) -> tuple[Plan, dict[str, Any]]:
    problem = parse_problem(data)
    problem, forecast_warnings = with_forecasts(problem, **histories)
    result = solve(problem)
    answer = result.to_answer()
    answer["warnings"] = forecast_warnings + answer["warnings"]
    # The problem as planned: estimated departures and energies filled in (SPEC §6).
    answer["ocpp"] = build_ocpp_messages(result.problem, answer)
    answer["pending_transactions"] = pending_transactions(result.problem, answer)
    return result, answer


def replan(
    previous: Plan,
    previous_answer: dict[str, Any],
    data: dict[str, Any] | Problem,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
    session_history: SessionHistory | None = None,
) -> tuple[Plan, dict[str, Any]]:
    """`plan` for the same site a moment later (sessions arrived, left or changed), done
    incrementally: the previous plan's model is patched rather than built
    (`optimize(previous=...)`), and only the chargers whose plan changed get `limited_by` and
    session payloads made anew; the others keep those of `previous_answer` (their
    `limited_by` too is made anew when it names what the plan's status decides, `solver_gap`
    or `solver_time_limit`, and the status changed). The fail-safe defaults are made anew:
    they share the whole site's headroom among idle chargers."""
    from smartcharge.optimizer.limited_by import names_status
    from smartcharge.optimizer.optimize import changed_sessions

    problem = parse_problem(data)
    problem, forecast_warnings = with_forecasts(problem, load_history_kw, pv_history_kw, weather)
    result = optimize(problem, previous=previous, session_history=session_history)
    # The problem as planned: estimated departures and energies filled in (SPEC §6).
    planned = result.problem
    changed = changed_sessions(result, previous)
    moved = {s.charger_id for s, c in zip(planned.sessions, changed, strict=True) if c}
    moved |= {s.charger_id for s in previous.problem.sessions} - {
        s.charger_id for s in planned.sessions
    }
    before = {entry["id"]: entry for entry in previous_answer["sessions"]}
    transaction_before = {s.id: s.transaction_id for s in previous.problem.sessions}
    same = [
        s.id
        for s in planned.sessions
        if s.charger_id not in moved
        and s.id in before
        and transaction_before.get(s.id) == s.transaction_id
    ]
    status_changed = result.status != previous_answer["status"]
    explained = {
        sid: before[sid]["limited_by"]
        for sid in same
        if not (status_changed and names_status(before[sid]["limited_by"]))
    }
    answer = result.to_answer(explained_before=explained)
    answer["warnings"] = forecast_warnings + answer["warnings"]
    sent = {m["session_id"]: m for m in previous_answer.get("ocpp", []) if m["session_id"]}
    now = {entry["id"]: entry for entry in answer["sessions"]}
    kept = {
        sid: sent[sid] for sid in same if sid in sent and same_session_plan(before[sid], now[sid])
    }
    answer["ocpp"] = build_ocpp_messages(planned, answer, kept=kept)
    answer["pending_transactions"] = pending_transactions(planned, answer)
    return result, answer


def same_session_plan(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether a session's answer entry would give its charger the same payload: equal set-points
    are not enough where the phases it charges on (SPEC §4 `phases_used`) or its signed power
    (V2G) changed."""
    return all(before.get(k) == now.get(k) for k in ("current_a", "power_kw", "phases_used"))


def optimize_answer(data: dict[str, Any] | Problem, **histories: Any) -> dict:
    """The SPEC §2 answer for a problem document."""
    return plan(data, **histories)[1]


def fallback_answer(
    data: dict[str, Any] | Problem,
    reason: str,
    session_history: SessionHistory | None = None,
    **histories: pd.Series | pd.DataFrame | None,
) -> dict:
    """The SPEC §2 answer of the rule-based schedule alone (`status: fallback`, `reason` among
    its warnings): for a solve the service gave up on."""
    return _answered(
        data, lambda problem: fallback_plan(problem, reason, session_history), **histories
    )[1]
