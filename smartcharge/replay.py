"""`simulate`: replay sessions through time under several strategies, and compare them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartcharge.answer import Answer

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from smartcharge.optimizer.replay import ReplayResult

DEFAULT_STRATEGIES = ("milp", "edf", "llf", "equal-share", "uncontrolled", "offline")


class Replay:
    """Strategies replayed on the same sessions, slot by slot, each seeing only what it
    would know then (forecasts, sessions that have arrived); ``offline`` knows everything.

    Attributes
    ----------
    results : dict of str to ReplayResult
        Per strategy: the set-points applied and the re-plan times.
    """

    def __init__(self, results: Sequence[ReplayResult]) -> None:
        self.results = {result.strategy: result for result in results}
        self._kpis = [result.kpis() for result in results]

    @property
    def strategies(self) -> list[str]:
        return list(self.results)

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per strategy: energy delivered, share fully served, cost, demand charge,
        peak import, PV self-consumption, limit violations and re-plan times."""
        import pandas as pd

        return pd.DataFrame(self._kpis).set_index("strategy")

    def answer(self, strategy: str) -> Answer:
        """What `strategy` applied, as an answer over the whole replay (no OCPP payloads)."""
        if strategy not in self.results:
            raise KeyError(f"strategy: {strategy!r} was not replayed ({', '.join(self.results)})")
        result = self.results[strategy]
        return Answer(result.plan().to_answer(), result.problem)

    def plot(self, path: str | Path | None = None) -> Figure:
        """Grid import of every strategy against the import limit, and each strategy's cost
        and energy delivered; saved to `path` when one is given."""
        from smartcharge.api.plots import plot_replay

        answers = {name: self.answer(name).to_dict() for name in self.results}
        return plot_replay(answers, self._kpis, path)

    def __repr__(self) -> str:
        return f"<Replay of {', '.join(self.results)}>"


def simulate(
    site: Mapping[str, Any] | str | os.PathLike[str],
    sessions: Sequence[Mapping[str, Any]] | pd.DataFrame | str | os.PathLike[str],
    strategies: Sequence[str] | str = DEFAULT_STRATEGIES,
    *,
    days: float | None = None,
    ev_model: str = "ideal",
    hide: Sequence[str] | str = (),
    progress: bool = True,
) -> Replay:
    """Replay `sessions` at `site` under each strategy and compare.

    Parameters
    ----------
    site : dict or path
        A SPEC problem without sessions (its horizon start is where the replay begins; its
        per-slot series repeat over the replay).
    sessions : list of dict, DataFrame or path
        SPEC sessions, or the sessions table (CSV or DataFrame with ``session_id``,
        ``charger_id``, ``arrival``, ``departure``, ``energy_kwh``, ``max_current_a``,
        ``phases``; optional ``priority``, ``max_power_kw``) as ``smartcharge sessions
        generate`` writes it.
    strategies : sequence of str or comma-separated str
        Any of ``milp``, ``milp-naive`` (the MILP without learning from meter values),
        ``edf``, ``llf``, ``equal-share``, ``uncontrolled``, ``offline``.
    days : float, optional
        Replay the sessions arriving within this many days (default: the site's horizon),
        until the last of them departs.
    ev_model : {"ideal", "taper"}
        What the EVs draw of an offer: ``ideal`` takes it up to the EV's maximum; ``taper``
        also takes linearly less above 80 % of its battery (a ``battery_kwh`` column, else the
        need / 0.8).
    hide : sequence of str or comma-separated str
        What the strategies are not told, of ``departure``, ``energy``, ``ev_max``,
        ``phases``: they see the engine's estimates and, for ``milp``, what the simulated
        meter values teach. ``offline`` always knows everything.
    progress : bool
        A progress bar per strategy (on stderr).

    Returns
    -------
    Replay

    Examples
    --------
    >>> site, sessions = smartcharge.datasets.replay_week("workplace-week")
    >>> replay = smartcharge.simulate(site, sessions[:6], ["edf", "offline"], days=0.5,
    ...                               progress=False)
    >>> list(replay.kpis.index)
    ['edf', 'offline']
    """
    from smartcharge.optimizer.replay import UnknownStrategyError, run_strategies
    from smartcharge.optimizer.session_table import read_sessions

    if isinstance(site, str | os.PathLike):
        site = json.loads(Path(site).read_text())
    site = dict(site)
    if isinstance(sessions, str | os.PathLike) or hasattr(sessions, "columns"):
        session_list = read_sessions(sessions)
    else:
        session_list = [dict(s) for s in sessions]
    names = strategies.split(",") if isinstance(strategies, str) else list(strategies)
    names = [name.strip() for name in names if name.strip()]
    hidden = hide.split(",") if isinstance(hide, str) else list(hide)
    hidden = [name.strip() for name in hidden if name.strip()]
    step_minutes = site.get("horizon", {}).get("step_minutes", 15)
    slots = round(days * 24 * 60 / step_minutes) if days else site["horizon"]["slots"]
    try:
        results = run_strategies(
            site, session_list, names, slots, progress=progress, ev_model=ev_model, hide=hidden
        )
    except UnknownStrategyError as exc:
        raise UnknownStrategyError(f"strategies: {exc}") from None
    return Replay(results)
