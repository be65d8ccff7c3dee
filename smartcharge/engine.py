"""The engine for analysts: plan a problem, check an answer, forecast what a plan would use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from smartcharge.answer import Answer

if TYPE_CHECKING:
    import pandas as pd

    from smartcharge.optimizer.check import Violation
    from smartcharge.optimizer.problem import Problem

# What every function takes as a problem: a `Problem`, a dict, a JSON file's path or JSON text.
ProblemSource: TypeAlias = "Problem | Mapping[str, Any] | str | os.PathLike[str]"


def _problem(problem: ProblemSource) -> Problem:
    from smartcharge.optimizer.problem import Problem

    return Problem.load(problem)


def optimize(
    problem: ProblemSource,
    *,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
) -> Answer:
    """Plan a site: every session's current per slot, KPIs and OCPP payloads.

    Parameters
    ----------
    problem : Problem, dict, path or JSON text
        A SPEC §1 problem.
    load_history_kw, pv_history_kw : pandas.Series, optional
        Metered base load and PV [kW], indexed by tz-aware interval start. Used only where the
        problem leaves ``base_load_kw`` / ``pv_kw`` null: the engine forecasts them from these.
    weather : pandas.DataFrame, optional
        A weather forecast for PV (pvlib's column names: ``ghi``, ``dni``, ``dhi``,
        ``temp_air``, ``wind_speed``, or ``cloud_cover``), supplementing the problem's own.

    Returns
    -------
    Answer

    Raises
    ------
    smartcharge.ProblemError
        naming every field at fault.

    Examples
    --------
    >>> answer = smartcharge.optimize(EXAMPLES / "workplace-20.json")
    >>> answer.status, len(answer.schedule.columns)
    ('optimal', 20)
    """
    from smartcharge.api.service import plan

    parsed = _problem(problem)
    histories = {
        "load_history_kw": load_history_kw,
        "pv_history_kw": pv_history_kw,
        "weather": weather,
    }
    _, data = plan(parsed, **histories)
    return Answer(data, parsed)


def check(
    problem: ProblemSource,
    answer: Answer | Mapping[str, Any],
) -> list[Violation]:
    """Every hard limit of SPEC §1 that `answer` breaks for `problem` (empty: none).

    The checker is independent of the engine: it recomputes power, phase currents, circuit
    and grid flows, energies and KPIs from the answer's set-points alone.

    Examples
    --------
    >>> problem = smartcharge.Problem.load(EXAMPLES / "garage-8.json")
    >>> smartcharge.check(problem, smartcharge.optimize(problem))
    []
    """
    from smartcharge.optimizer.check import check_answer

    data = answer.to_dict() if isinstance(answer, Answer) else dict(answer)
    return check_answer(_problem(problem), data)


def forecast(
    problem: ProblemSource,
    *,
    load_history_kw: pd.Series | None = None,
    pv_history_kw: pd.Series | None = None,
    weather: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The base load and PV a plan of `problem` would use, with their P10–P90 bands.

    Where the problem gives ``base_load_kw`` / ``pv_kw`` they are taken as they are (no band);
    where it leaves them null they are forecast from the histories (and weather), issued at
    the horizon's start.

    Returns
    -------
    pandas.DataFrame
        Indexed by slot start in the site's time zone: ``base_load_kw``, ``pv_kw`` (what a plan
        uses) and, where forecast, ``base_load_p10_kw`` … ``pv_p90_kw``. ``.attrs["warnings"]``
        lists what the forecasts could not do, ``.attrs["methods"]`` the method each forecast
        chose (PV: per lead-time band).

    Examples
    --------
    >>> load = smartcharge.datasets.household_load_kw()
    >>> site = {"id": "x", "timezone": "Europe/Amsterdam", "grid": {"import_limit_kw": 90},
    ...         "chargers": [{"id": "cp-1", "max_current_a": 16}]}
    >>> problem = {"site": site, "horizon": {"start": "2022-06-01T00:00:00+02:00", "slots": 96},
    ...            "base_load_kw": None, "pv_kw": 0}
    >>> frame = smartcharge.forecast(problem, load_history_kw=load)
    >>> list(frame.columns)
    ['base_load_kw', 'pv_kw', 'base_load_p10_kw', 'base_load_p50_kw', 'base_load_p90_kw']
    """
    import pandas as pd

    from smartcharge.forecasting.resolve import horizon_times, resolve_forecasts

    parsed = _problem(problem)
    resolved = resolve_forecasts(
        parsed, load_history_kw=load_history_kw, pv_history_kw=pv_history_kw, weather=weather
    )
    times = horizon_times(parsed).tz_convert(parsed.site.timezone).rename("slot_start")
    frame = pd.DataFrame({"base_load_kw": resolved.base_load_kw, "pv_kw": resolved.pv_kw}, times)
    for name, band in resolved.quantiles.items():
        for column in band.columns:
            frame[f"{name}_{column}_kw"] = band[column].to_numpy()
    frame.attrs["warnings"] = list(resolved.warnings)
    frame.attrs["methods"] = {
        name: band.attrs.get("methods", band.attrs.get("method"))
        for name, band in resolved.quantiles.items()
    }
    return frame
