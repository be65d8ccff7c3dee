"""An answer topped up: whatever room a schedule leaves goes to sessions still short of energy.

Rounding to 0.1 A frees a little room in every slot, and a schedule cut short by the time limit
(a stage of the objective order that did not finish) may leave a lot: a stage minimising the
higher tier's shortfall does not care for the lower tier yet. The top-up water-fills every slot
(`optimizer.fallback.fill`) for the sessions still short of the energy that counts, higher
priority first, then earliest departure, within every limit, so that no PV is curtailed and no
room is left in a slot while a session plugged in there is short and could take it. It only
raises set-points, so nothing the schedule achieved on a higher tier is given up.
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer.fallback import LimitRows, fill, serving_rank
from smartcharge.optimizer.index import ProblemIndex


def top_up(
    index: ProblemIndex,
    setpoint: np.ndarray,
    import_cap_kw: float | np.ndarray = np.inf,
    pv_hint_kw: np.ndarray | None = None,
    rows: LimitRows | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(set-points, PV-use hint) with the room filled for sessions short of energy.

    `import_cap_kw` (one, or one per slot) keeps import at or below a peak the schedule chose
    not to exceed (a demand charge it avoided). The PV hint (the solver's choice of PV use)
    grows with the charging added, so that added charging is served by PV the schedule
    curtailed before any import.
    """
    unit_kwh = index.kw_per_unit * index.step_h
    delivered_kwh = (setpoint * unit_kwh[:, None]).sum(axis=1)
    short_kwh = np.maximum(index.energy_counts_kwh - delivered_kwh, 0.0)
    if not (short_kwh > 1e-6).any():
        return setpoint, pv_hint_kw
    filled = fill(index, setpoint, short_kwh, serving_rank(index), import_cap_kw, rows)
    if pv_hint_kw is None:
        return filled, None
    added_kw = ((filled - setpoint) * index.kw_per_unit[:, None]).sum(axis=0)
    return filled, np.minimum(index.pv_kw, pv_hint_kw + added_kw)
