"""Load long-format trial rows for the stats stage from a CSV file (an MLflow experiment is read
by :mod:`synprune.tracking.reader` into the same shape).

Both loaders return :class:`TrialRows`: one row per trial with the columns
``dataset, model, seq_len, horizon, regularizer, arm, seed, status, error, config_id, <metric>``
(+ ``naive_mae`` / ``naive_rmse`` / ``val_loss`` when known), failed trials included, and notes
on what was skipped. Bad input raises :class:`synprune.errors.InputError` subclasses naming the
file / column / row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.errors import ConfigError, DataError
from synprune.stats.integrity import CONFIG_ID, FINISHED, check_nonnegative, config_fingerprint

REQUIRED = ("dataset", "model", "seq_len", "regularizer", "seed")
OPTIONAL = ("horizon", "arm", "status", "error", CONFIG_ID, "run_id", "spec_id")
INT_COLUMNS = ("seq_len", "horizon")
NAIVE = "naive_mae"
#: the reference forecasts' test errors, read beside the metric when present: naive
#: (persistence) MAE / RMSE, and the seasonal-naive and linear MAE newer trials log
NAIVE_COLUMNS = ("naive_mae", "naive_rmse", "snaive_mae", "linear_mae")
VAL_LOSS = "val_loss"
#: the scale-free errors (M4's definitions, :mod:`synprune.references.metrics`), carried beside
#: the metric when logged so trials.csv holds them and the M4 table can be rebuilt from it
SCALE_FREE = ("smape", "mase")
EXTRA_METRICS = (*NAIVE_COLUMNS, "test_mae", VAL_LOSS, *SCALE_FREE)
#: spec params kept as columns (the report's first line shows them)
RUN_PARAM_COLUMNS = ("protocol", "train.stopping")
#: CSV columns holding spec fields (MLflow param names): they make up the configuration
PARAM_PREFIXES = ("regularizer.", "model.", "train.")
MISSING_TOKENS = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "None"})
KEY = ("dataset", "model", "seq_len", "horizon", "arm", "seed")


@dataclass(frozen=True)
class TrialRows:
    """Long-format rows (one per trial) plus notes on what the loader skipped or fixed.

    ``configs`` maps each ``config_id`` to the fields it was computed from (used to say what
    differs when a cell mixes configurations).
    """

    rows: pd.DataFrame
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    n_read: int = 0
    configs: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


def naive_column(metric: str) -> str | None:
    """The naive-forecast counterpart of a test metric (test_mae -> naive_mae), if any."""
    if metric.startswith("test_"):
        cand = "naive_" + metric[len("test_") :]
        return cand if cand in NAIVE_COLUMNS else None
    return None


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


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.reset_index(drop=True)


def load_csv(path: str | Path, metric: str = "test_mae") -> TrialRows:
    """Read and validate long-format rows from a CSV file.

    Required columns: dataset, model, seq_len, regularizer, seed and ``metric``. Optional:
    horizon (default 1); arm (default: the regularizer); naive_mae, naive_rmse, val_loss;
    status (blank = finished; other rows are failed trials, listed in the report) and error;
    config_id, or spec-field columns (``regularizer.params.p``, ``train.epochs``, ...) from which
    one is computed; run_id, spec_id. A blank metric in a finished row is listed as a dropped
    row; any other non-number is an error naming the line, and so is a negative error metric.
    Repeated (block, arm, seed, config) rows keep the last (a finished row beats a failed one).
    """
    path = Path(path)
    raw = _read(path)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED)}, plus the metric; found: {', '.join(raw.columns)})"
        )
    if metric not in raw.columns:
        known = (*REQUIRED, *OPTIONAL)
        numeric_like = [
            c for c in raw.columns if c not in known and not c.startswith(PARAM_PREFIXES)
        ]
        raise ConfigError(
            f"unknown --metric '{metric}': {path} has no such column "
            f"(candidate metric columns: {', '.join(numeric_like) or 'none'})"
        )
    if raw.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    n_read = len(raw)
    if "horizon" not in raw.columns:
        raw = raw.assign(horizon="1")
    df = pd.DataFrame({c: raw[c].str.strip() for c in ("dataset", "model", "regularizer")})
    arm = raw["arm"].str.strip() if "arm" in raw.columns else df["regularizer"]
    df["arm"] = arm.where(arm != "", df["regularizer"])
    for c in INT_COLUMNS:
        vals = _numeric(raw[c], c, path, allow_missing=False)
        if not np.all(vals == np.round(vals)):
            i = int(np.flatnonzero((vals != np.round(vals)).to_numpy())[0])
            raise DataError(f"{path}: column '{c}' must be an integer at line {_line(i)}")
        if (vals < 1).any():  # a window length / horizon: an integer >= 1
            i = int(np.flatnonzero((vals < 1).to_numpy())[0])
            raise DataError(
                f"{path}: column '{c}' must be an integer >= 1 at line {_line(i)} "
                f"(found {raw[c].iloc[i].strip()!r})"
            )
        df[c] = vals.astype(int)
    seeds = raw["seed"].str.strip()
    bad_seed = ~seeds.str.fullmatch(r"\d+").fillna(False).astype(bool)
    if bad_seed.any():
        i = int(np.flatnonzero(bad_seed.to_numpy())[0])
        raise DataError(
            f"{path}: column 'seed' must be an integer >= 0 at line {_line(i)} "
            f"(found {seeds.iloc[i]!r})"
        )
    df["seed"] = seeds
    status = raw["status"].str.strip().str.lower() if "status" in raw.columns else None
    df["status"] = FINISHED if status is None else status.where(status != "", FINISHED)
    df["error"] = raw["error"] if "error" in raw.columns else ""
    for c in dict.fromkeys((metric, *EXTRA_METRICS)):
        if c in raw.columns:
            df[c] = _numeric(raw[c], c, path, allow_missing=True)
    for c in ("run_id", "spec_id", *RUN_PARAM_COLUMNS):
        if c in raw.columns:
            df[c] = raw[c].str.strip()
    configs = _csv_configs(raw, df)
    check_nonnegative(
        df,
        [metric, *NAIVE_COLUMNS],
        pd.Series([f"line {_line(i)}" for i in range(len(df))]),
        str(path),
    )
    notes: list[str] = []
    df = dedupe(df, [*KEY, CONFIG_ID], notes, "(block, arm, seed) key")
    return TrialRows(df.reset_index(drop=True), str(path), tuple(notes), n_read, configs)


def _csv_configs(raw: pd.DataFrame, df: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Fill df.config_id: the CSV's own column where given, else a fingerprint of the spec-field
    columns (regularizer.*, model.*, train.*) plus regularizer and arm."""
    cols = sorted(c for c in raw.columns if c.startswith(PARAM_PREFIXES))
    fields = pd.DataFrame({c: raw[c].str.strip() for c in cols}, index=raw.index)
    fields["regularizer"], fields["arm"] = df["regularizer"], df["arm"]
    records = fields.to_dict("records")
    ids = [config_fingerprint(r) for r in records]
    configs = dict(zip(ids, records))
    if CONFIG_ID in raw.columns:
        given = raw[CONFIG_ID].str.strip()
        ids = list(given.where(given != "", pd.Series(ids, index=raw.index)))
        configs = {i: {CONFIG_ID: i, **r} for i, r in zip(ids, records)}
    df[CONFIG_ID] = ids
    return configs


def dedupe(df: pd.DataFrame, key: list[str], notes: list[str], what: str) -> pd.DataFrame:
    """Keep one row per ``key``: a finished row over a failed one, else the last; say so."""
    order = np.argsort((df["status"] == FINISHED).to_numpy(), kind="stable")
    df = df.iloc[order]
    dup = df.duplicated(subset=key, keep="last")
    if dup.any():
        superseded = int((dup & (df["status"] != FINISHED)).sum())
        notes.append(
            f"{int(dup.sum())} row(s) repeat a {what}: kept one each (the finished one, else the "
            f"last)" + (f"; {superseded} failed attempt(s) superseded" if superseded else "")
        )
    return df[~dup].sort_index()


def input_digest(rows: pd.DataFrame, settings: Mapping[str, object]) -> str:
    """sha256 of the analysed rows (order-free) and the settings: identical inputs, same hash."""
    cols = sorted(rows.columns)
    canon = rows[cols].sort_values(cols, kind="stable").to_csv(index=False, float_format="%.17g")
    blob = canon + json.dumps(dict(settings), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def with_run_params(
    rows: pd.DataFrame, configs: Mapping[str, Mapping[str, object]]
) -> pd.DataFrame:
    """``rows`` with the :data:`RUN_PARAM_COLUMNS` (protocol, train.stopping) filled from the
    configurations' params (MLflow rows) where the rows lack them and a config has them."""
    if CONFIG_ID not in rows.columns:
        return rows
    add = {}
    for c in RUN_PARAM_COLUMNS:
        if c in rows.columns:
            continue
        by_id = {k: str(v[c]) for k, v in configs.items() if c in v and v[c] is not None}
        if by_id:
            add[c] = rows[CONFIG_ID].map(by_id).fillna("")
    return rows.assign(**add) if add else rows


PRED_REQUIRED = ("dataset", "model", "seq_len", "arm", "seed", "window", "step", "target",
                 "prediction")  # fmt: skip


def load_predictions_csv(path: str | Path) -> pd.DataFrame:
    """Per-window predictions in long format (``synprune export --predictions`` or a stats
    --out folder's predictions.csv.gz): dataset, model, seq_len, [horizon], arm, seed, window,
    step, target, prediction[, naive, regularizer, spec_id]. Compressed files are read by
    their suffix. Raises DataError naming the file and the first missing or bad column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such predictions file")
    try:
        df = pd.read_csv(path, dtype={"seed": str, "dataset": str, "model": str, "arm": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: not a readable predictions CSV ({exc})") from None
    missing = [c for c in PRED_REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(required: {', '.join(PRED_REQUIRED)}; found: {', '.join(map(str, df.columns))})"
        )
    if "horizon" not in df.columns:
        df["horizon"] = 1
    for c in ("seq_len", "horizon", "window", "step", "target", "prediction"):
        vals = pd.to_numeric(df[c], errors="coerce")
        if vals.isna().any():
            i = int(np.flatnonzero(vals.isna().to_numpy())[0])
            raise DataError(f"{path}: column '{c}' is not numeric at line {_line(i)}")
        df[c] = vals
    df = df.astype({"seq_len": int, "horizon": int, "window": int, "step": int})
    return df.assign(seed=df["seed"].str.strip())
