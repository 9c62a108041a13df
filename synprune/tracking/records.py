"""``RunRecord``: everything one MLflow run needs, as plain JSON (so it can wait in the spool),
and ``trial_record``: the record of one ``TrialResult``. Pure: no MLflow import.

What a trial run looks like is :mod:`synprune.tracking.schema`; this module decides the values:
the run name ``model-dataset-arm-L<seq_len>-H<horizon>-s<seed>``, params without ``None``,
histories of one value per trained epoch (none at all for a one-epoch trial: its final metrics
say everything), the restored best validation loss as ``best_val_loss``, per-tensor sparsity,
the ``collapsed_tensors`` tag, a one-paragraph run description, and the trial's own start/end
times.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synprune.experiment.results import PREDICTION_COLUMNS, TrialResult, decode_predictions
from synprune.experiment.spec import TrialSpec
from synprune.tracking.schema import (
    ATTEMPTS_TAG,
    COLLAPSED_AT,
    COLLAPSED_TAG,
    HISTORY_METRICS,
    SHARES_TAG,
    SWEEP_RUN_TAG,
    TENSOR_PREFIX,
    TOP_TENSORS,
    ratio_to_naive,
    tensor_metric,
)

MAX_TAG = 5000
MAX_PARAM = 6000
NOTE_TAG = "mlflow.note.content"  # the run page's "Description"


@dataclass
class RunRecord:
    """Everything one MLflow run needs, JSON-able so it can wait in the spool."""

    kind: str  # trial | tune
    run_name: str
    status: str  # finished | failed
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # final values (step 0)
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch, "epoch" = step
    texts: dict[str, str] = field(default_factory=dict)  # artifact file name -> content
    spec_id: str = ""
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    start_ms: int = 0  # the trial's own training start/end (0 = when the run is written)
    end_ms: int = 0
    spec: dict[str, Any] = field(default_factory=dict)  # to rebuild the logged model
    model_state: str = ""  # experiment/model_state.py payload; "" = no model to log
    predictions: dict[str, Any] = field(default_factory=dict)  # experiment.results payload
    partial_run_id: str = ""  # a run an earlier failed attempt left behind
    last_error: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRecord:
        """A spooled record; keys this version does not know are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def collapsed(self) -> list[str]:
        """Tensors pruned to >= 99 % (from the ``collapsed_tensors`` tag)."""
        value = self.tags.get(COLLAPSED_TAG, "")
        return [n for n in value.split(", ") if n]


def spec_params(spec: TrialSpec) -> dict[str, str]:
    """A spec's dotted params without ``None`` values (the arm is a tag, not a param)."""
    flat = spec.flat_params()
    params = {k: str(v)[:MAX_PARAM] for k, v in flat.items() if v is not None}
    params.pop("arm", None)  # a tag, like model/dataset/regularizer
    return params


def final_metrics(result: Any) -> dict[str, float]:
    """The final metrics under their MLflow names, ``ratio_to_naive`` added; finite only."""
    out = dict(result.metrics())
    out["ratio_to_naive"] = ratio_to_naive(out.get("test_mae", math.nan), out.get("naive_mae", 0))
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def tensor_sparsity(result: Any) -> dict[str, float]:
    """Final masked fraction per pruned tensor: ``TrialResult.tensor_sparsity`` where the result
    carries it, else the model payload's copy."""
    found = getattr(result, "tensor_sparsity", None)
    if isinstance(found, Mapping):
        return {str(k): float(v) for k, v in found.items()}
    if getattr(result, "model_state", ""):
        from synprune.experiment.model_state import decode_model_state

        try:
            return dict(decode_model_state(result.model_state)["tensor_sparsity"])
        except (ValueError, KeyError, RuntimeError, OSError):
            return {}
    return {}


def _entry_tensors(entry: Mapping[str, Any]) -> dict[str, float]:
    """Per-tensor sparsity in one history entry: ``sparsity/<name>`` keys or a
    ``tensor_sparsity`` mapping (either is accepted)."""
    out = {k[len(TENSOR_PREFIX) :]: v for k, v in entry.items() if k.startswith(TENSOR_PREFIX)}
    nested = entry.get("tensor_sparsity")
    if isinstance(nested, Mapping):
        out.update(nested)
    return {str(k): float(v) for k, v in out.items()}


def histories(
    history: Sequence[Mapping[str, Any]], tensors: list[str]
) -> tuple[list[dict[str, float]], set[str]]:
    """Per-epoch rows to log (HISTORY_METRICS, ``sparsity/<t>`` for ``tensors``, and
    ``epoch_seconds`` for timestamps) and the tensors that got a history. A trial of one epoch
    gets none: a one-point chart says nothing its final metrics do not."""
    if len(history) < 2:
        return [], set()
    rows: list[dict[str, float]] = []
    seen: set[str] = set()
    for i, h in enumerate(history):
        row = {"epoch": float(h.get("epoch", i + 1))}
        for k in (*HISTORY_METRICS, "epoch_seconds"):
            v = h.get(k)
            if isinstance(v, int | float) and math.isfinite(v):
                row[k] = float(v)
        per = _entry_tensors(h)
        for t in tensors:
            if t in per and math.isfinite(per[t]):
                row[tensor_metric(t)] = per[t]
                seen.add(t)
        rows.append(row)
    return rows, seen


def describe(result: Any, metrics: Mapping[str, float], collapsed: list[str]) -> str:
    """The run page's description: the outcome in one paragraph (markdown)."""
    if result.status != "finished":
        first = (result.error or "unknown error").strip().splitlines()
        return f"**failed**: `{(first[-1] if first else 'unknown error')[:300]}`"
    m = metrics
    text = (
        f"test MAE **{m.get('test_mae', math.nan):.4g}** vs naive "
        f"{m.get('naive_mae', math.nan):.4g} (ratio **{m.get('ratio_to_naive', math.nan):.3f}**;"
        f" < 1 beats persistence; seasonal naive {m.get('snaive_mae', math.nan):.4g}, linear "
        f"{m.get('linear_mae', math.nan):.4g}) · sparsity {m.get('final_sparsity', 0.0):.2f} · "
        f"{int(m.get('epochs_run', 0))} epochs, best {int(m.get('best_epoch', 0))} "
        f"(val loss {m.get('best_val_loss', math.nan):.4g}) · "
        f"{m.get('train_seconds', 0.0):.1f} s"
    )
    if collapsed:
        text += f"\n\n**warning**: tensors pruned to >= 99 %: {', '.join(collapsed)}"
    return text


def trial_record(result: TrialResult, parent_run_id: str = "", attempts: int = 1) -> RunRecord:
    """The record for one ``TrialResult`` (finished or failed)."""
    s: TrialSpec = result.spec
    params = spec_params(s)
    tags = {
        "spec_id": result.spec_id,
        "model": s.model.name,
        "dataset": s.dataset,
        "regularizer": s.regularizer.name,
        "arm": s.arm,
        "seq_len": str(s.seq_len),
        "horizon": str(s.horizon),
        "seed": str(s.seed),
        "git_sha": result.git_sha,
        ATTEMPTS_TAG: str(attempts),
    }
    if parent_run_id:
        tags[SWEEP_RUN_TAG] = parent_run_id
    if getattr(result, "shares_training_with", ""):  # arms evaluated on one training
        tags[SHARES_TAG] = str(result.shares_training_with)
    texts = {}
    if result.notes:
        texts["notes.txt"] = "\n".join(result.notes) + "\n"
    metrics: dict[str, float] = {}
    rows: list[dict[str, float]] = []
    collapsed: list[str] = []
    if result.status == "finished":
        metrics = final_metrics(result)
        final = tensor_sparsity(result)
        ranked = sorted((t for t, v in final.items() if v > 0), key=lambda t: (-final[t], t))
        rows, with_history = histories(result.history, ranked[:TOP_TENSORS])
        for t, v in final.items():
            if t not in with_history and math.isfinite(v):
                metrics[tensor_metric(t)] = float(v)
        collapsed = sorted(t for t, v in final.items() if v >= COLLAPSED_AT)
        if collapsed:
            tags[COLLAPSED_TAG] = ", ".join(collapsed)[:MAX_TAG]
    else:
        tags["error"] = (result.error or "unknown error")[:MAX_TAG]
        texts["error.txt"] = result.error or "unknown error"
    tags[NOTE_TAG] = describe(result, metrics, collapsed)
    end = int(getattr(result, "end_time_ms", 0) or 0)
    start = int(getattr(result, "start_time_ms", 0) or 0)
    return RunRecord(
        kind="trial",
        run_name=s.run_name(),
        status=result.status,
        tags=tags,
        params=params,
        metrics=metrics,
        history=rows,
        texts=texts,
        spec_id=result.spec_id,
        start_ms=start,
        end_ms=end,
        spec=s.to_dict(),
        model_state=getattr(result, "model_state", "") if result.status == "finished" else "",
        predictions=dict(getattr(result, "predictions", None) or {})
        if result.status == "finished"
        else {},
    )


def predictions_csv_gz(payload: Mapping[str, Any]) -> bytes:
    """The ``predictions.csv.gz`` bytes of a predictions payload
    (``experiment.results.encode_predictions``): a header of ``PREDICTION_COLUMNS``, one row
    per (window, step), floats with 7 significant digits (float32 precision); gzip without a
    timestamp, so equal forecasts give equal bytes."""
    cols = decode_predictions(dict(payload))
    n = len(cols["window"])
    table = np.empty((n, len(PREDICTION_COLUMNS)), dtype=object)
    for j, c in enumerate(PREDICTION_COLUMNS):
        table[:, j] = cols[c].astype(np.int64 if j < 2 else np.float64).tolist()
    line = ",".join(["%d", "%d"] + ["%.7g"] * (len(PREDICTION_COLUMNS) - 2)) + "\n"
    text = ",".join(PREDICTION_COLUMNS) + "\n" + (line * n) % tuple(table.ravel().tolist())
    return gzip.compress(text.encode("ascii"), compresslevel=1, mtime=0)
