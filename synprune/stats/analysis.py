"""The whole stats stage as one pure function: long-format rows in, every table out.

Method (Demšar 2006, JMLR 7:1-30): blocks = dataset × model × seq_len × horizon (configurable),
treatments = arms (or, with ``select_on``, regularizer families each represented per block by
the arm selected on validation loss), one value per cell (the mean, or median, over seeds);
incomplete blocks dropped; Friedman χ² + Iman-Davenport F overall and per dataset / per model;
average ranks; Nemenyi post-hoc and its critical difference; pairwise Wilcoxon signed-rank with
Holm correction. With k = 2 treatments Friedman does not apply and only the Wilcoxon test is
reported. Nothing is averaged across datasets in their own units: summaries over blocks are of
ratios (to the naive forecast, to the best arm of the block) or of relative differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synprune.stats.answers import Answers, build_answers
from synprune.stats.arms import swept_fields
from synprune.stats.budget import BudgetCheck, budget_check
from synprune.stats.cells import cell_table, sensitivity_data
from synprune.stats.headline import Headline, headline, naive_ratios
from synprune.stats.integrity import Failures, split_failures
from synprune.stats.io import naive_column
from synprune.stats.ranking import (
    DEFAULT_BLOCKS,
    FAMILY,
    BlockDesign,
    average_ranks,
    block_matrix,
    cd_groups,
    rank_matrix,
    tied_positions,
    treatment_column,
)
from synprune.stats.selection import Selection, select_on
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
    failures: Failures | None = None
    selection: Selection | None = None
    cells: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    wilcoxon_scale: str = "raw"
    naive: str | None = "naive_mae"
    budget: BudgetCheck | None = None  # with selection: the best family at an equal budget
    answers: Answers | None = None  # effects, primary comparison, DM, references, power

    @property
    def treatment(self) -> str:
        """The column the treatments come from: ``arm`` or ``regularizer`` (families)."""
        return self.design.treatment


def ranking_table(
    design: BlockDesign, metric: str, families: dict[str, str] | None = None
) -> pd.DataFrame:
    """Per treatment: average rank (Demšar 2006 §3.2.2), shared position when tied, blocks won,
    and unit-free summaries over blocks: the median ratio to the naive forecast (when known)
    and the median % above the best treatment of the block."""
    m = design.matrix
    ranks = rank_matrix(m)
    best = m.min(axis=1).to_numpy()[:, None]
    with np.errstate(all="ignore"):
        above = 100.0 * (m.to_numpy(dtype=float) / best - 1.0)
    above[~np.isfinite(above)] = np.nan
    name = design.treatment
    df = pd.DataFrame({name: [str(c) for c in m.columns]})
    if families is not None and name != FAMILY:
        df[FAMILY] = [families.get(str(c), "") for c in m.columns]
    df["average_rank"] = ranks.mean(axis=0).to_numpy()
    df["blocks_ranked_first"] = (ranks == ranks.min(axis=1).to_numpy()[:, None]).sum().to_numpy()
    if design.naive is not None and np.isfinite(design.naive.to_numpy(dtype=float)).any():
        df["median_ratio_to_naive"] = naive_ratios(m, design.naive).median(axis=0).to_numpy()
    df["median_pct_above_block_best"] = np.nanmedian(above, axis=0) if len(m) else np.nan
    df["n_blocks"] = len(m)
    df = df.sort_values(["average_rank", name], kind="stable").reset_index(drop=True)
    df.insert(1, "position", tied_positions(df["average_rank"]))
    return df


def friedman_table(matrix: pd.DataFrame, blocks: Sequence[str], alpha: float) -> pd.DataFrame:
    """Friedman / Iman-Davenport rows: overall, then per dataset and per model (if blocked on).

    ``significant`` uses the Iman-Davenport p, or the exact p where every block ranks the arms
    identically (F undefined, see :func:`synprune.stats.tests.friedman`).
    """
    rows: list[dict[str, object]] = []

    def add(scope: str, group: str, res: FriedmanResult) -> None:
        d = res.as_dict()
        keys = ("n_blocks", "k", "chi2", "p_chi2", "f_stat", "df1", "df2", "p_f", "p_exact")
        rows.append(
            {
                "scope": scope,
                "group": group,
                **{k: d[k] for k in keys},
                "significant": bool(np.isfinite(res.p) and res.p <= alpha),
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
    select: str | None = None,
    primary: tuple[str, str] | None = None,
    margin: float = 0.01,
    predictions: pd.DataFrame | None = None,
    n_boot: int = 2000,
    boot_seed: int | None = None,
) -> StatsResult:
    """Run the full method on long-format rows; raises ValueError on unusable designs.

    ``select`` (e.g. "val_loss"): rank regularizer families, each block contributing the arm
    of the family with the lowest mean ``select`` over seeds (:mod:`synprune.stats.selection`).
    ``primary`` (default synaptic vs dropout when both are ranked), ``margin``, ``predictions``
    (long per-window rows), ``n_boot`` and ``boot_seed``: see :mod:`synprune.stats.answers`.
    """
    blocks = tuple(blocks)
    usable, failures = split_failures(rows, metric, blocks)
    treat = treatment_column(usable)
    selection = None
    design_rows, treatments = usable, None
    if select:
        selection = select_on(usable, select, blocks)
        design_rows, treat, treatments = selection.rows, FAMILY, selection.families
    naive = naive_column(metric)
    design = block_matrix(
        design_rows,
        metric,
        blocks=blocks,
        aggregate=aggregate,
        strict=strict,
        naive_column=naive,
        treatment=treat,
        treatments=treatments,
    )
    m = design.matrix
    notes = [*(selection.notes if selection else ()), *design.notes]
    what = "regularizer families" if select else "arms"
    if design.k < 2:
        raise ValueError(f"need at least 2 {what} to compare, found {design.k}")
    if design.n_blocks == 0:
        raise ValueError(
            f"no complete block: every one of {len(design.dropped)} blocks misses an arm"
        )
    fr = friedman_table(m, design.blocks, alpha)
    overall = None
    nem = None
    if design.k == 2:
        notes.append(
            f"only k = 2 {what}: the Friedman test and Nemenyi post-hoc do not apply "
            "(Demšar 2006 §3.1.3); the Wilcoxon signed-rank test below is the test"
        )
    else:
        overall = friedman(m, alpha)
        nem = nemenyi(m)
        nem.index.name = treat
        if np.isfinite(overall.p) and overall.p > alpha:
            notes.append(
                f"the Friedman null (all {what} equivalent) is not rejected at "
                f"α = {alpha}: post-hoc results are shown for completeness only"
            )
    scale = "log" if bool(np.all(m.to_numpy(dtype=float) > 0)) else "raw"
    if scale == "raw":
        notes.append(
            "some cell is <= 0: the Wilcoxon tests use raw differences, which are not "
            "comparable across datasets in different units"
        )
    avg = average_ranks(m)
    groups = cd_groups(avg, overall.cd) if overall is not None else []
    sensitivity = sensitivity_data(usable, metric)
    if sensitivity.empty and "arm" in usable.columns and swept_fields(usable["arm"].unique()):
        notes.append(
            "arms sweep a field, but the sensitivity figure needs a numeric swept field and an "
            "arm named 'none' in the same blocks: not drawn"
        )
    budget = None
    if select:
        best_family = str(avg.sort_values(kind="stable").index[0])
        budget = budget_check(usable, metric, select, blocks, aggregate, alpha, best_family)
    families = None
    if treat != FAMILY and FAMILY in usable.columns:
        families = dict(zip(usable[treat].astype(str), usable[FAMILY].astype(str)))
    return StatsResult(
        metric=metric,
        alpha=alpha,
        aggregate=aggregate,
        design=design,
        ranking=ranking_table(design, metric, families),
        friedman=fr,
        overall=overall,
        nemenyi=nem,
        wilcoxon=wilcoxon_holm(m, alpha, scale=scale),
        avg_ranks=avg,
        cd_groups=groups,
        headline=headline(m, design.naive, design.blocks, metric, naive),
        notes=tuple(notes),
        failures=failures,
        selection=selection,
        cells=cell_table(usable, metric, blocks, naive) if "arm" in usable.columns else None,
        sensitivity=sensitivity,
        wilcoxon_scale=scale,
        naive=naive,
        budget=budget,
        answers=build_answers(
            design_rows,
            design,
            metric,
            aggregate=aggregate,
            alpha=alpha,
            selection=selection,
            primary=primary,
            margin=margin,
            predictions=predictions,
            n_boot=n_boot,
            **({} if boot_seed is None else {"boot_seed": boot_seed}),
            all_rows=usable,
        ),
    )
