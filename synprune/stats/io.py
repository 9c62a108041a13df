"""Load long-format trial rows for the stats stage from a CSV file (an MLflow experiment is read
by :mod:`synprune.tracking.reader` into the same shape).

Both loaders return :class:`TrialRows`: one row per trial with the columns
``dataset, model, seq_len, horizon, regularizer, seed, <metric>`` (+ ``naive_mae`` when known),
and notes on what was skipped. Bad input raises :class:`synprune.errors.InputError` subclasses
naming the file / column / row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.errors import ConfigError, DataError

REQUIRED = ("dataset", "model", "seq_len", "regularizer", "seed")
INT_COLUMNS = ("seq_len", "horizon")
NAIVE = "naive_mae"
MISSING_TOKENS = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "None"})
KEY = ("dataset", "model", "seq_len", "horizon", "regularizer", "seed")


@dataclass(frozen=True)
class TrialRows:
    """Long-format rows (one per trial) plus notes on what the loader skipped or fixed."""

    rows: pd.DataFrame
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    n_read: int = 0


def _line(i: int) -> int:
    """1-based line number in the file of data row i (the header is line 1)."""
    return int(i) + 2


def _numeric(col: pd.Series, name: str, path: Path, allow_missing: bool) -> pd.Series:
    """Parse a string column as float; a non-blank non-number raises DataError naming the row."""
    s = col.str.strip()
    missing = s.isin(MISSING_TOKENS)
    out = pd.to_numeric(s.where(~missing), errors="coerce")
    bad = out.isna() & ~missing
    if not allow_missing:
        bad |= missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: column '{name}' is not numeric at line {_line(i)} "
            f"(value {col.iloc[i]!r}); {int(bad.sum())} such row(s)"
        )
    return out.astype(float)


def load_csv(path: str | Path, metric: str = "test_mae") -> TrialRows:
    """Read and validate long-format rows from a CSV file.

    Required columns: dataset, model, seq_len, regularizer, seed and ``metric``; optional:
    horizon (default 1), naive_mae, status (only ``finished`` rows are kept). A blank metric
    cell counts as a missing trial (its block becomes incomplete); any other non-number is an
    error naming the line. Duplicate (block, regularizer, seed) rows keep the last one.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED)}, plus the metric; found: {', '.join(raw.columns)})"
        )
    if metric not in raw.columns:
        numeric_like = [c for c in raw.columns if c not in (*REQUIRED, "horizon", "status")]
        raise ConfigError(
            f"unknown --metric '{metric}': {path} has no such column "
            f"(candidate metric columns: {', '.join(numeric_like) or 'none'})"
        )
    if raw.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    notes: list[str] = []
    n_read = len(raw)
    if "status" in raw.columns:
        keep = raw["status"].str.strip().str.lower().isin({"finished", ""})
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} row(s) with status other than 'finished' skipped")
        raw = raw[keep]
    if "horizon" not in raw.columns:
        raw = raw.assign(horizon="1")
    df = pd.DataFrame({c: raw[c].str.strip() for c in ("dataset", "model", "regularizer")})
    for c in INT_COLUMNS:
        vals = _numeric(raw[c], c, path, allow_missing=False)
        if not np.all(vals == np.round(vals)):
            i = int(np.flatnonzero((vals != np.round(vals)).to_numpy())[0])
            raise DataError(f"{path}: column '{c}' must be an integer at line {_line(i)}")
        df[c] = vals.astype(int)
    df["seed"] = raw["seed"].str.strip()
    df[metric] = _numeric(raw[metric], metric, path, allow_missing=True)
    if NAIVE in raw.columns and metric != NAIVE:
        df[NAIVE] = _numeric(raw[NAIVE], NAIVE, path, allow_missing=True)
    blank = int(df[metric].isna().sum())
    if blank:
        notes.append(f"{blank} row(s) with a blank '{metric}' treated as missing trials")
    df = _dedupe(df, notes, what="row(s) repeat a (block, regularizer, seed) key: kept the last")
    return TrialRows(df.reset_index(drop=True), str(path), tuple(notes), n_read)


def _dedupe(df: pd.DataFrame, notes: list[str], what: str) -> pd.DataFrame:
    dup = df.duplicated(subset=list(KEY), keep="last")
    if dup.any():
        notes.append(f"{int(dup.sum())} {what}")
    return df[~dup]
