"""Load long-format trial rows for the stats stage: from a CSV file or an MLflow experiment.

Both loaders return :class:`TrialRows`: one row per trial with the columns
``dataset, model, seq_len, horizon, regularizer, seed, <metric>`` (+ ``naive_mae`` when known),
and notes on what was skipped. Bad input raises :class:`synprune.errors.InputError` subclasses
naming the file / column / row. MLflow is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _run_rows_to_frame(
    records: list[dict[str, object]], metric: str, source: str, notes: list[str]
) -> pd.DataFrame:
    """Common tail of the MLflow readers: typed columns, spec_id dedupe (latest run wins)."""
    df = pd.DataFrame.from_records(records)
    if "run_kind" in df.columns:  # pipeline/tracking.py tags trial | tune | sweep runs
        other = df["run_kind"].notna() & (df["run_kind"] != "trial")
        if other.any():
            kinds = ", ".join(sorted(df.loc[other, "run_kind"].astype(str).unique()))
            notes.append(f"{int(other.sum())} finished run(s) with run_kind {kinds} ignored")
        df = df[~other]
    if df.empty:
        raise DataError(f"{source}: no finished trial runs (runs tagged spec_id, status=finished)")
    for c in ("dataset", "model", "regularizer", "seq_len", "seed"):
        if c not in df.columns or df[c].isna().all():
            raise DataError(f"{source}: finished runs lack the tag '{c}'")
    if "horizon" not in df.columns:
        df["horizon"] = "1"
    df["horizon"] = df["horizon"].fillna("1")
    for c in INT_COLUMNS:
        vals = pd.to_numeric(df[c], errors="coerce")
        if vals.isna().any():
            rid = df.loc[vals.isna(), "run_id"].iloc[0]
            raise DataError(
                f"{source}: run {rid} has a non-integer tag {c}={df.loc[vals.isna(), c].iloc[0]!r}"
            )
        df[c] = vals.astype(int)
    df["seed"] = df["seed"].astype(str)
    if metric not in df.columns or df[metric].isna().all():
        raise ConfigError(f"unknown --metric '{metric}': no finished run in {source} logged it")
    for c in (metric, NAIVE):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df = df.sort_values(["start_time", "run_id"], kind="stable")
    dup = df.duplicated(subset=["spec_id"], keep="last")
    if dup.any():
        ids = sorted(df.loc[dup, "spec_id"].astype(str).unique())
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        notes.append(
            f"{int(dup.sum())} rerun(s) of the same spec_id: kept the latest run of each ({shown})"
        )
    df = df[~dup]
    blank = int(df[metric].isna().sum())
    if blank:
        notes.append(f"{blank} finished run(s) without metric '{metric}' treated as missing trials")
    cols = ["run_id", "spec_id", *KEY, metric] + ([NAIVE] if NAIVE in df.columns else [])
    return df[cols].reset_index(drop=True)


def load_mlflow(
    experiment: str, tracking_uri: str | None, metric: str = "test_mae", fast: bool = True
) -> tuple[TrialRows, str]:
    """Read the finished trial runs of an MLflow experiment; returns (rows, experiment_id).

    Only runs carrying a ``spec_id`` tag and ``status=finished`` are trials (the sweep's parent
    run and earlier ``stats`` runs are not). A spec_id logged twice (a rerun) keeps the run that
    started last. With ``fast=True`` and a SQLite/SQL store the experiment and its runs are read
    with plain SELECTs (see :mod:`synprune.stats.mlflow_sql`; MLflow is then not even imported);
    otherwise, or if that fails, through ``MlflowClient.search_runs`` with paging.
    """
    found = None
    if fast and tracking_uri:
        from synprune.stats.mlflow_sql import read_runs_sql

        found = read_runs_sql(tracking_uri, experiment, (metric, NAIVE))
    client = None
    if found is not None:
        exp_id, records = found
        uri = tracking_uri
    else:
        client = _client(tracking_uri)
        uri = client.tracking_uri
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = [e.name for e in client.search_experiments(max_results=50)]
            raise ConfigError(
                f"no MLflow experiment named '{experiment}' at {uri} "
                f"(experiments: {', '.join(names) or 'none'})"
            )
        exp_id = exp.experiment_id
        records = _read_runs_api(client, exp_id, (metric, NAIVE))
    source = f"experiment '{experiment}' at {uri}"
    notes: list[str] = []
    n_read = len(records)
    if records and all(not np.isfinite(float(r.get(metric, np.nan))) for r in records):
        client = client or _client(tracking_uri)
        sample = client.search_runs(  # only on this error path: which metrics do trials log?
            [exp_id], "tags.status = 'finished' AND tags.spec_id LIKE '%'", max_results=1
        )
        logged = sorted(sample[0].data.metrics) if sample else []
        raise ConfigError(
            f"unknown --metric '{metric}': no finished run in {source} logged it "
            f"(logged metrics: {', '.join(logged) or 'none'})"
        )
    df = _run_rows_to_frame(records, metric, source, notes)
    return TrialRows(df, source, tuple(notes), n_read), str(exp_id)


def _client(tracking_uri: str | None) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _read_runs_api(client: object, experiment_id: str, metrics: Sequence[str]) -> list[dict]:
    """All finished runs with a spec_id tag, via ``search_runs`` (50,000 per page)."""
    records: list[dict] = []
    token = None
    while True:
        page = client.search_runs(  # type: ignore[attr-defined]
            [experiment_id],
            filter_string="tags.status = 'finished'",
            max_results=50000,
            page_token=token,
        )
        for run in page:
            tags = run.data.tags
            if "spec_id" not in tags:
                continue
            rec: dict[str, object] = {k: tags.get(k) for k in ("spec_id", "run_kind", *KEY)}
            rec["run_id"] = run.info.run_id
            rec["start_time"] = run.info.start_time or 0
            for m in metrics:
                rec[m] = run.data.metrics.get(m, np.nan)
            records.append(rec)
        token = page.token
        if not token:
            return records
