"""``synprune export``: one row per trial of an experiment or of one sweep run, as a table.

A row holds the run (``run_id``, ``run_name``, ``status``, ``error``, start/end time), every
trial tag (``spec_id``, model, dataset, regularizer, arm, seq_len, horizon, seed, git_sha,
attempts, sweep), every spec field (the run's params, dotted: ``train.lr``,
``model.params.hidden_size``, ...) and every final metric (``test_mae``, ``test_rmse``,
``test_mse``, ``naive_mae``, ``naive_rmse``, ``ratio_to_naive``, ``snaive_mae``,
``linear_mae``, ``smape``, ``mase``, ``best_val_loss``, ``epochs_run``, ``best_epoch``,
``final_sparsity``, ``train_seconds``, ``season``, ``linear_alpha``, ``sparsity/<tensor>``).
Failed trials are rows too, with their error and no metrics. A spec run more than once (a
failed attempt, then a resumed sweep) is one row: its finished run, else its latest.

:func:`export_predictions`: the per-window test forecasts of the same trials (finished ones
with a ``predictions.csv.gz``), long: ``PREDICTION_KEYS`` + ``PREDICTION_COLUMNS``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from synprune.errors import ConfigError
from synprune.tracking.schema import (
    ATTEMPTS_TAG,
    ERROR_TAG,
    FINAL_METRICS,
    RUN_KIND,
    SHARES_TAG,
    SPEC_ID,
    STATUS,
    SWEEP_NAME_TAG,
    SWEEP_RUN_TAG,
    TENSOR_PREFIX,
    TRIAL_TAGS,
)
from synprune.tracking.uri import experiment_id, redact

RUN_COLUMNS = ("run_id", "run_name", "status", "error", "start_time", "end_time")
TAG_COLUMNS = tuple(
    t for t in (*TRIAL_TAGS, ATTEMPTS_TAG, SHARES_TAG, SWEEP_RUN_TAG, SWEEP_NAME_TAG) if t != STATUS
)
INT_COLUMNS = ("seq_len", "horizon", "seed", ATTEMPTS_TAG, "epochs_run", "best_epoch")


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _search(client: Any, experiment_id: str, flt: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], flt, max_results=5000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _sweep_runs(client: Any, uri: str, run_id: str) -> list[Any]:
    """The trial runs a sweep run launched (flat ``sweep_run_id`` tag, or nested children of
    stores written before trials were flat)."""
    from mlflow.exceptions import MlflowException

    try:
        sweep = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"--sweep {run_id}: no such run at {redact(uri)}") from None
    if sweep.data.tags.get(RUN_KIND) != "sweep":
        kind = sweep.data.tags.get(RUN_KIND, "untagged")
        raise ConfigError(
            f"--sweep {run_id}: run {sweep.info.run_name!r} is a {kind} run, not a sweep run "
            "(the sweep's run is named sweep-<date>; `synprune sweep` prints its id)"
        )
    exp = sweep.info.experiment_id
    trials = f"tags.{RUN_KIND} = 'trial'"
    found = {
        r.info.run_id: r
        for r in _search(client, exp, f"{trials} and tags.{SWEEP_RUN_TAG} = '{run_id}'")
    }
    for r in _search(client, exp, f"{trials} and tags.mlflow.parentRunId = '{run_id}'"):
        found.setdefault(r.info.run_id, r)
    return list(found.values())


def _iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else ""


def run_row(run: Any) -> dict[str, Any]:
    """One trial run as a flat row (see the module docstring)."""
    tags, metrics = run.data.tags, run.data.metrics
    row: dict[str, Any] = {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": tags.get(STATUS, ""),
        "error": tags.get(ERROR_TAG, ""),
        "start_time": _iso(run.info.start_time),
        "end_time": _iso(run.info.end_time),
    }
    row.update({t: tags.get(t, "") for t in TAG_COLUMNS})
    row.update({k: v for k, v in sorted(run.data.params.items()) if k not in row})
    finals = dict.fromkeys(FINAL_METRICS, math.nan)
    if "best_val_loss" not in metrics and "val_loss" in metrics:  # stores before best_val_loss
        finals["best_val_loss"] = metrics["val_loss"]
    finals.update({k: v for k, v in metrics.items() if k in finals})
    finals.update({k: metrics[k] for k in sorted(metrics) if k.startswith(TENSOR_PREFIX)})
    row.update(finals)
    return row


def _one_per_spec(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per spec_id: the latest finished run, else the latest run (rows sorted by start)."""
    best: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["start_time"], r["run_id"])):
        key = row.get(SPEC_ID) or row["run_id"]
        old = best.get(key)
        if old is None or row["status"] == "finished" or old["status"] != "finished":
            best[key] = row
    return list(best.values())


def _trial_rows(
    client: Any, uri: str, experiment: str | None, sweep: str | None
) -> list[dict[str, Any]]:
    """One row per spec (:func:`_one_per_spec`) of the trial runs of ``experiment`` or ``sweep``."""
    if (experiment is None) == (sweep is None):
        raise ConfigError("give exactly one of --experiment NAME or --sweep RUN_ID")
    if experiment is not None:
        runs = _search(client, experiment_id(client, uri, experiment), f"tags.{RUN_KIND} = 'trial'")
        source = f"experiment {experiment!r}"
    else:
        runs = _sweep_runs(client, uri, str(sweep))
        source = f"sweep run {sweep}"
    rows = _one_per_spec([run_row(r) for r in runs if r.data.tags.get(STATUS) != "running"])
    if not rows:
        raise ConfigError(f"{source} at {redact(uri)} has no trial runs (nothing to export)")
    return rows


def export_frame(
    uri: str, *, experiment: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """The table of trials of ``experiment`` (by name) or of the sweep run ``sweep``."""
    rows = _trial_rows(_client(uri), uri, experiment, sweep)
    df = pd.DataFrame.from_records(rows)
    for c in INT_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    fixed = (*RUN_COLUMNS, *TAG_COLUMNS, *FINAL_METRICS)
    tensors = sorted(c for c in df.columns if c.startswith(TENSOR_PREFIX))
    params = sorted(c for c in df.columns if c not in fixed and c not in tensors)
    df = df[[*RUN_COLUMNS, *TAG_COLUMNS, *params, *FINAL_METRICS, *tensors]]
    if "test_mae" in df.columns:  # MAE / the `none` arm's MAE in the same block and seed
        from synprune.stats.relative import rel_mae

        df.insert(df.columns.get_loc("test_mae") + 1, "rel_mae", rel_mae(df))
    order = ["dataset", "model", "seq_len", "horizon", "arm", "seed"]
    return df.sort_values([c for c in order if c in df.columns], kind="stable").reset_index(
        drop=True
    )


#: the trial keys of every row of :func:`export_predictions`
PREDICTION_KEYS = (
    *("dataset", "model", "seq_len", "horizon", "regularizer", "arm", "seed", SPEC_ID),
    "run_id",
)


def export_predictions(
    uri: str, *, experiment: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """The per-window test forecasts of the finished trials of ``experiment`` or ``sweep``
    (the same trials as :func:`export_frame`), long: ``PREDICTION_KEYS`` +
    ``PREDICTION_COLUMNS``. ``frame.attrs["missing"]``: finished runs without the artifact
    (written before predictions were stored)."""
    from synprune.tracking.reader import load_predictions

    client = _client(uri)
    rows = [r for r in _trial_rows(client, uri, experiment, sweep) if r["status"] == "finished"]
    order = ["dataset", "model", "seq_len", "horizon", "arm", "seed", "run_id"]
    rows.sort(key=lambda r: tuple(_sort_key(r.get(c)) for c in order))
    preds = load_predictions(client, [r["run_id"] for r in rows])
    keys = pd.DataFrame.from_records([{k: r.get(k, "") for k in PREDICTION_KEYS} for r in rows])
    if keys.empty:
        keys = pd.DataFrame(columns=list(PREDICTION_KEYS))
    for c in ("seq_len", "horizon", "seed"):
        keys[c] = pd.to_numeric(keys[c], errors="coerce").astype("Int64")
    out = keys.merge(preds, on="run_id", how="inner", sort=False)
    out.attrs["missing"] = preds.attrs.get("missing", [])
    return out


def _sort_key(v: Any) -> tuple[int, Any]:
    """Numbers before text, numbers by value (seq_len 7 < 14)."""
    try:
        return (0, float(v))
    except (TypeError, ValueError):
        return (1, str(v))
