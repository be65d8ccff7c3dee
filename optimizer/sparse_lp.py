"""A tiny builder of sparse MILPs from numpy blocks, handed to highspy in one call.

Variables are added as named blocks (arrays of columns), constraints as blocks of rows given by
COO triplets, so a family of thousands of constraints is a handful of numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from smartcharge.optimizer.highs_runs import new_highs

INF = highspy.kHighsInf


@dataclass
class RowBlock:
    name: str
    rows: np.ndarray  # local row of each nonzero
    cols: np.ndarray
    values: np.ndarray
    lower: np.ndarray  # one per local row
    upper: np.ndarray
    ids: np.ndarray  # per local row, its number as the block was given (empty rows dropped)


@dataclass
class SparseLP:
    lower: list[np.ndarray] = field(default_factory=list)
    upper: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    row_blocks: list[RowBlock] = field(default_factory=list)
    n_cols: int = 0

    def add_vars(
        self, name: str, lower: np.ndarray, upper: np.ndarray, integer: bool = False
    ) -> np.ndarray:
        """Add len(lower) columns; returns their indices."""
        lower = np.asarray(lower, dtype=float)
        upper = np.broadcast_to(np.asarray(upper, dtype=float), lower.shape)
        cols = np.arange(self.n_cols, self.n_cols + lower.size)
        self.n_cols += lower.size
        self.lower.append(lower)
        self.upper.append(np.where(np.isfinite(upper), upper, INF))
        self.integer.append(np.full(lower.size, integer))
        self.blocks[name] = cols
        return cols

    def fix_to_zero(self, cols: np.ndarray) -> None:
        """Fix columns at 0 (bounds [0, 0])."""
        self.fix(cols, np.zeros(np.asarray(cols).size))

    def fix(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Fix columns at `values` (bounds [value, value])."""
        cols, values = np.asarray(cols), np.asarray(values, dtype=float)
        first = 0
        for lower, upper in zip(self.lower, self.upper, strict=True):
            inside = (cols >= first) & (cols < first + lower.size)
            local = cols[inside] - first
            lower[local] = upper[local] = values[inside]
            first += lower.size

    def add_rows(
        self,
        name: str,
        rows: np.ndarray,
        cols: np.ndarray,
        values: np.ndarray,
        lower: np.ndarray | float,
        upper: np.ndarray | float,
        n_rows: int | None = None,
    ) -> None:
        """Rows given as triplets (local row, column, coefficient); bounds per local row.

        Rows that can never bind are left out: without any nonzero (an empty sum within its
        bounds is no constraint), or whose least and greatest value over the columns' bounds
        lie within its own bounds (a circuit whose chargers together cannot exceed it in that
        slot). At depot scale that is nine rows in ten, which every LP re-solve would carry
        (warm re-solves skip presolve, which would find them). Columns are added before the
        rows that use them, and their bounds only ever tighten, so a row left out stays
        redundant.
        """
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        n_rows = int(rows.max(initial=-1)) + 1 if n_rows is None else n_rows
        lower = np.broadcast_to(np.asarray(lower, dtype=float), (n_rows,))
        upper = np.broadcast_to(np.asarray(upper, dtype=float), (n_rows,))
        keep = values != 0
        rows, cols, values = rows[keep], cols[keep], values[keep]
        used, local = np.unique(rows, return_inverse=True)
        least, most = self._activity_bounds(local, cols, values, used.size)
        binding = ~((least >= lower[used] - 1e-9) & (most <= upper[used] + 1e-9))
        entry_kept = binding[local]
        renumber = np.cumsum(binding) - 1
        self.row_blocks.append(
            RowBlock(
                name,
                renumber[local[entry_kept]],
                cols[entry_kept],
                values[entry_kept],
                lower[used][binding].copy(),
                upper[used][binding].copy(),
                used[binding],
            )
        )

    def _activity_bounds(
        self, local: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Least and greatest value of each row over the columns' bounds (nan: unbounded
        both ways, which never counts as redundant)."""
        if n_rows == 0:
            return np.zeros(0), np.zeros(0)
        col_lower, col_upper = np.concatenate(self.lower), np.concatenate(self.upper)
        at_lower, at_upper = values * col_lower[cols], values * col_upper[cols]
        with np.errstate(invalid="ignore"):
            least = np.bincount(local, np.minimum(at_lower, at_upper), minlength=n_rows)
            most = np.bincount(local, np.maximum(at_lower, at_upper), minlength=n_rows)
        return np.nan_to_num(least, nan=-np.inf), np.nan_to_num(most, nan=np.inf)

    def is_feasible(self, values: np.ndarray, tol: float = 1e-6) -> bool:
        """Whether `values` keep every column's bounds and every row, within `tol` (relative to
        the bound, absolute near 0)."""
        lower, upper = self.column_bounds()
        lower = np.where(lower <= -INF, -np.inf, lower)
        upper = np.where(upper >= INF, np.inf, upper)
        if np.any(values < lower - tol * (1 + np.abs(lower))) or np.any(
            values > upper + tol * (1 + np.abs(upper))
        ):
            return False
        for block in self.row_blocks:
            activity = np.bincount(
                block.rows, weights=block.values * values[block.cols], minlength=block.lower.size
            )
            with np.errstate(invalid="ignore"):
                low = activity < block.lower - tol * (1 + np.abs(block.lower))
                high = activity > block.upper + tol * (1 + np.abs(block.upper))
            if low.any() or high.any():
                return False
        return True

    def n_rows(self) -> int:
        return sum(block.lower.size for block in self.row_blocks)

    def row_offset(self, name: str, without: frozenset[str] = frozenset()) -> int:
        """Position of the first row of block `name` in the matrix handed to HiGHS (in the
        instance built `without` those row blocks)."""
        offset = 0
        for block in self.row_blocks:
            if block.name == name:
                return offset
            if block.name not in without:
                offset += block.lower.size
        raise KeyError(name)

    def kept_blocks(self, without_rows: frozenset[str] = frozenset()) -> list[RowBlock]:
        return [b for b in self.row_blocks if b.name not in without_rows]

    def triplets(self, blocks: list[RowBlock]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every nonzero of `blocks`, rows numbered in their order."""
        offsets = np.cumsum([0] + [b.lower.size for b in blocks])
        if not blocks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        rows = np.concatenate([b.rows + o for b, o in zip(blocks, offsets, strict=False)])
        cols = np.concatenate([b.cols for b in blocks])
        values = np.concatenate([b.values for b in blocks])
        return rows, cols, values

    def column_bounds(
        self, fixed_to_zero: frozenset[str] = frozenset()
    ) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = np.concatenate(self.lower), np.concatenate(self.upper)
        for name in fixed_to_zero:
            lower[self.blocks[name]] = upper[self.blocks[name]] = 0.0
        return lower, upper

    @staticmethod
    def row_bounds(blocks: list[RowBlock]) -> tuple[np.ndarray, np.ndarray]:
        if not blocks:
            return np.zeros(0), np.zeros(0)
        lower = np.concatenate([b.lower for b in blocks])
        upper = np.concatenate([b.upper for b in blocks])
        return np.where(np.isfinite(lower), lower, -INF), np.where(np.isfinite(upper), upper, INF)

    def to_highs(
        self,
        cost: np.ndarray,
        threads: int,
        relaxed: bool = False,
        without_rows: frozenset[str] = frozenset(),
        fixed_to_zero: frozenset[str] = frozenset(),
    ) -> highspy.Highs:
        """A HiGHS instance of the program (its LP relaxation with `relaxed`).

        `without_rows` leaves those row blocks out and `fixed_to_zero` fixes those column
        blocks at 0, keeping every column where it is: a relaxation that projects variables
        out keeps the column numbering of the MILP, so schedules and rows pass between them.
        """
        blocks = self.kept_blocks(without_rows)
        rows, cols, values = self.triplets(blocks)
        start, index, value = _compressed_columns(rows, cols, values, self.n_cols)
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = sum(b.lower.size for b in blocks)
        lp.col_cost_ = np.asarray(cost, dtype=float)
        lp.col_lower_, lp.col_upper_ = self.column_bounds(fixed_to_zero)
        lp.row_lower_, lp.row_upper_ = self.row_bounds(blocks)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        integer = np.concatenate(self.integer)
        if integer.any() and not relaxed:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                for i in integer
            ]
        highs = new_highs(threads)
        highs.passModel(lp)
        return highs


def _compressed_columns(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise (start, index, value) of COO triplets, duplicates summed (numpy alone:
    scipy.sparse would cost the solver path ~0.3 s of imports)."""
    order = np.lexsort((rows, cols))
    rows, cols, values = rows[order], cols[order], values[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    entry = np.cumsum(first) - 1
    summed = np.bincount(entry, weights=values, minlength=int(first.sum()))
    nonzero = summed != 0
    rows, cols, summed = rows[first][nonzero], cols[first][nonzero], summed[nonzero]
    start = np.searchsorted(cols, np.arange(n_cols + 1)).astype(np.int32)
    return start, rows.astype(np.int32), summed
