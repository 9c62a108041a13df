"""The whole stats stage as one pure function: long-format rows in, every table out.

Method (Demšar 2006, JMLR 7:1-30): blocks = dataset × model × seq_len × horizon (configurable),
treatments = regularizers, one value per cell (the mean, or median, over seeds); incomplete
blocks dropped; Friedman χ² + Iman-Davenport F overall and per dataset / per model; average ranks;
Nemenyi post-hoc and its critical difference; pairwise Wilcoxon signed-rank with Holm correction.
With k = 2 arms Friedman does not apply and only the Wilcoxon test is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synprune.stats.headline import Headline, headline
from synprune.stats.ranking import (
    DEFAULT_BLOCKS,
    BlockDesign,
    average_ranks,
    block_matrix,
    cd_groups,
    rank_matrix,
)
from synprune.stats.tests import FriedmanResult, friedman, friedman_by, nemenyi, wilcoxon_holm


@dataclass(frozen=True)
class StatsResult:
    """Everything the report needs; all tables are plain DataFrames."""

    metric: str
    alpha: float
    aggregate: str
    design: BlockDesign
    ranking: pd.DataFrame
    friedman: pd.DataFrame
    overall: FriedmanResult | None
    nemenyi: pd.DataFrame | None
    wilcoxon: pd.DataFrame
    avg_ranks: pd.Series
    cd_groups: list[tuple[str, ...]]
    headline: Headline
    notes: tuple[str, ...]


def ranking_table(design: BlockDesign, metric: str) -> pd.DataFrame:
    """Per arm: average rank (Demšar 2006 §3.2.2), position, blocks won, metric mean/median."""
    m = design.matrix
    ranks = rank_matrix(m)
    avg = ranks.mean(axis=0)
    df = pd.DataFrame(
        {
            "regularizer": [str(c) for c in m.columns],
            "average_rank": avg.to_numpy(),
            "blocks_ranked_first": (ranks == ranks.min(axis=1).to_numpy()[:, None])
            .sum()
            .to_numpy(),
            f"mean_{metric}": m.mean(axis=0).to_numpy(),
            f"median_{metric}": m.median(axis=0).to_numpy(),
            "n_blocks": len(m),
        }
    )
    df = df.sort_values(["average_rank", "regularizer"], kind="stable").reset_index(drop=True)
    df.insert(1, "position", np.arange(1, len(df) + 1))
    return df


def friedman_table(matrix: pd.DataFrame, blocks: Sequence[str], alpha: float) -> pd.DataFrame:
    """Friedman / Iman-Davenport rows: overall, then per dataset and per model (if blocked on)."""
    rows: list[dict[str, object]] = []

    def add(scope: str, group: str, res: FriedmanResult) -> None:
        d = res.as_dict()
        rows.append(
            {
                "scope": scope,
                "group": group,
                **{k: d[k] for k in ("n_blocks", "k", "chi2", "p_chi2", "f_stat", "df1", "df2")},
                "p_f": d["p_f"],
                "significant": bool(np.isfinite(res.p_f) and res.p_f <= alpha),
                "cd": d["cd"],
                "note": d["note"],
            }
        )

    add("overall", "all", friedman(matrix, alpha))
    for level in ("dataset", "model"):
        if level in blocks and len(matrix):
            for value, res in friedman_by(matrix, level, alpha):
                add(level, value, res)
    return pd.DataFrame(rows)


def analyze(
    rows: pd.DataFrame,
    metric: str,
    *,
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    aggregate: str = "mean",
    alpha: float = 0.05,
    strict: bool = False,
) -> StatsResult:
    """Run the full method on long-format rows; raises ValueError on unusable designs."""
    design = block_matrix(rows, metric, blocks=blocks, aggregate=aggregate, strict=strict)
    m = design.matrix
    notes = list(design.notes)
    if design.k < 2:
        raise ValueError(f"need at least 2 regularizers to compare, found {design.k}")
    if design.n_blocks == 0:
        raise ValueError(
            f"no complete block: every one of {len(design.dropped)} blocks misses an arm"
        )
    fr = friedman_table(m, design.blocks, alpha)
    overall = None
    nem = None
    if design.k == 2:
        notes.append(
            "only k = 2 regularizers: the Friedman test and Nemenyi post-hoc do not apply "
            "(Demšar 2006 §3.1.3); the Wilcoxon signed-rank test below is the test"
        )
    else:
        overall = friedman(m, alpha)
        nem = nemenyi(m)
        if np.isfinite(overall.p_f) and overall.p_f > alpha:
            notes.append(
                f"the Friedman/Iman-Davenport null (all arms equivalent) is not rejected at "
                f"α = {alpha}: post-hoc results are shown for completeness only"
            )
    avg = average_ranks(m)
    groups = cd_groups(avg, overall.cd) if overall is not None else []
    return StatsResult(
        metric=metric,
        alpha=alpha,
        aggregate=aggregate,
        design=design,
        ranking=ranking_table(design, metric),
        friedman=fr,
        overall=overall,
        nemenyi=nem,
        wilcoxon=wilcoxon_holm(m, alpha),
        avg_ranks=avg,
        cd_groups=groups,
        headline=headline(m, design.naive, design.blocks, metric),
        notes=tuple(notes),
    )
