"""Configuration selection on the validation split (``synprune stats --select-on val_loss``).

For every block (dataset × model × seq_len × horizon) and every family (the arm's regularizer,
e.g. all ``synaptic[final_sparsity=...]`` arms), the arm with the lowest mean validation loss
over its seeds is selected; the families are then ranked on the *test* metric with the usual
tests, each block contributing its selected arm. Choosing on the test split would make the
ranking optimistic for the families with more arms (a winner's curse), so it is never offered.

Pure functions over long-format rows; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synprune.errors import ConfigError
from synprune.stats.integrity import FINISHED
from synprune.stats.ranking import DEFAULT_BLOCKS, FAMILY, TREATMENT

SELECTED = "selected_arm"


@dataclass(frozen=True)
class Selection:
    """The rows of the selected arms, the per-block choice table, and the families compared."""

    rows: pd.DataFrame
    table: pd.DataFrame  # blocks..., regularizer, selected_arm, mean_<on>, n_seeds, ...
    families: tuple[str, ...]
    on: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_select_on(on: str, columns: Sequence[str], source: str = "") -> None:
    """Refuse selection on anything but a validation column that the rows have."""
    if on.startswith(("test_", "naive_")) or on in ("test", "naive"):
        raise ConfigError(
            f"--select-on {on}: selecting configurations on the test split is not offered -- the "
            f"ranking would then be scored on the data that chose the winners (optimistic "
            f"bias). Select on validation loss: --select-on val_loss"
        )
    if not on.startswith("val_"):
        raise ConfigError(f"--select-on {on}: allowed: a validation metric such as val_loss")
    if on not in columns:
        where = f" in {source}" if source else ""
        raise ConfigError(f"--select-on {on}: no '{on}' values{where} (no run logged it)")


def select_on(
    rows: pd.DataFrame,
    on: str = "val_loss",
    blocks: Sequence[str] = DEFAULT_BLOCKS,
) -> Selection:
    """Select, per block and family, the arm with the lowest mean ``on`` over seeds.

    Only finished rows with a finite ``on`` are candidates. Ties (equal means) go to the arm
    whose label sorts first, so the choice is deterministic. A (block, family) without any
    candidate selects nothing: that family is missing from the block, which then counts as
    incomplete. Returns the rows of the selected arms (all their seeds, failures included).
    """
    check_select_on(on, list(rows.columns))
    blocks = list(blocks)
    if TREATMENT not in rows.columns:
        rows = rows.assign(**{TREATMENT: rows[FAMILY]})
    fam_col, arm_col = FAMILY, TREATMENT
    families = tuple(sorted(rows[fam_col].astype(str).unique()))
    v = rows[on].to_numpy(dtype=float)
    ok = np.isfinite(v)
    if "status" in rows.columns:
        ok &= (rows["status"] == FINISHED).to_numpy()
    cand = rows[ok]
    keys = [*blocks, fam_col, arm_col]
    stats = (
        cand.groupby(keys, sort=True, observed=True)[on]
        .agg(["mean", "size"])
        .reset_index()
        .sort_values([*blocks, fam_col, "mean", arm_col], kind="stable")
    )
    group = stats.groupby([*blocks, fam_col], sort=True, observed=True)
    best = group.head(1).set_index([*blocks, fam_col])
    second = group.nth(1).set_index([*blocks, fam_col])["mean"]
    table = pd.DataFrame(
        {
            SELECTED: best[arm_col],
            f"mean_{on}": best["mean"],
            "n_seeds": best["size"].astype(int),
            "n_candidates": group.size().reindex(best.index).astype(int),
            f"runner_up_{on}": second.reindex(best.index),
        }
    ).reset_index()
    chosen = table[[*blocks, SELECTED]].assign(**{fam_col: table[fam_col]})
    merged = rows.merge(
        chosen.rename(columns={SELECTED: arm_col}), on=[*blocks, fam_col, arm_col], how="inner"
    )
    notes = []
    n_pairs = rows.groupby([*blocks, fam_col], observed=True).ngroups
    if len(table) < n_pairs:
        notes.append(
            f"{n_pairs - len(table)} (block, family) pair(s) have no arm with a finite {on}: "
            "nothing selected there (the block is incomplete)"
        )
    return Selection(merged, table, families, on, tuple(notes))
