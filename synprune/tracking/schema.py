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
