"""Read runs back from an MLflow store: the trial rows the stats stage ranks (SQL fast path in
:mod:`synprune.tracking.sql`, MlflowClient otherwise) and flat rows for tests and exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synprune.errors import ConfigError, DataError
from synprune.stats.io import INT_COLUMNS, KEY, NAIVE, TrialRows
from synprune.tracking.schema import TRIAL_TAGS


def _run_rows_to_frame(
    records: list[dict[str, object]], metric: str, source: str, notes: list[str]
) -> pd.DataFrame:
    """Common tail of the MLflow readers: typed columns, spec_id dedupe (latest run wins)."""
    df = pd.DataFrame.from_records(records)
    if "run_kind" in df.columns:  # tracking/writer.py tags trial | tune | sweep runs
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
    with plain SELECTs (see :mod:`synprune.tracking.sql`; MLflow is then not even imported);
    otherwise, or if that fails, through ``MlflowClient.search_runs`` with paging.
    """
    found = None
    if fast and tracking_uri:
        from synprune.tracking.sql import read_runs_sql

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


def trial_rows(uri: str, experiment: str, status: str | None = "finished") -> list[dict[str, Any]]:
    """Flat rows (tags + final metrics + run_id) of the trial runs of ``experiment``;
    ``status=None`` returns every trial run (finished, failed, interrupted)."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    flt = "tags.run_kind = 'trial'" + (f" and tags.status = '{status}'" if status else "")
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], flt, max_results=5000, page_token=token)
        for r in page:
            row: dict[str, Any] = {k: r.data.tags.get(k) for k in (*TRIAL_TAGS, "error")}
            row.update(r.data.metrics)
            row.update(run_id=r.info.run_id, run_status=r.info.status)
            rows.append(row)
        token = page.token
        if not token:
            return rows
