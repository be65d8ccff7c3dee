"""`Answer`: the SPEC §2 answer of one plan, as JSON and as pandas frames."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from smartcharge.optimizer.problem import Problem


class Answer:
    """The answer of one plan: the SPEC §2 JSON, with views an analyst can compute with.

    Parameters
    ----------
    data : mapping
        The SPEC §2 answer document (what `POST /v1/optimize` returns).
    problem : Problem, optional
        The problem it answers; kept so that `smartcharge.check` and the frames know the
        site's time zone.

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible`` (time limit reached, best schedule found) or ``fallback``.
    warnings : list of str
    kpis : dict
        Energy requested/delivered/unmet [kWh], costs, peak import [kW], PV used/curtailed.
    ocpp : list of dict
        One ``SetChargingProfile`` message per session (and default profiles), each with the
        ``payload`` to send to the charger as it is.
    solver : dict
        Solver name, termination, stages, timings and model size.

    Examples
    --------
    >>> answer = smartcharge.optimize(smartcharge.Problem.load(EXAMPLES / "garage-8.json"))
    >>> answer.status
    'optimal'
    >>> answer.schedule.shape  # one row per slot, one column per session
    (56, 8)
    """

    def __init__(self, data: Mapping[str, Any], problem: Problem | None = None) -> None:
        self._data = dict(data)
        self.problem = problem

    # -- the SPEC JSON -----------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._data["status"]

    @property
    def warnings(self) -> list[str]:
        return list(self._data.get("warnings", []))

    @property
    def kpis(self) -> dict[str, Any]:
        return dict(self._data["kpis"])

    @property
    def ocpp(self) -> list[dict[str, Any]]:
        return list(self._data.get("ocpp", []))

    @property
    def solver(self) -> dict[str, Any]:
        return dict(self._data.get("solver", {}))

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Per session: current and power per slot, energy delivered and unmet, `limited_by`."""
        return list(self._data["sessions"])

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the SPEC §2 answer document."""
        return copy.deepcopy(self._data)

    def to_json(self, path: str | Path | None = None, indent: int | None = None) -> str:
        """The answer as JSON text; also written to `path` when one is given."""
        text = json.dumps(self._data, indent=indent)
        if path is not None:
            Path(path).write_text(text)
        return text

    # -- frames ------------------------------------------------------------------------------
    @property
    def slot_start(self) -> pd.DatetimeIndex:
        """The start of each slot, in the site's time zone when the problem is known."""
        import pandas as pd

        times = pd.DatetimeIndex(pd.to_datetime(self._data["site"]["slot_start"], utc=True))
        zone = self.problem.site.timezone if self.problem is not None else None
        return (times.tz_convert(zone) if zone else times).rename("slot_start")

    @property
    def schedule(self) -> pd.DataFrame:
        """Charging power [kW] per slot (rows) and session (columns)."""
        return self.schedule_frame()

    def schedule_frame(
        self,
        value: Literal["power_kw", "current_a"] = "power_kw",
        multiindex: bool = False,
    ) -> pd.DataFrame:
        """Per slot (rows) and session (columns): power [kW] or current [A] (None for DC).

        Parameters
        ----------
        value : {"power_kw", "current_a"}
        multiindex : bool
            Columns as a (charger_id, session_id) MultiIndex instead of session ids.
        """
        import pandas as pd

        if value not in ("power_kw", "current_a"):
            raise ValueError(f"value: {value!r} is not 'power_kw' or 'current_a'")
        sessions = self._data["sessions"]
        columns: pd.Index = pd.Index([s["id"] for s in sessions], name="session_id")
        if multiindex:
            columns = pd.MultiIndex.from_tuples(
                [(s["charger_id"], s["id"]) for s in sessions], names=["charger_id", "session_id"]
            )
        slots = len(self._data["site"]["slot_start"])
        data = {
            i: [float("nan")] * slots if s[value] is None else s[value]
            for i, s in enumerate(sessions)
        }
        frame = pd.DataFrame(data, index=self.slot_start, dtype=float)
        frame.columns = columns
        return frame

    def site_frame(self) -> pd.DataFrame:
        """Per slot: import, export, charging, base load, PV, limits and prices of the site
        (every per-slot series of the answer's ``site``)."""
        import pandas as pd

        site = self._data["site"]
        slots = len(site["slot_start"])
        series = {
            name: values
            for name, values in site.items()
            if name != "slot_start" and isinstance(values, list) and len(values) == slots
        }
        return pd.DataFrame(series, index=self.slot_start)

    def sessions_frame(self) -> pd.DataFrame:
        """One row per session: charger, energy delivered and unmet [kWh]."""
        import pandas as pd

        rows = [
            {
                "session_id": s["id"],
                "charger_id": s["charger_id"],
                "energy_kwh": s["energy_kwh"],
                "unmet_kwh": s["unmet_kwh"],
            }
            for s in self._data["sessions"]
        ]
        columns = ["session_id", "charger_id", "energy_kwh", "unmet_kwh"]
        return pd.DataFrame(rows, columns=columns).set_index("session_id")

    def plot(self, path: str | Path | None = None) -> Figure:
        """Charging per session stacked over base load, with PV, the import limit and the
        price; saved to `path` (PNG, SVG, PDF) when one is given."""
        from smartcharge.api.plots import plot_schedule

        return plot_schedule(self._data, path)

    # -- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        kpis = self._data.get("kpis", {})
        return (
            f"<Answer {self.status}: {len(self._data['sessions'])} sessions, "
            f"{kpis.get('energy_delivered_kwh', 0):.1f} of "
            f"{kpis.get('energy_requested_kwh', 0):.1f} kWh, "
            f"cost {kpis.get('total_cost', 0):.2f}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
            for k, v in self._data.get("kpis", {}).items()
        )
        warnings = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
        return (
            f"<p><b>Answer</b>: {escape(self.status)}, "
            f"{len(self._data['sessions'])} sessions</p><table>{rows}</table>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
        )
