"""The LP relaxation as one live HiGHS instance that lasts from stage to stage and re-plan to
re-plan, spoken to in the model's own column numbering.

A simplex basis is worth keeping: re-solving after a new objective, a held row, a bound or a
new session takes a few hundred iterations where a cold solve takes thousands. So the instance
is never rebuilt while the site stays the same; a re-plan with other sessions is applied as a
patch (`patch_to`): columns and rows of arriving sessions are appended (`addCols`,
`addRows`), a departed session's columns are fixed at 0 and rows no longer in the model are
freed. The instance's numbering then differs from the model's, which is rebuilt from scratch
(cheap: a few numpy operations); `live_col` maps one onto the other.

Columns are matched block by block by position (blocks only grow at their end when sessions
are appended), rows by the number they were given in their block (`RowBlock.ids`). Entries of
a row and a column the instance already has are never changed: a session whose data change is
retired and appended anew (`optimizer.optimize._reuse_model`), and everything but the sessions
is the same site (or the model is built cold).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from smartcharge.optimizer.highs_runs import run_until
from smartcharge.optimizer.sparse_lp import INF, SparseLP


@dataclass(frozen=True)
class RelaxedSolution:
    values: np.ndarray  # in the model's numbering
    objective: float


class LiveRelaxation:
    def __init__(
        self,
        lp: SparseLP,
        cost: np.ndarray,
        threads: int,
        without_rows: frozenset[str],
        fixed_to_zero: frozenset[str],
    ) -> None:
        self.without_rows = without_rows
        self.fixed_to_zero = fixed_to_zero
        self.highs = lp.to_highs(
            cost, threads, relaxed=True, without_rows=without_rows, fixed_to_zero=fixed_to_zero
        )
        self.lp = lp
        self.live_col = np.arange(lp.n_cols)
        self.live_row = np.arange(self.highs.getNumRow())
        self.base_rows = self.highs.getNumRow()
        self.patches = 0
        self._weighted_basis: highspy.HighsBasis | None = None

    # -- objective, holds, bounds -----------------------------------------------------------
    def set_cost(self, cost: np.ndarray, offset: float) -> None:
        live = np.zeros(self.highs.getNumCol())
        live[self.live_col] = cost
        self.highs.changeColsCost(live.size, np.arange(live.size, dtype=np.int32), live)
        self.highs.changeObjectiveOffset(offset)

    def add_row(self, cols: np.ndarray, coefficients: np.ndarray, upper: float) -> None:
        live = self.live_col[cols].astype(np.int32)
        self.highs.addRow(-INF, upper, live.size, live, coefficients)

    def clear_added_rows(self) -> None:
        extra = self.highs.getNumRow() - self.base_rows
        if extra > 0:
            rows = np.arange(self.base_rows, self.base_rows + extra, dtype=np.int32)
            self.highs.deleteRows(extra, rows)

    def change_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        if cols.size:
            live = self.live_col[cols].astype(np.int32)
            self.highs.changeColsBounds(live.size, live, lower, upper)

    def remember_weighted_basis(self) -> None:
        """Keep the weighted objective's optimal basis: the next re-plan starts the weighted
        stage from it (the basis of the plan's last stage is far from it: a departure took
        1,300 iterations from there, measured, against ~100 from this one)."""
        self._weighted_basis = self.highs.getBasis()

    def keep_basis(self) -> highspy.HighsBasis:
        return self.highs.getBasis()

    def restore_basis(self, basis: highspy.HighsBasis) -> None:
        self.highs.setBasis(basis)

    # -- solving ------------------------------------------------------------------------------
    def solve(self, deadline: float) -> RelaxedSolution | None:
        """The optimum of the current objective, or None when not found by `deadline`."""
        run_until(self.highs, deadline)
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        live = np.asarray(self.highs.getSolution().col_value)
        objective = self.highs.getInfo().objective_function_value
        return RelaxedSolution(live[self.live_col], objective)

    # -- re-plans -----------------------------------------------------------------------------
    def patch_to(self, lp: SparseLP) -> None:
        """Make the instance the relaxation of `lp`: the same model with sessions appended,
        retired (columns fixed at 0 by `lp`'s bounds) or changed in their data."""
        self.clear_added_rows()
        highs, old = self.highs, self.lp
        n_live_cols = highs.getNumCol()
        live_col = np.empty(lp.n_cols, dtype=np.int64)
        dead_cols = []
        for name, cols in lp.blocks.items():
            old_cols = old.blocks.get(name, np.zeros(0, dtype=np.int64))
            common = min(cols.size, old_cols.size)
            live_col[cols[:common]] = self.live_col[old_cols[:common]]
            live_col[cols[common:]] = n_live_cols + np.arange(cols.size - common)
            n_live_cols += cols.size - common
            dead_cols.append(self.live_col[old_cols[common:]])
        new_cols = live_col >= highs.getNumCol()

        old_blocks = {b.name: b for b in old.kept_blocks(self.without_rows)}
        old_offsets = _offsets(old.kept_blocks(self.without_rows))
        blocks = lp.kept_blocks(self.without_rows)
        n_live_rows = highs.getNumRow()
        live_row, dead_rows = [], []
        for block in blocks:
            row = np.empty(block.ids.size, dtype=np.int64)
            before = old_blocks.get(block.name)
            old_ids = before.ids if before is not None else np.zeros(0, dtype=np.int64)
            found, position = _match(old_ids, block.ids)
            if before is not None:
                row[found] = self.live_row[old_offsets[block.name] + position[found]]
                gone = ~_match(block.ids, old_ids)[0]
                dead_rows.append(self.live_row[old_offsets[block.name] + np.flatnonzero(gone)])
            row[~found] = n_live_rows + np.arange((~found).sum())
            n_live_rows += int((~found).sum())
            live_row.append(row)
        for name, before in old_blocks.items():
            if name not in {b.name for b in blocks}:
                dead_rows.append(self.live_row[old_offsets[name] + np.arange(before.ids.size)])
        live_row_all = np.concatenate(live_row) if live_row else np.zeros(0, dtype=np.int64)
        new_rows = live_row_all >= highs.getNumRow()

        rows, cols, values = lp.triplets(blocks)
        lower, upper = lp.column_bounds(self.fixed_to_zero)
        row_lower, row_upper = lp.row_bounds(blocks)
        # Columns first, with their entries in rows the instance already has.
        in_old_row = ~new_rows[rows]
        entering = new_cols[cols] & in_old_row
        _add_columns(
            highs, live_col, new_cols, lower, upper, live_row_all, rows, cols, values, entering
        )
        # Then the new rows, with all their entries.
        _add_rows(highs, live_col, new_rows, row_lower, row_upper, rows, cols, values)
        # Bounds of what stays, and what leaves the model.
        kept = np.flatnonzero(~new_cols)
        highs.changeColsBounds(kept.size, live_col[kept].astype(np.int32), lower[kept], upper[kept])
        kept_rows = np.flatnonzero(~new_rows)
        highs.changeRowsBounds(
            kept_rows.size,
            live_row_all[kept_rows].astype(np.int32),
            row_lower[kept_rows],
            row_upper[kept_rows],
        )
        dead_c = np.concatenate(dead_cols).astype(np.int32) if dead_cols else np.zeros(0, np.int32)
        if dead_c.size:
            zeros = np.zeros(dead_c.size)
            highs.changeColsBounds(dead_c.size, dead_c, zeros, zeros)
        dead_r = np.concatenate(dead_rows).astype(np.int32) if dead_rows else np.zeros(0, np.int32)
        if dead_r.size:
            highs.changeRowsBounds(
                dead_r.size, dead_r, np.full(dead_r.size, -INF), np.full(dead_r.size, INF)
            )
        self.lp = lp
        self.live_col = live_col
        self.live_row = live_row_all
        self.base_rows = highs.getNumRow()
        self.patches += 1
        self._restore_weighted_basis()

    def _restore_weighted_basis(self) -> None:
        """The remembered weighted basis, extended to what the patch appended: new columns
        at their lower bound (0), new rows' slacks basic (which keeps it a basis)."""
        basis, self._weighted_basis = self._weighted_basis, None
        if basis is None or not basis.valid:
            return
        n_cols, n_rows = self.highs.getNumCol(), self.highs.getNumRow()
        cols, rows = list(basis.col_status), list(basis.row_status)
        if len(cols) > n_cols or len(rows) > n_rows:
            return
        cols += [highspy.HighsBasisStatus.kLower] * (n_cols - len(cols))
        rows += [highspy.HighsBasisStatus.kBasic] * (n_rows - len(rows))
        basis.col_status, basis.row_status = cols, rows
        self.highs.setBasis(basis)


def _offsets(blocks) -> dict[str, int]:
    offsets, total = {}, 0
    for block in blocks:
        offsets[block.name] = total
        total += block.lower.size
    return offsets


def _match(known: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of `wanted`, whether `known` (sorted) holds it, and where."""
    if known.size == 0:
        return np.zeros(wanted.size, dtype=bool), np.zeros(wanted.size, dtype=np.int64)
    position = np.minimum(np.searchsorted(known, wanted), known.size - 1)
    return known[position] == wanted, position


def _grouped(added: np.ndarray, owners: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries grouped by the added column (or row) they belong to, in the order `added`
    lists them: (the entries' order, where each one's entries start), as HiGHS takes them."""
    position = np.empty(n, dtype=np.int64)
    position[added] = np.arange(added.size)
    owner = position[owners]
    order = np.argsort(owner, kind="stable")
    return order, np.searchsorted(owner[order], np.arange(added.size)).astype(np.int32)


def _add_columns(
    highs: highspy.Highs,
    live_col: np.ndarray,
    new_cols: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    live_row: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    entering: np.ndarray,
) -> None:
    added = np.flatnonzero(new_cols)
    if added.size == 0:
        return
    added = added[np.argsort(live_col[added])]
    order, starts = _grouped(added, cols[entering], live_col.size)
    highs.addCols(
        added.size,
        np.zeros(added.size),
        lower[added],
        upper[added],
        int(order.size),
        starts,
        live_row[rows[entering]][order].astype(np.int32),
        values[entering][order],
    )


def _add_rows(
    highs: highspy.Highs,
    live_col: np.ndarray,
    new_rows: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
) -> None:
    added = np.flatnonzero(new_rows)
    if added.size == 0:
        return
    mine = new_rows[rows]
    order, starts = _grouped(added, rows[mine], new_rows.size)
    highs.addRows(
        added.size,
        row_lower[added],
        row_upper[added],
        int(order.size),
        starts,
        live_col[cols[mine]][order].astype(np.int32),
        values[mine][order],
    )
