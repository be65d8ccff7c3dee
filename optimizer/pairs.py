"""The plugged-in (session, slot) pairs: the only places a set-point variable exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartcharge.optimizer.index import ProblemIndex


def change_window_slots(step_h: float) -> int:
    """Slots at the start of the horizon whose set-point changes are penalised.

    Only what is executed before the next re-plan (minutes to an hour ahead) reaches a
    charger, so fewer changes matter there; penalising them over the whole horizon made the
    LP relaxation ten times slower on large sites (`BENCHMARKS.md`).
    """
    return max(1, round(CHANGE_WINDOW_H / step_h))


CHANGE_WINDOW_H = 2.0


@dataclass(frozen=True)
class PairIndex:
    """The plugged-in (session, slot) pairs and their lookups."""

    session: np.ndarray  # (K,)
    slot: np.ndarray  # (K,)
    binary: np.ndarray  # (K,) bool: semi-continuous pair
    previous: np.ndarray  # (K,) pair index of the same session's previous slot, or -1
    by_slot: list[np.ndarray]  # pairs per slot
    ramped: np.ndarray  # pairs whose set-point changes are penalised (the near-term window)

    @classmethod
    def of(cls, index: ProblemIndex) -> PairIndex:
        session, slot = index.pairs
        pair_of = -np.ones(index.plugged.shape, dtype=int)
        pair_of[session, slot] = np.arange(session.size)
        previous = np.where(slot > 0, pair_of[session, np.maximum(slot - 1, 0)], -1)
        return cls(
            session=session,
            slot=slot,
            binary=index.needs_binary[session],
            previous=previous,
            by_slot=group_positions(slot, index.slots),
            ramped=np.flatnonzero(slot < change_window_slots(index.step_h)),
        )

    def of_session(self, n_sessions: int) -> list[np.ndarray]:
        return group_positions(self.session, n_sessions)


def group_positions(keys: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Positions of each key value 0..n_groups-1 in `keys`."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]
