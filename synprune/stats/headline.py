"""The paper's headline figures, recomputed per block (pure functions, no I/O).

* % change of synaptic pruning vs each baseline arm, per block (cell):
  100 · (synaptic − base) / base  (negative = synaptic has the lower error).
* Every arm's error relative to the naive persistence forecast, per block: metric / naive
  (naive_mae for test_mae, naive_rmse for test_rmse; < 1 = the arm beats the naive forecast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synprune.stats.ranking import block_label

PROPOSED = "synaptic"
BASELINES = ("none", "dropout", "mc_dropout")


@dataclass(frozen=True)
class Headline:
    """Per-block % changes, their summary, naive ratios and notes for the report."""

    pct_change: pd.DataFrame  # rows = blocks (label), columns = "vs_<base>"
    pct_summary: pd.DataFrame  # one row per baseline
    naive_ratio: pd.DataFrame | None  # rows = blocks, columns = arms
    naive_summary: pd.DataFrame | None  # one row per arm
    notes: tuple[str, ...]


def pct_change(
    matrix: pd.DataFrame, proposed: str = PROPOSED, baselines: tuple[str, ...] = BASELINES
) -> pd.DataFrame:
    """100 · (proposed − base) / base for each block and each baseline present."""
    present = [b for b in baselines if b in matrix.columns]
    out = pd.DataFrame(index=matrix.index)
    for b in present:
        with np.errstate(all="ignore"):
            out[f"vs_{b}"] = 100.0 * (matrix[proposed] - matrix[b]) / matrix[b]
    return out


def summarise_pct(pct: pd.DataFrame) -> pd.DataFrame:
    """Median, range and win count of each % change column (finite values only)."""
    rows = []
    for col in pct.columns:
        v = pct[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        rows.append(
            {
                "comparison": f"synaptic {col.replace('_', ' ', 1)}",
                "n_blocks": int(v.size),
                "median_pct": float(np.median(v)) if v.size else np.nan,
                "min_pct": float(v.min()) if v.size else np.nan,
                "max_pct": float(v.max()) if v.size else np.nan,
                "synaptic_better": int(np.sum(v < 0)),
            }
        )
    return pd.DataFrame(rows)


def naive_ratios(matrix: pd.DataFrame, naive: pd.Series) -> pd.DataFrame:
    """metric / naive per block and arm (NaN where the naive value is missing or zero)."""
    nv = naive.reindex(matrix.index).to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        ratio = matrix.to_numpy(dtype=float) / nv[:, None]
    ratio[~np.isfinite(ratio)] = np.nan
    return pd.DataFrame(ratio, index=matrix.index, columns=matrix.columns)


def summarise_naive(ratio: pd.DataFrame, name: str = "arm") -> pd.DataFrame:
    """Per arm: blocks with a ratio, median / mean ratio, and how many blocks beat naive.

    Ratios are unit-free, so summarising them over blocks of different datasets is meaningful.
    """
    rows = []
    for arm in ratio.columns:
        v = ratio[arm].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        rows.append(
            {
                name: str(arm),
                "n_blocks": int(v.size),
                "median_ratio": float(np.median(v)) if v.size else np.nan,
                "mean_ratio": float(np.mean(v)) if v.size else np.nan,
                "blocks_beating_naive": int(np.sum(v < 1.0)),
                "beats_naive_median": bool(v.size and np.median(v) < 1.0),
            }
        )
    return pd.DataFrame(rows)


def headline(
    matrix: pd.DataFrame,
    naive: pd.Series | None,
    blocks: tuple[str, ...],
    metric: str,
    naive_name: str | None = "naive_mae",
) -> Headline:
    """All headline figures for a block matrix; missing pieces become notes, never errors.

    ``naive`` holds the per-block naive forecast error in the same measure as ``metric``
    (``naive_name``: naive_mae for test_mae, naive_rmse for test_rmse; None when the metric has
    no naive counterpart).
    """
    notes: list[str] = []
    labels = [block_label(b, blocks) for b in matrix.index]
    if PROPOSED in matrix.columns and any(b in matrix.columns for b in BASELINES):
        pct = pct_change(matrix)
        pct.index = pd.Index(labels, name="block")
        summary = summarise_pct(pct)
    else:
        pct, summary = pd.DataFrame(index=pd.Index(labels, name="block")), pd.DataFrame()
        notes.append(
            f"% change of {PROPOSED} vs the baselines not computed: needs a treatment named "
            f"'{PROPOSED}' and one of {', '.join(BASELINES)} (with swept arms, rank families "
            "with --select-on val_loss; per-arm changes relative to none are in the "
            "sensitivity figure)"
        )
    ratio = ratio_summary = None
    name = matrix.columns.name or "regularizer"
    if naive_name is None:
        notes.append(
            f"naive ratios not computed: metric '{metric}' has no naive counterpart "
            "(naive_mae for test_mae, naive_rmse for test_rmse)"
        )
    elif naive is None or not np.isfinite(naive.to_numpy(dtype=float)).any():
        notes.append(f"{naive_name} not available: the ratio to the naive forecast is not reported")
    else:
        ratio = naive_ratios(matrix, naive)
        ratio.index = pd.Index(labels, name="block")
        n_missing = int(ratio.isna().all(axis=1).sum())
        if n_missing:
            notes.append(f"{naive_name} missing (or zero) for {n_missing} block(s): left out")
        ratio_summary = summarise_naive(ratio, str(name))
    return Headline(pct, summary, ratio, ratio_summary, tuple(notes))
