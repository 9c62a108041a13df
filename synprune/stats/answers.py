"""How much, how sure, enough data? The answers computed on top of the rank tests.

:func:`build_answers` takes the rows the block design was built from (after selection on
validation when ``--select-on`` is used) and returns effects (:mod:`.effects`), the primary
comparison (:mod:`.primary`), per-block Diebold–Mariano tests when per-window predictions are
given (:mod:`.dm`), the reference-forecast counts (:mod:`.refs`), the tuning-budget note and
the protocol / stopping rule of the runs. Missing pieces become notes, never errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synprune.stats.dm import dataset_lines, dm_table
from synprune.stats.effects import BOOT_SEED, N_BOOT, effects_table, seed_cube
from synprune.stats.m4 import m4_answer
from synprune.stats.primary import MARGIN, Primary, primary_comparison
from synprune.stats.ranking import FAMILY, BlockDesign
from synprune.stats.refs import REFERENCES, reference_cells, reference_lines, reference_table
from synprune.stats.selection import SELECTED, Selection

DEFAULT_PRIMARY = ("synaptic", "dropout")
BASELINE = "none"
#: spec params shown in the report's first line when the rows carry them
RUN_PARAMS = ("protocol", "train.stopping")


@dataclass(frozen=True)
class Answers:
    """Everything the verdict block needs beyond the rank tests (tables may be None)."""

    effects: pd.DataFrame | None
    primary: Primary | None
    dm: pd.DataFrame | None
    dm_lines: tuple[str, ...]
    references: pd.DataFrame | None
    reference_lines: tuple[str, ...]
    budget_note: str | None
    params: dict[str, tuple[str, ...]]
    min_seeds: int
    n_boot: int
    boot_seed: int
    margin: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the M4 scores of M4 rows (:mod:`synprune.stats.m4`), and a note on them
    m4: pd.DataFrame | None = None
    m4_note: str = ""


def resolve_primary(
    treatments: Sequence[str], requested: tuple[str, str] | None
) -> tuple[str, str] | None:
    """The requested pair, else synaptic vs dropout when both are treatments, else None."""
    if requested is not None:
        return requested
    names = set(map(str, treatments))
    return DEFAULT_PRIMARY if set(DEFAULT_PRIMARY) <= names else None


def equal_budget_note(rows: pd.DataFrame, selection: Selection | None) -> str | None:
    """The sentence "tuning budgets are equal (k configurations per family)" when, with
    selection, every family chose among the same number of arms; None otherwise."""
    if selection is None or "arm" not in rows.columns:
        return None
    counts = rows.groupby(FAMILY, observed=True)["arm"].nunique()
    if counts.empty or counts.nunique() != 1:
        return None
    k = int(counts.iloc[0])
    return f"tuning budgets are equal ({k} configuration{'s' if k != 1 else ''} per family)"


def _arms_table(
    design: BlockDesign, selection: Selection | None, a: str, b: str
) -> tuple[pd.DataFrame, str]:
    """Per design block the arms of a and b (selected ones with selection) and the column of
    the predictions they name."""
    blocks = list(design.blocks)
    keys = design.matrix.index.to_frame(index=False)
    if selection is None:
        col = design.treatment
        return keys.assign(arm_a=a, arm_b=b), col
    t = selection.table
    pick = {
        n: t.loc[t[FAMILY] == n, [*blocks, SELECTED]].rename(columns={SELECTED: f"arm_{s}"})
        for n, s in ((a, "a"), (b, "b"))
    }
    both = keys.merge(pick[a], on=blocks).merge(pick[b], on=blocks)
    return both, "arm"


def run_params(rows: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Distinct non-blank values of :data:`RUN_PARAMS` columns in the rows."""
    out = {}
    for c in RUN_PARAMS:
        if c in rows.columns:
            vals = sorted({str(v) for v in rows[c] if str(v).strip() not in ("", "nan", "None")})
            if vals:
                out[c] = tuple(vals)
    return out


def build_answers(
    rows: pd.DataFrame,
    design: BlockDesign,
    metric: str,
    *,
    aggregate: str = "mean",
    alpha: float = 0.05,
    selection: Selection | None = None,
    primary: tuple[str, str] | None = None,
    margin: float = MARGIN,
    predictions: pd.DataFrame | None = None,
    n_boot: int = N_BOOT,
    boot_seed: int = BOOT_SEED,
    all_rows: pd.DataFrame | None = None,
) -> Answers:
    """The answers for a block design built from ``rows`` (``all_rows``: every usable row,
    before selection, for the budget note and run params)."""
    notes: list[str] = []
    m = design.matrix
    names = [str(c) for c in m.columns]
    treat = design.treatment
    all_rows = rows if all_rows is None else all_rows
    positive = bool(m.size) and bool(np.all(m.to_numpy(dtype=float) > 0))
    pair = resolve_primary(names, primary)
    if pair is not None and not set(pair) <= set(names):
        notes.append(
            f"primary comparison {pair[0]} vs {pair[1]} not made: "
            f"{', '.join(n for n in pair if n not in names)} not among the ranked treatments"
        )
        pair = None
    elif pair is None:
        notes.append(
            "no primary comparison: give --primary A,B (or [stats] primary in the config); the "
            f"default {DEFAULT_PRIMARY[0]} vs {DEFAULT_PRIMARY[1]} needs both as treatments "
            "(rank families with --select-on val_loss)"
        )
    effects = prim = None
    cube = None
    if not positive:
        notes.append(f"some cell of `{metric}` is <= 0: ratios (effects, primary) not computed")
    else:
        cube = seed_cube(rows, metric, m, design.blocks, treat)
        versus = [n for n in (BASELINE, pair[1] if pair else None) if n is not None]
        effects = effects_table(cube, m, versus, aggregate=aggregate, n_boot=n_boot, seed=boot_seed)
        if effects.empty:
            notes.append(f"no effects: neither `{BASELINE}` nor a primary comparator is ranked")
            effects = None
        if pair is not None:
            ci = (math.nan, math.nan)
            if effects is not None:
                hit = effects[(effects["family"] == pair[0]) & (effects["versus"] == pair[1])]
                if len(hit):
                    ci = (float(hit["ci_low"].iloc[0]), float(hit["ci_high"].iloc[0]))
            prim = primary_comparison(m, pair[0], pair[1], margin=margin, ci=ci)
    dm = None
    dm_lines: tuple[str, ...] = ()
    if pair is not None and predictions is not None and not predictions.empty:
        arms, col = _arms_table(design, selection, *pair)
        dm = dm_table(predictions, arms, design.blocks, col)
        dm_lines = tuple(dataset_lines(dm, pair[0], pair[1], alpha)) if len(dm) else ()
        if dm.empty:
            notes.append("per-window predictions do not cover the primary pair's blocks: no DM")
    refs = ref_lines = None
    mae = _mae_cells(rows, design, metric, aggregate)
    if mae is not None:
        found = {
            c: s
            for c in REFERENCES
            if (s := reference_cells(all_rows, design.blocks, m.index, c)) is not None
        }
        if found:
            refs = reference_table(mae, found)
            ref_lines = tuple(reference_lines(refs))
    seeds = design.n_seeds.to_numpy()
    in_design = rows.set_index(list(design.blocks)).index.isin(m.index)
    m4, m4_note = m4_answer(rows[in_design], design.treatment)
    return Answers(
        effects=effects,
        primary=prim,
        dm=dm,
        dm_lines=dm_lines,
        references=refs,
        reference_lines=ref_lines or (),
        budget_note=equal_budget_note(all_rows, selection),
        params=run_params(all_rows),
        min_seeds=int(seeds.min()) if seeds.size else 0,
        n_boot=n_boot,
        boot_seed=boot_seed,
        margin=margin,
        notes=tuple(notes),
        m4=m4,
        m4_note=m4_note,
    )


def _mae_cells(
    rows: pd.DataFrame, design: BlockDesign, metric: str, aggregate: str
) -> pd.DataFrame | None:
    """Seed-aggregated test MAE per block and treatment (the design's cells for test_mae)."""
    if metric == "test_mae":
        return design.matrix
    if "test_mae" not in rows.columns:
        return None
    from synprune.stats.ranking import block_matrix

    other = block_matrix(
        rows,
        "test_mae",
        blocks=design.blocks,
        aggregate=aggregate,
        naive_column=None,
        treatment=design.treatment,
        treatments=[str(c) for c in design.matrix.columns],
    )
    return other.matrix.reindex(design.matrix.index)
