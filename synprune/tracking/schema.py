"""The run schema: tag and metric names, defined once. The writer writes them and the readers
(``tracking.reader``, including its SQL fast path, and ``tracking.export``) read them.

A trial run (``run_kind=trial``) carries
    tags      TRIAL_TAGS, ``attempts`` (+ ``sweep_run_id``/``sweep`` naming the sweep run that
              launched it, ``error`` when failed, ``collapsed_tensors`` when a tensor is
              pruned >= 99 %, ``shares_training_with`` when another arm shares its training)
    params    every spec field, dotted (``TrialSpec.flat_params()``), no ``None`` values
    metrics   FINAL_METRICS (one value each), HISTORY_METRICS per epoch (step = epoch), and
              ``sparsity/<tensor>``: the final masked fraction of each pruned tensor, with a
              per-epoch history for the TOP_TENSORS most pruned ones when the trial has it.
    artifacts ``PREDICTIONS_ARTIFACT`` (finished trials), ``curves.png``, ``notes.txt``.
The restored best validation loss is the final metric ``best_val_loss``; the ``val_loss``
history holds exactly one value per trained epoch.
"""

from __future__ import annotations

import re

from synprune.experiment.results import FINAL_METRICS as _TRIAL_METRICS

#: tags every trial run carries (``status`` is written last: finished | failed)
TRIAL_TAGS = (
    "spec_id",
    "model",
    "dataset",
    "regularizer",
    "arm",
    "seq_len",
    "horizon",
    "seed",
    "git_sha",
    "status",
)
#: the sweep run that launched a trial (trial runs are flat, not nested, so the MLflow runs
#: table lists them at first sight; see docs/ARCHITECTURE.md "MLflow layout")
SWEEP_RUN_TAG = "sweep_run_id"
SWEEP_NAME_TAG = "sweep"
COLLAPSED_TAG = "collapsed_tensors"
#: how many attempts (Tune retries, reruns after a lost node) the trial took
ATTEMPTS_TAG = "attempts"
#: spec_ids of the trials evaluated on this trial's very training (dropout / MC dropout)
SHARES_TAG = "shares_training_with"

#: artifact of every finished trial: its per-window test forecasts, long format, columns
#: ``experiment.results.PREDICTION_COLUMNS`` (window, step, target, prediction, naive, snaive,
#: linear), original units, float32 precision
PREDICTIONS_ARTIFACT = "predictions.csv.gz"

#: per-epoch metric histories (step = epoch)
HISTORY_METRICS = ("train_loss", "val_loss", "sparsity")
#: final metrics of a finished trial: ``TrialResult``'s (experiment/results.py, one list) with
#: ``ratio_to_naive`` after the naive errors; ``best_val_loss`` is the restored model's
#: validation loss
_AFTER_NAIVE = _TRIAL_METRICS.index("naive_rmse") + 1
FINAL_METRICS = (
    *_TRIAL_METRICS[:_AFTER_NAIVE],
    "ratio_to_naive",
    *_TRIAL_METRICS[_AFTER_NAIVE:],
)
#: the columns a reader of the runs table wants first (docs: "MLflow UI")
KEY_METRICS = (
    "test_mae",
    "naive_mae",
    "ratio_to_naive",
    "snaive_mae",
    "linear_mae",
    "mase",
    "final_sparsity",
)

TENSOR_PREFIX = "sparsity/"
TOP_TENSORS = 5
COLLAPSED_AT = 0.99  # as regularizers.base.collapsed_tensors: masked fraction >= 99 %

#: tag MLflow 3's UI reads to open an experiment in the model-training (not GenAI) view
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")


def tensor_metric(name: str) -> str:
    """``sparsity/<parameter name>``, with characters MLflow refuses in a metric name
    (anything but letters, digits, ``_ - . /`` and space) replaced by ``_``."""
    return TENSOR_PREFIX + _BAD.sub("_", name)


def ratio_to_naive(test_mae: float, naive_mae: float) -> float:
    """test MAE / naive (persistence) MAE on the same windows; < 1 beats the naive forecast."""
    return test_mae / naive_mae if naive_mae else float("nan")


# -- single names the stats reader (tracking.reader and its SQL fast path) looks up ----------
SPEC_ID = "spec_id"
ARM = "arm"  # regularizer name + its swept fields, e.g. synaptic[final_sparsity=0.5]
STATUS = "status"  # finished | failed | running
ERROR_TAG = "error"
RUN_KIND = "run_kind"  # trial | tune | sweep | stats
VAL_LOSS = "val_loss"  # per-epoch history; in stores before best_val_loss, latest = best
BEST_VAL_LOSS = "best_val_loss"  # the restored best validation loss (final metric)
#: stats runs: kind tag, and the sha256 of their input rows + options (one run per input)
STATS_KIND_TAG = "synprune.kind"
STATS_INPUT_TAG = "stats_input_sha256"
GRID_TAG = "synprune.grid_fingerprint"  # experiment tag: the grid its trial runs come from
