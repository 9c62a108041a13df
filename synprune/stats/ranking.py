"""Block design, average ranks and the Nemenyi critical difference.

References
----------
Demšar, J. (2006). Statistical comparisons of classifiers over multiple data sets.
Journal of Machine Learning Research 7:1-30.  (cited below as "Demšar 2006")

Everything here is a pure function of DataFrames / numbers: no file or MLflow I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as ss

DEFAULT_BLOCKS: tuple[str, ...] = ("dataset", "model", "seq_len", "horizon")
TREATMENT = "arm"
FAMILY = "regularizer"
SEED = "seed"
AGGREGATES = ("mean", "median")


class IncompleteBlocksError(ValueError):
    """Raised by :func:`block_matrix` with ``strict=True`` when a block misses an arm."""


@dataclass(frozen=True)
class BlockDesign:
    """A complete block design: one row per block, one column per treatment (arm).

    ``matrix`` holds the cell values (seed-aggregated metric), ``naive`` the seed-aggregated
    naive-forecast metric per block (``None`` when unavailable), ``dropped`` one row per
    incomplete block with the arms it misses, ``n_seeds`` the number of seeds per cell.
    """

    matrix: pd.DataFrame
    dropped: pd.DataFrame
    n_seeds: pd.DataFrame
    naive: pd.Series | None = None
    blocks: tuple[str, ...] = DEFAULT_BLOCKS
    notes: tuple[str, ...] = field(default_factory=tuple)
    treatment: str = TREATMENT

    @property
    def n_blocks(self) -> int:
        """N in Demšar 2006: number of (complete) blocks."""
        return int(self.matrix.shape[0])

    @property
    def k(self) -> int:
        """k in Demšar 2006: number of treatments compared."""
        return int(self.matrix.shape[1])


def block_label(key: object, blocks: Sequence[str]) -> str:
    """Readable label of one block, e.g. ``dataset=bitcoin model=lstm seq_len=14 horizon=1``."""
    values = key if isinstance(key, tuple) else (key,)
    return " ".join(f"{b}={v}" for b, v in zip(blocks, values))


def treatment_column(rows: pd.DataFrame) -> str:
    """``arm`` when the rows have that column, else ``regularizer`` (rows from before arms)."""
    return TREATMENT if TREATMENT in rows.columns else FAMILY


def block_matrix(
    rows: pd.DataFrame,
    metric: str,
    *,
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    aggregate: str = "mean",
    strict: bool = False,
    naive_column: str | None = "naive_mae",
    treatment: str | None = None,
    treatments: Sequence[str] | None = None,
) -> BlockDesign:
    """Aggregate long-format trial rows into a complete block design.

    Treatments are the ``treatment`` column (default: ``arm``, else ``regularizer``).
    Seeds are never blocks: each cell (block x treatment) is the ``aggregate`` ("mean" or
    "median") of ``metric`` over all finite rows in it (normally one per seed), *before* any
    ranking (DESIGN.md protocol; Demšar 2006 §3 assumes one value per data set and method).
    A block lacking a finite value for any arm seen anywhere in ``rows`` (or named in
    ``treatments``) is incomplete: it is
    dropped and listed, or, with ``strict=True``, :class:`IncompleteBlocksError` is raised.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    blocks = tuple(blocks)
    treat = treatment or treatment_column(rows)
    arms = sorted(treatments or rows[treat].astype(str).unique())
    finite = rows[np.isfinite(rows[metric].to_numpy(dtype=float))]
    finite = finite.assign(**{treat: finite[treat].astype(str)})
    grouped = finite.groupby([*blocks, treat], sort=True, observed=True)[metric]
    cells = grouped.agg(aggregate).unstack(treat)
    counts = grouped.size().unstack(treat)
    all_blocks = rows.groupby(list(blocks), sort=True, observed=True).size().index
    cells = cells.reindex(index=all_blocks, columns=arms)
    counts = counts.reindex(index=all_blocks, columns=arms).fillna(0).astype(int)

    missing = cells.isna()
    bad = missing.any(axis=1)
    dropped = pd.DataFrame(
        {
            "block": [block_label(b, blocks) for b in cells.index[bad]],
            "missing_arms": [
                ", ".join(c for c in arms if missing.loc[b, c]) for b in cells.index[bad]
            ],
        }
    )
    if strict and bad.any():
        listed = "; ".join(f"{r.block} (missing {r.missing_arms})" for r in dropped.itertuples())
        raise IncompleteBlocksError(f"{int(bad.sum())} incomplete block(s) with --strict: {listed}")
    matrix = cells.loc[~bad].astype(float)
    matrix.columns.name = treat
    notes: list[str] = []
    per_cell = counts.loc[~bad].to_numpy()
    if per_cell.size and per_cell.min() != per_cell.max():
        notes.append(
            f"cells hold between {per_cell.min()} and {per_cell.max()} seeds "
            f"(each cell is the {aggregate} of what it holds)"
        )

    naive = None
    if naive_column and naive_column in rows.columns:
        nv = rows[[*blocks, naive_column]].copy()
        nv[naive_column] = pd.to_numeric(nv[naive_column], errors="coerce")
        nv = nv[np.isfinite(nv[naive_column].to_numpy(dtype=float))]
        if not nv.empty:
            agg = nv.groupby(list(blocks), sort=True, observed=True)[naive_column].agg(aggregate)
            naive = agg.reindex(matrix.index)
    return BlockDesign(
        matrix=matrix,
        dropped=dropped,
        n_seeds=counts.loc[~bad],
        naive=naive,
        blocks=blocks,
        notes=tuple(notes),
        treatment=treat,
    )


def rank_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Within-block ranks: lower metric = better = rank 1; ties get the average rank.

    Demšar 2006 §3.2.2: "r_i^j the rank of the j-th of k algorithms on the i-th of N data sets
    ... in case of ties, average ranks are assigned".
    """
    ranks = ss.rankdata(matrix.to_numpy(dtype=float), axis=1, method="average")
    return pd.DataFrame(ranks, index=matrix.index, columns=matrix.columns)


def average_ranks(matrix: pd.DataFrame) -> pd.Series:
    """R_j = (1/N) Σ_i r_i^j (Demšar 2006 §3.2.2), sorted best (lowest) first."""
    return rank_matrix(matrix).mean(axis=0).sort_values(kind="stable")


def tied_positions(avg_ranks: pd.Series, tol: float = 1e-9) -> list[str]:
    """Positions of arms sorted by average rank; tied arms share one: ``["1–2", "1–2", "3"]``.

    Average ranks are multiples of 1/(2N), so equal ranks compare equal up to rounding.
    """
    vals = avg_ranks.to_numpy(dtype=float)
    out: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and abs(vals[j + 1] - vals[i]) <= tol:
            j += 1
        out += [str(i + 1) if i == j else f"{i + 1}–{j + 1}"] * (j - i + 1)
        i = j + 1
    return out


def q_alpha(k: int, alpha: float = 0.05) -> float:
    """Nemenyi critical value q_α: the studentized range quantile (k groups, ∞ df) / √2.

    Demšar 2006 §3.2.2 and Table 5(a): q_0.05 = 1.960, 2.343, 2.569, 2.728 for k = 2..5.
    """
    if k < 2:
        raise ValueError(f"q_alpha needs k >= 2 treatments, got {k}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(ss.studentized_range.ppf(1.0 - alpha, k, np.inf) / np.sqrt(2.0))


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference CD = q_α · sqrt(k(k+1) / (6N))  (Demšar 2006, eq. after (3))."""
    if n_blocks < 1:
        raise ValueError(f"critical_difference needs N >= 1 blocks, got {n_blocks}")
    return q_alpha(k, alpha) * float(np.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def cd_groups(avg_ranks: pd.Series, cd: float) -> list[tuple[str, ...]]:
    """Maximal runs of methods (in rank order) whose average ranks differ by less than CD.

    These are the thick bars of a Demšar CD diagram (Demšar 2006, Fig. 1): methods joined by a
    bar are not significantly different by the Nemenyi test. Runs contained in a longer run are
    omitted; singletons are omitted.
    """
    r = avg_ranks.sort_values(kind="stable")
    names, vals = list(r.index), r.to_numpy(dtype=float)
    runs: list[tuple[int, int]] = []
    for i in range(len(vals)):
        j = i
        while j + 1 < len(vals) and vals[j + 1] - vals[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return [tuple(names[a : b + 1]) for a, b in runs]
