"""Equal tuning budget: does the winning family win only because it had more arms to pick from?

Selection on validation (:mod:`synprune.stats.selection`) takes, per block, the best of a
family's arms. The more arms a family has, the lower its best validation loss is by chance
alone, and the test error follows part of the way: a family with 9 configurations against
one with 3 gets a larger tuning budget. :func:`budget_check` repeats the family ranking with
the best-ranked family restricted to every subset of its arms of the size the next-largest
family has (all subsets up to ``MAX_SUBSETS``, otherwise a fixed-seed sample of them), the
other families unchanged, and reports per subset the family's average rank (Demšar 2006
§3.2.2), its position and the Friedman/Iman-Davenport p. Pure functions; no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synprune.stats.ranking import DEFAULT_BLOCKS, FAMILY, TREATMENT, average_ranks, block_matrix
from synprune.stats.selection import select_on
from synprune.stats.tests import friedman

MAX_SUBSETS = 500


@dataclass(frozen=True)
class BudgetCheck:
    """The family checked, its arm count, the budget (arms per subset) and one row per subset."""

    family: str
    n_arms: int
    size: int
    budget_of: tuple[str, ...]  # the families with ``size`` arms
    n_subsets: int  # all subsets of that size (``table`` holds a sample when larger)
    table: pd.DataFrame  # arms, average_rank, position, first, p, significant

    def summary(self, alpha: float) -> str:
        t = self.table
        first = int(t["first"].sum())
        sig = int(t["significant"].sum())
        sampled = (
            f" (a fixed sample of {len(t)} of the {self.n_subsets} subsets)"
            if len(t) < self.n_subsets
            else ""
        )
        return (
            f"With `{self.family}` limited to {self.size} of its {self.n_arms} arms, the budget "
            f"of {', '.join(f'`{f}`' for f in self.budget_of)}, in each of the "
            f"{len(t)} ways to choose them{sampled}: it ranks first (alone or tied) in "
            f"{first} of {len(t)}, with average rank median {t['average_rank'].median():.2f} "
            f"(range {t['average_rank'].min():.2f}–{t['average_rank'].max():.2f}); the "
            f"Friedman test rejects equivalence (α = {alpha}) in {sig} of {len(t)}."
        )


def budget_check(
    rows: pd.DataFrame,
    metric: str,
    on: str = "val_loss",
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    aggregate: str = "mean",
    alpha: float = 0.05,
    family: str | None = None,
) -> BudgetCheck | None:
    """Rank families again with ``family`` (default: the best-ranked one under selection on
    ``on``) restricted to every subset of its arms as large as the next-largest family's arm
    count. ``None`` when that family has no more arms than another, or no other family has two
    (a budget of one arm is no selection: compare those families on the arms themselves)."""
    blocks = list(blocks)
    counts = rows.groupby(FAMILY)[TREATMENT].nunique()
    if family is None:
        family = _best_family(rows, metric, on, blocks, aggregate)
        if family is None:
            return None
    others = counts.drop(family, errors="ignore")
    if family not in counts or others.empty:
        return None
    size = int(others.max())
    n_arms = int(counts[family])
    if size < 2 or n_arms <= size:
        return None
    arms = sorted(rows.loc[rows[FAMILY] == family, TREATMENT].astype(str).unique())
    n_subsets = math.comb(n_arms, size)
    subsets = list(itertools.combinations(arms, size))
    if n_subsets > MAX_SUBSETS:
        rng = np.random.default_rng(0)
        picked = sorted(rng.choice(n_subsets, MAX_SUBSETS, replace=False))
        subsets = [subsets[i] for i in picked]
    keep_others = rows[FAMILY] != family
    out = []
    for subset in subsets:
        sub = rows[keep_others | rows[TREATMENT].isin(subset)]
        avg, p = _rank_families(sub, metric, on, blocks, aggregate, alpha)
        if avg is None or family not in avg.index:
            continue
        mine = float(avg[family])
        out.append(
            {
                "arms": "; ".join(subset),
                "average_rank": mine,
                "position": 1 + int((avg.drop(family) < mine - 1e-9).sum()),
                "first": bool((avg.drop(family) >= mine - 1e-9).all()),
                "p": p,
                "significant": bool(np.isfinite(p) and p <= alpha),
            }
        )
    budget_of = tuple(sorted(str(f) for f, n in others.items() if n == size))
    table = pd.DataFrame(
        out, columns=["arms", "average_rank", "position", "first", "p", "significant"]
    )
    return BudgetCheck(family, n_arms, size, budget_of, n_subsets, table)


def _best_family(
    rows: pd.DataFrame, metric: str, on: str, blocks: list[str], aggregate: str
) -> str | None:
    avg, _ = _rank_families(rows, metric, on, blocks, aggregate, 0.05)
    return None if avg is None else str(avg.sort_values(kind="stable").index[0])


def _rank_families(
    rows: pd.DataFrame, metric: str, on: str, blocks: list[str], aggregate: str, alpha: float
) -> tuple[pd.Series | None, float]:
    selection = select_on(rows, on, blocks)
    design = block_matrix(
        selection.rows,
        metric,
        blocks=blocks,
        aggregate=aggregate,
        naive_column=None,
        treatment=FAMILY,
        treatments=selection.families,
    )
    if design.k < 3 or design.n_blocks == 0:
        return None, math.nan
    return average_ranks(design.matrix), float(friedman(design.matrix, alpha).p)
