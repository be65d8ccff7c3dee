"""A tiny builder of sparse MILPs from numpy blocks, handed to highspy in one call.

Variables are added as named blocks (arrays of columns), constraints as blocks of rows given by
COO triplets, so a family of thousands of constraints is a handful of numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

INF = highspy.kHighsInf


@dataclass
class RowBlock:
    name: str
    rows: np.ndarray  # local row of each nonzero
    cols: np.ndarray
    values: np.ndarray
    lower: np.ndarray  # one per local row
    upper: np.ndarray


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

        Rows without any nonzero are dropped (an empty sum within its bounds is no constraint).
        """
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        n_rows = int(rows.max(initial=-1)) + 1 if n_rows is None else n_rows
        lower = np.broadcast_to(np.asarray(lower, dtype=float), (n_rows,))
        upper = np.broadcast_to(np.asarray(upper, dtype=float), (n_rows,))
        keep = values != 0
        rows, cols, values = rows[keep], cols[keep], values[keep]
        used, local = np.unique(rows, return_inverse=True)
        self.row_blocks.append(
            RowBlock(name, local, cols, values, lower[used].copy(), upper[used].copy())
        )

    def n_rows(self) -> int:
        return sum(block.lower.size for block in self.row_blocks)

    def row_offset(self, name: str) -> int:
        """Position of the first row of block `name` in the matrix handed to HiGHS."""
        offset = 0
        for block in self.row_blocks:
            if block.name == name:
                return offset
            offset += block.lower.size
        raise KeyError(name)

    def to_highs(self, cost: np.ndarray, threads: int, relaxed: bool = False) -> highspy.Highs:
        """A HiGHS instance of the program (its LP relaxation with `relaxed`).

        HiGHS's thread scheduler is global to the process: every instance must ask for the
        same number of threads or its runs fail.
        """
        offsets = np.cumsum([0] + [b.lower.size for b in self.row_blocks])
        rows = np.concatenate([b.rows + o for b, o in zip(self.row_blocks, offsets, strict=False)])
        cols = np.concatenate([b.cols for b in self.row_blocks])
        values = np.concatenate([b.values for b in self.row_blocks])
        matrix = sp.csc_matrix((values, (rows, cols)), shape=(int(offsets[-1]), self.n_cols))
        matrix.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = int(offsets[-1])
        lp.col_cost_ = np.asarray(cost, dtype=float)
        lp.col_lower_ = np.concatenate(self.lower)
        lp.col_upper_ = np.concatenate(self.upper)
        row_lower = np.concatenate([b.lower for b in self.row_blocks])
        row_upper = np.concatenate([b.upper for b in self.row_blocks])
        lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -INF)
        lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, INF)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data
        integer = np.concatenate(self.integer)
        if integer.any() and not relaxed:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                for i in integer
            ]
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("threads", threads)
        highs.passModel(lp)
        return highs
