"""Parsed table -> ``SeriesData``: numbers, missing codes, value checks, gap policy, split.

Also ``load_csv``, the loader behind ``csv:PATH``. Built-in datasets (``builtin``) and user
files go through the same ``build_series``, so they share one validation and one gap policy
(``gaps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.datasets.gaps import cut_to_target, fill_gaps
from synprune.datasets.parsers import (
    check_values,
    parse_dates,
    parse_numbers,
    read_table,
    require_columns,
    resolve_path,
    sentinel_notes,
    sniff_delimiter,
    to_numeric,
)
from synprune.datasets.scaling import MIN_STD
from synprune.datasets.series import SeriesData
from synprune.datasets.splits import ratio_split
from synprune.errors import DataError


def _numbers(
    df: pd.DataFrame, cols: Sequence[str], path: Path, decimal_comma: bool
) -> pd.DataFrame:
    """Float64 frame of ``cols``: text columns parsed (non-numeric cells raise), numbers kept."""
    return pd.DataFrame(
        {
            c: df[c].astype("float64")
            if pd.api.types.is_numeric_dtype(df[c])
            else to_numeric(df, c, path, decimal_comma=decimal_comma)
            for c in cols
        },
        index=df.index,
    )


def _mask_code(frame: pd.DataFrame, code: float, notes: list[str]) -> pd.DataFrame:
    coded = (frame == code).to_numpy()
    if coded.any():
        per_col = ", ".join(f"{c} {n}" for c, n in zip(frame.columns, coded.sum(axis=0)) if n)
        notes.append(
            f"{int(coded.sum())} cells hold the missing-value code {code:g} and are treated "
            f"as missing (per column: {per_col})"
        )
        frame = frame.mask(coded)
    return frame


def _check_target_scalable(
    values: np.ndarray, valid: np.ndarray | None, train_end: int, target: str, path: Path
) -> None:
    """Refuse a target that is constant over its observed training rows (train std == 0)."""
    y = values[:train_end, 0].astype(np.float64)
    if valid is not None:
        y = y[valid[:train_end]]
    std = float(y.std())
    if std <= MIN_STD:
        raise DataError(
            f"{path}: target column {target!r} is constant ({y[0]:g}) over its {y.size} "
            f"observed training rows [0, {train_end}) (std {std:g}): it cannot be scaled; "
            "choose another target column or a file where it varies"
        )


def build_series(
    name: str,
    df: pd.DataFrame,
    path: Path,
    *,
    target: str,
    features: Sequence[str],
    timestamps: np.ndarray | None,
    notes: Sequence[str] = (),
    decimal_comma: bool = False,
    missing_value: float | None = None,
    split: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_rows: tuple[int, int] | None = None,
) -> SeriesData:
    """Numbers -> ``missing_value`` cells to missing -> value checks -> gap policy.

    Text columns of ``df`` are parsed with ``to_numeric``; numeric ones are used as they are.
    The target comes first. The split is ``ratio_split`` by ``split`` fractions of the rows
    left after the target cut, unless ``split_rows`` fixes it (then no row may be cut).
    """
    if target not in features:
        raise DataError(
            f"{path}: target {target!r} is not a usable column of dataset {name!r}; "
            f"available: {', '.join(features)}"
        )
    cols = [target, *[c for c in features if c != target]]
    frame = _numbers(df, cols, path, decimal_comma)
    notes = list(notes)
    if missing_value is not None:
        frame = _mask_code(frame, float(missing_value), notes)
    else:
        notes += sentinel_notes(frame)
    text_cols = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    check_values(frame, path, raw=df[text_cols])
    frame, keep, cut_notes = cut_to_target(frame, target, path)
    notes += cut_notes
    n_rows = len(frame)
    if split_rows is not None:
        if n_rows != len(df):
            raise DataError(
                f"{path}: target {target!r} is missing in the first/last rows; the fixed "
                f"split {split_rows} of dataset {name!r} needs all {len(df)} rows"
            )
        bounds = split_rows
    else:
        try:
            bounds = ratio_split(n_rows, *split)
        except ValueError as exc:
            raise DataError(f"{path}: {exc}") from exc
    frame, valid, gap_notes = fill_gaps(frame, target, bounds[0], path)
    notes += gap_notes
    values = np.array(frame.to_numpy(dtype=np.float32), order="C")  # own, writable copy
    _check_target_scalable(values, valid, bounds[0], target, path)
    return SeriesData(
        name=name,
        values=values,
        columns=tuple(map(str, frame.columns)),
        timestamps=None if timestamps is None else timestamps[keep],
        split=bounds,
        source=str(path),
        notes=tuple(notes),
        target_valid=valid,
    )


def load_csv(
    path: str | Path,
    *,
    target: str,
    date_column: str | None = None,
    missing_value: float | None = None,
) -> SeriesData:
    """``csv:PATH``: any CSV (, ; or TAB separated; decimal comma accepted when not ',').

    The target and every other column whose cells are all numbers (or missing) become
    features (other columns are dropped, noted); ``date_column`` values must parse and
    strictly increase. ``missing_value`` (e.g. -200) is a code meaning "not measured": such
    cells are treated as missing, like empty ones, and go to the gap policy.
    """
    p = resolve_path(path)
    df, notes = read_table(p)
    sep = sniff_delimiter(p)
    require_columns(df, [target] + ([date_column] if date_column else []), p)
    if date_column == target:
        raise DataError(f"{p}: the date column and the target are both {target!r}")
    timestamps = None
    if date_column:
        timestamps, _ = parse_dates(df[date_column], p, date_column)
    comma = sep != ","
    to_numeric(df, target, p, decimal_comma=comma)  # raises naming the first bad line
    others = [c for c in df.columns if c not in (target, date_column)]
    numeric = {c: parse_numbers(df, c, decimal_comma=comma)[1] is None for c in others}
    dropped = [c for c in others if not numeric[c]]
    if dropped:
        notes.append(f"dropped non-numeric column(s): {', '.join(map(repr, dropped))}")
    features = [target, *[c for c in others if numeric[c]]]
    return build_series(
        f"csv:{p}", df, p, target=target, features=features, timestamps=timestamps,
        notes=notes, decimal_comma=comma, missing_value=missing_value,
    )  # fmt: skip
