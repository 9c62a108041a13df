"""The gap policy: how missing cells become inputs without looking ahead.

Applied to every dataset (built-in and ``csv:PATH``) after its missing cells became NaN:
empty cells, pandas NA tokens, and cells equal to the dataset's ``missing_value`` code
(AirQuality: -200; ``csv:`` files: the ``missing_value`` option).

1. ``cut_to_target``: a column with no value at all is an error; a target missing in more
   than ``MAX_MISSING_FRACTION`` of its rows is an error; leading / trailing rows with a
   missing target are cut off (noted). The split is then computed on the remaining rows.
2. ``fill_gaps``, given that split:

   * a *covariate* missing in more than ``MAX_MISSING_FRACTION`` of the *training* rows is
     dropped (noted);
   * every missing value is filled **from the past only**: forward fill (the last observed
     value of its column carries on). Rows before a column's first observation take that
     column's mean over its *observed training* rows. Such rows always lie in the training
     split (a covariate whose first value comes after the training split is dropped above;
     the target's leading gap is cut), so a val/test input never depends on a later value,
     and a training input depends only on training rows, like the train-only scaler;
   * every row whose **target was not observed** gets ``target_valid = False``: its filled
     value is an input only; ``prepare_windows`` drops every train, val and test window
     whose target rows touch it, so a filled target is never trained on or scored.

Interpolation was rejected: it reads the value after the gap, so a test input would depend on
the future and interpolated targets would be scored as if observed. Cutting to the longest
gap-free stretch was rejected too: on AirQuality it keeps < 25% of the rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synprune.errors import DataError

MAX_MISSING_FRACTION = 0.5


def _per_column(counts: pd.Series) -> str:
    return ", ".join(f"{c} {int(n)}" for c, n in counts.items() if n)


def cut_to_target(
    frame: pd.DataFrame, target: str, path: Path
) -> tuple[pd.DataFrame, slice, list[str]]:
    """Step 1: refuse empty columns / a mostly-missing target, cut rows outside the target.

    Returns ``(frame, kept row slice of the input frame, notes)``.
    """
    miss = frame.isna()
    frac = miss.mean(axis=0)
    for col in frame.columns:
        if frac[col] == 1.0:
            raise DataError(f"{path}: column {col!r} has no values (every row is missing)")
    if frac[target] > MAX_MISSING_FRACTION:
        raise DataError(
            f"{path}: target column {target!r} is {frac[target]:.0%} missing "
            f"(at most {MAX_MISSING_FRACTION:.0%} allowed)"
        )
    observed = np.flatnonzero(frame[target].notna().to_numpy())
    keep = slice(int(observed[0]), int(observed[-1]) + 1)
    notes = []
    if keep.start > 0 or keep.stop < len(frame):
        notes.append(
            f"cut {keep.start} leading and {len(frame) - keep.stop} trailing rows "
            "with a missing target"
        )
        frame = frame.iloc[keep]
    return frame, keep, notes


def fill_gaps(
    frame: pd.DataFrame, target: str, train_end: int, path: Path
) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    """Step 2 (module docstring) on a float frame cut by ``cut_to_target``.

    ``train_end`` is the first row after the training split. Returns
    ``(filled frame without NaN, target_valid or None, notes)``.
    """
    notes: list[str] = []
    train = frame.iloc[:train_end]
    train_frac = train.isna().mean(axis=0)
    sparse = [c for c in frame.columns if c != target and train_frac[c] > MAX_MISSING_FRACTION]
    if sparse:
        frame = frame.drop(columns=sparse)
        train = train.drop(columns=sparse)
        notes.append(
            "dropped covariate(s) missing in most training rows: "
            + ", ".join(f"{c!r} ({train_frac[c]:.0%} of train missing)" for c in sparse)
        )
    missing = frame.isna()
    if not missing.to_numpy().any():
        return frame, None, notes
    filled = frame.ffill()
    leading = filled.isna()  # before the column's first observation: always in train
    if leading.to_numpy().any():
        train_mean = train.mean(axis=0, skipna=True)  # observed training rows only
        filled = filled.fillna(train_mean)
        notes.append(
            "set values before a column's first observation to its mean over observed "
            f"training rows (rows per column: {_per_column(leading.sum(axis=0))})"
        )
    ffilled = missing.sum(axis=0) - leading.sum(axis=0)
    if ffilled.any():
        notes.append(
            "filled missing values from the past only, by carrying the last observation "
            f"forward (rows per column: {_per_column(ffilled)})"
        )
    valid = frame[target].notna().to_numpy()
    if valid.all():
        return filled, None, notes
    n = int((~valid).sum())
    notes.append(
        f"{n} rows have no observed {target!r}: filled for inputs only, marked "
        "target_valid=False, and no window with such a target row is trained on or scored"
    )
    return filled, valid, notes
