"""The run schema: tag and metric names, defined once. The writer writes them and the readers
(``tracking.reader``, including its SQL fast path) read them."""

from __future__ import annotations

TRIAL_TAGS = (
    "spec_id",
    "model",
    "dataset",
    "regularizer",
    "seq_len",
    "horizon",
    "seed",
    "git_sha",
    "status",
)
HISTORY_METRICS = ("train_loss", "val_loss", "sparsity")


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
