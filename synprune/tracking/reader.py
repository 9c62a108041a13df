"""Read runs back from an MLflow store: the trial rows the stats stage ranks (SQL fast path in
:mod:`synprune.tracking.sql`, MlflowClient otherwise) and flat rows for tests and exports."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synprune.errors import ConfigError, DataError
from synprune.experiment.results import PREDICTION_COLUMNS
from synprune.stats.integrity import CONFIG_ID, FINISHED, check_nonnegative, config_fingerprint
from synprune.stats.io import INT_COLUMNS, KEY, NAIVE_COLUMNS, SCALE_FREE, TrialRows, dedupe
from synprune.tracking.schema import (
    ARM,
    BEST_VAL_LOSS,
    ERROR_TAG,
    PREDICTIONS_ARTIFACT,
    RUN_KIND,
    SPEC_ID,
    STATUS,
    TRIAL_TAGS,
    VAL_LOSS,
)
from synprune.tracking.uri import (
    QUIET,
    Store,
    experiment_id,
    is_sqlite,
    mlflow_settings,
    redact,
    sqlite_path,
)

FAILED = "failed"


def _run_rows_to_frame(
    records: list[dict[str, object]], metric: str, source: str, notes: list[str]
) -> pd.DataFrame:
    """Common tail of the MLflow readers: trial runs only, typed columns, ``arm`` (falling back
    to the regularizer), ``val_loss`` (the restored best), one run per spec_id (a finished run
    beats a failed one, else the latest), no negative error metric."""
    df = pd.DataFrame.from_records(records)
    if RUN_KIND in df.columns:  # tracking/writer.py tags trial | tune | sweep runs
        other = df[RUN_KIND].notna() & (df[RUN_KIND] != "trial")
        if other.any():
            kinds = ", ".join(sorted(df.loc[other, RUN_KIND].astype(str).unique()))
            notes.append(f"{int(other.sum())} run(s) with run_kind {kinds} ignored")
        df = df[~other]
    status = df[STATUS] if STATUS in df.columns else pd.Series(np.nan, index=df.index)
    known = status.isin([FINISHED, FAILED])
    if (~known).any():
        shown = ", ".join(sorted(status[~known].fillna("(none)").astype(str).unique()))
        notes.append(f"{int((~known).sum())} trial run(s) with status {shown} (not ended) ignored")
    df = df[known]
    if not (df.get(STATUS, pd.Series(dtype=str)) == FINISHED).any():
        raise DataError(f"{source}: no finished trial runs (runs tagged spec_id, status=finished)")
    for c in ("dataset", "model", "regularizer", "seq_len", "seed"):
        if c not in df.columns or df[c].isna().all():
            raise DataError(f"{source}: finished runs lack the tag '{c}'")
    df = df.assign(horizon=df["horizon"].fillna("1") if "horizon" in df.columns else "1")
    for c in INT_COLUMNS:
        vals = pd.to_numeric(df[c], errors="coerce")
        if vals.isna().any():
            rid = df.loc[vals.isna(), "run_id"].iloc[0]
            raise DataError(
                f"{source}: run {rid} has a non-integer tag {c}={df.loc[vals.isna(), c].iloc[0]!r}"
            )
        df[c] = vals.astype(int)
    df["seed"] = df["seed"].astype(str)
    arm = df[ARM] if ARM in df.columns else pd.Series(np.nan, index=df.index)
    if arm.isna().any():
        notes.append(
            f"{int(arm.isna().sum())} run(s) without an '{ARM}' tag (written before arms "
            "existed): their arm is the regularizer"
        )
    df["arm"] = arm.astype(object).fillna(df["regularizer"]).astype(str)
    df["error"] = df[ERROR_TAG].astype(object).fillna("") if ERROR_TAG in df.columns else ""
    finished = df[STATUS] == FINISHED
    if metric not in df.columns or df.loc[finished, metric].isna().all():
        raise ConfigError(f"unknown --metric '{metric}': no finished run in {source} logged it")
    for c in dict.fromkeys((metric, *NAIVE_COLUMNS, VAL_LOSS, BEST_VAL_LOSS, *SCALE_FREE)):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    if BEST_VAL_LOSS in df.columns:  # the restored best; older stores logged it as val_loss
        old = df[VAL_LOSS] if VAL_LOSS in df.columns else np.nan
        df[VAL_LOSS] = df[BEST_VAL_LOSS].fillna(old)
    check_nonnegative(df, [metric, *NAIVE_COLUMNS], "run " + df["run_id"].astype(str), source)
    df = df.sort_values(["start_time", "run_id"], kind="stable")
    before = len(df)
    df = dedupe(df, [SPEC_ID], [], "spec_id")
    if len(df) < before:
        notes.append(
            f"{before - len(df)} rerun(s) of the same spec_id: kept the latest run of each "
            "(a finished run over a failed one)"
        )
    extra = [c for c in (*NAIVE_COLUMNS, VAL_LOSS, *SCALE_FREE) if c in df.columns and c != metric]
    cols = ["run_id", SPEC_ID, *KEY, "regularizer", STATUS, "error", CONFIG_ID, metric, *extra]
    return df[cols].reset_index(drop=True)


def _check_store(uri: str) -> None:
    """Refuse a local store that does not exist: reading must never create one."""
    from urllib.parse import urlparse

    shown = redact(uri)
    if is_sqlite(uri):
        path = sqlite_path(uri)
        if str(path) in ("", ":memory:") or not path.is_file():
            raise ConfigError(
                f"no MLflow store at {shown}: the SQLite file {path} does not exist (check "
                "--tracking-uri / MLFLOW_TRACKING_URI; stats never creates a store)"
            )
        return
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path (or C:\...)
        path = Path(parsed.path if parsed.scheme == "file" else uri)
        if not path.is_dir():
            raise ConfigError(
                f"no MLflow store at {shown}: the folder {path} does not exist (check "
                "--tracking-uri / MLFLOW_TRACKING_URI; stats never creates a store)"
            )


def load_mlflow(
    experiment: str, tracking_uri: str | None, metric: str = "test_mae", fast: bool = True
) -> tuple[TrialRows, str]:
    """Read the trial runs of an MLflow experiment; returns (rows, experiment_id).

    Only runs carrying a ``spec_id`` tag are trials (the sweep's parent run and earlier
    ``stats`` runs are not); finished and failed ones are returned (failed ones with their
    ``error``, for the report). A spec_id logged twice (a rerun) keeps one run: the finished
    one, else the latest. Each row's ``config_id`` fingerprints its params without the seed
    (:func:`synprune.stats.integrity.config_fingerprint`). A local store that does not exist
    is refused before anything is created. With ``fast=True`` and a SQL store the runs are read
    with plain SELECTs (see :mod:`synprune.tracking.sql`; MLflow is then not even imported);
    otherwise, or if that fails, through ``MlflowClient.search_runs`` with paging.
    """
    store = Store.from_uri(tracking_uri)
    tracking_uri = store.uri
    _check_store(tracking_uri)
    wanted = tuple(
        dict.fromkeys((metric, "test_mae", *NAIVE_COLUMNS, VAL_LOSS, BEST_VAL_LOSS, *SCALE_FREE))
    )
    found = None
    if fast:
        from synprune.tracking.sql import read_runs_sql

        found = read_runs_sql(tracking_uri, experiment, wanted)
    client = None
    if found is not None:
        exp_id, records, params = found
        uri = tracking_uri
    else:
        client = _client(tracking_uri)
        uri = client.tracking_uri
        exp_id = experiment_id(client, uri, experiment)
        records, params = _read_runs_api(client, exp_id, wanted)
    source = f"experiment '{experiment}' at {redact(uri)}"
    notes: list[str] = []
    n_read = len(records)
    configs: dict[str, dict[str, str]] = {}
    for rec in records:
        p = params.get(str(rec["run_id"]), {})
        rec[CONFIG_ID] = cid = config_fingerprint(p)
        configs.setdefault(cid, p)
    done = [r for r in records if r.get(STATUS) == FINISHED]
    if done and all(not np.isfinite(float(r.get(metric, np.nan))) for r in done):  # type: ignore[arg-type]
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
    return TrialRows(df, source, tuple(notes), n_read, configs), str(exp_id)


def _client(tracking_uri: str | None) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _read_runs_api(
    client: object, experiment_id: str, metrics: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """All runs with a spec_id tag via ``search_runs`` (50,000 per page), and their params."""
    records: list[dict[str, Any]] = []
    params: dict[str, dict[str, str]] = {}
    keys = tuple(dict.fromkeys((SPEC_ID, RUN_KIND, STATUS, ERROR_TAG, ARM, *TRIAL_TAGS, *KEY)))
    token = None
    while True:
        page = client.search_runs(  # type: ignore[attr-defined]
            [experiment_id], filter_string="", max_results=50000, page_token=token
        )
        for run in page:
            tags = run.data.tags
            if SPEC_ID not in tags:
                continue
            rec: dict[str, object] = {k: tags.get(k) for k in keys}
            rec["run_id"] = run.info.run_id
            rec["start_time"] = run.info.start_time or 0
            for m in metrics:
                rec[m] = run.data.metrics.get(m, np.nan)
            records.append(rec)
            params[run.info.run_id] = dict(run.data.params)
        token = page.token
        if not token:
            return records, params


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


def _no_progress_bars() -> contextlib.AbstractContextManager[None]:
    """MLflow draws a tqdm bar per artifact download; none for the many small ones here
    (set for the block unless the user set it, restored after: ``uri.mlflow_settings``)."""
    return mlflow_settings(QUIET)


def load_predictions(
    client_or_uri: Any, run_ids: Sequence[str], *, missing: str = "skip"
) -> pd.DataFrame:
    """The per-window test forecasts of trial runs (their ``predictions.csv.gz`` artifacts) as
    one long frame: ``run_id`` + ``PREDICTION_COLUMNS`` (window, step, target, prediction,
    naive, snaive, linear), in the order of ``run_ids``.

    ``client_or_uri``: an ``MlflowClient`` or a tracking URI (None: the default store). A run
    without the artifact (failed, or written before predictions were stored) is left out with
    ``missing="skip"`` (its id is listed in ``frame.attrs["missing"]``), or raises
    ``DataError`` with ``missing="error"``.
    """
    if missing not in ("skip", "error"):
        raise ConfigError(f"missing={missing!r} is invalid; allowed: skip, error")
    if isinstance(client_or_uri, str) or client_or_uri is None:
        uri = Store.from_uri(client_or_uri).uri
        _check_store(uri)
        client = _client(uri)
    else:
        client = client_or_uri
    frames: list[pd.DataFrame] = []
    absent: list[str] = []
    dtypes = {"window": np.int64, "step": np.int64}
    with tempfile.TemporaryDirectory() as tmp, _no_progress_bars():
        for i, rid in enumerate(run_ids):
            try:
                path = client.download_artifacts(rid, PREDICTIONS_ARTIFACT, f"{tmp}/{i}")
            except Exception as exc:  # no such artifact (MlflowException, OSError)
                if missing == "error":
                    raise DataError(f"run {rid}: no {PREDICTIONS_ARTIFACT} ({exc})") from None
                absent.append(str(rid))
                continue
            df = pd.read_csv(path, compression="gzip", dtype=dtypes)
            if tuple(df.columns) != PREDICTION_COLUMNS:
                raise DataError(
                    f"run {rid}: {PREDICTIONS_ARTIFACT} has columns {', '.join(df.columns)}; "
                    f"expected {', '.join(PREDICTION_COLUMNS)}"
                )
            df.insert(0, "run_id", str(rid))
            frames.append(df)
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in ("run_id", *PREDICTION_COLUMNS)})
    out.attrs["missing"] = absent
    return out
