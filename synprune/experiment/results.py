"""The trial result schema: one row per trial, failures included."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: final metrics every finished trial reports (logged as MLflow metrics). ``best_val_loss`` is
#: ``TrialResult.val_loss``: the validation loss of the restored model as the arm predicts; it
#: has its own name so the per-epoch ``val_loss`` history holds exactly one point per epoch.
FINAL_METRICS = (
    "test_mae",
    "test_rmse",
    "test_mse",
    "naive_mae",
    "naive_rmse",
    "best_val_loss",
    "epochs_run",
    "best_epoch",
    "final_sparsity",
    "train_seconds",
)
#: result field behind a final metric whose name differs from the field's
_METRIC_FIELDS = {"best_val_loss": "val_loss"}


@functools.cache
def git_sha() -> str:
    """Commit of the synprune checkout running this code ("unknown" outside a git checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class TrialResult:
    """What one trial produced. ``status`` is ``finished`` or ``failed`` (then ``error`` says why).

    Metrics are in the target's original units; ``naive_mae`` is the persistence forecast
    (last observed value repeated) on the same test windows. ``val_loss`` is the scaled MSE of
    the restored (best) model on the validation split, predicted as the arm predicts.
    ``final_sparsity`` / ``tensor_sparsity`` describe the restored weights (overall and per
    pruned tensor). ``start_time_ms`` / ``end_time_ms`` are the wall-clock bounds of training.
    ``shares_training_with``: comma-separated spec_ids of trials evaluated on the very same
    trained model (arms that train identically, e.g. ``dropout[p]`` and ``mc_dropout[p]``).
    """

    spec: dict[str, Any]
    spec_id: str
    status: str = "finished"
    error: str = ""
    test_mae: float = float("nan")
    test_rmse: float = float("nan")
    test_mse: float = float("nan")
    naive_mae: float = float("nan")
    naive_rmse: float = float("nan")
    val_loss: float = float("nan")
    epochs_run: int = 0
    best_epoch: int = 0
    final_sparsity: float = 0.0
    train_seconds: float = 0.0
    tensor_sparsity: dict[str, float] = field(default_factory=dict)
    start_time_ms: int = 0
    end_time_ms: int = 0
    shares_training_with: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    git_sha: str = field(default_factory=git_sha)
    mlflow_run_id: str = ""
    #: the trained model for the driver to log (experiment/model_state.py); "" = none
    model_state: str = field(default="", repr=False)

    @classmethod
    def failed(cls, spec: dict[str, Any], spec_id: str, error: str) -> TrialResult:
        return cls(spec=spec, spec_id=spec_id, status="failed", error=error)

    def metrics(self) -> dict[str, float]:
        """The final metrics as floats (NaN where the trial failed)."""
        return {k: float(getattr(self, _METRIC_FIELDS.get(k, k))) for k in FINAL_METRICS}

    def to_json(self) -> dict[str, Any]:
        """The ``train --json`` object: metrics, status and the resolved spec."""
        d = dataclasses.asdict(self)
        d.pop("history")
        d.pop("model_state")
        return d
