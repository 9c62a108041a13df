"""The trial result schema: one row per trial, failures included."""

from __future__ import annotations

import base64
import dataclasses
import functools
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from synprune.experiment.spec import TrialSpec

#: final metrics every finished trial reports (logged as MLflow metrics). ``best_val_loss`` is
#: ``TrialResult.val_loss``: the validation loss of the restored model as the arm predicts; it
#: has its own name so the per-epoch ``val_loss`` history holds exactly one point per epoch.
FINAL_METRICS = (
    "test_mae",
    "test_rmse",
    "test_mse",
    "naive_mae",
    "naive_rmse",
    "snaive_mae",
    "linear_mae",
    "smape",
    "mase",
    "best_val_loss",
    "epochs_run",
    "best_epoch",
    "final_sparsity",
    "train_seconds",
    "season",
    "linear_alpha",
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
    (last observed value repeated) on the same test windows, ``snaive_mae`` the seasonal naive
    one (``season`` rows per cycle) and ``linear_mae`` a ridge regression on the same input
    windows (fit on train, ``linear_alpha`` chosen on validation). ``smape`` (percent) and
    ``mase`` are the model's scale-free errors as M4 defines them (MASE scale: the in-sample
    seasonal-naive MAE on the training rows). ``predictions``: the per-window test forecasts
    (:func:`encode_predictions`; not in ``to_json``). ``val_loss`` is the scaled MSE of
    the restored (best) model on the validation split, predicted as the arm predicts.
    ``final_sparsity`` / ``tensor_sparsity`` describe the restored weights (overall and per
    pruned tensor). ``start_time_ms`` / ``end_time_ms`` are the wall-clock bounds of training.
    ``shares_training_with``: comma-separated spec_ids of trials evaluated on the very same
    trained model (arms that train identically, e.g. ``dropout[p]`` and ``mc_dropout[p]``).
    """

    spec: TrialSpec
    status: str = "finished"
    error: str = ""
    test_mae: float = float("nan")
    test_rmse: float = float("nan")
    test_mse: float = float("nan")
    naive_mae: float = float("nan")
    naive_rmse: float = float("nan")
    snaive_mae: float = float("nan")
    linear_mae: float = float("nan")
    smape: float = float("nan")
    mase: float = float("nan")
    season: int = 0
    linear_alpha: float = float("nan")
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
    #: per-window test forecasts (:func:`encode_predictions`); {} = none
    predictions: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def spec_id(self) -> str:
        return self.spec.spec_id

    @classmethod
    def failed(cls, spec: TrialSpec, error: str) -> TrialResult:
        return cls(spec=spec, status="failed", error=error)

    def metrics(self) -> dict[str, float]:
        """The final metrics as floats (NaN where the trial failed)."""
        return {k: float(getattr(self, _METRIC_FIELDS.get(k, k))) for k in FINAL_METRICS}

    def to_json(self) -> dict[str, Any]:
        """The ``train --json`` object: metrics, status and the resolved spec (as a dict)."""
        d = self.to_wire()
        for key in ("history", "model_state", "predictions"):
            d.pop(key)
        return d

    def to_wire(self) -> dict[str, Any]:
        """Everything, JSON-able: the form a result crosses the Ray boundary in (the spec as
        ``TrialSpec.to_dict()``, plus ``spec_id``); :meth:`from_wire` reads it back."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["spec"] = self.spec.to_dict()
        d["spec_id"] = self.spec_id
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> TrialResult:
        """The result :meth:`to_wire` wrote (its spec rebuilt, and checked against its id)."""
        from synprune.experiment.spec import TrialSpec

        fields = dict(d)
        spec_id = fields.pop("spec_id", None)
        spec = TrialSpec.from_dict(fields.pop("spec"))
        if spec_id is not None and spec_id != spec.spec_id:
            raise ValueError(f"result for spec_id {spec_id} carries spec {spec.spec_id}")
        return cls(spec=spec, **fields)


#: the long columns of a trial's test predictions (``predictions.csv.gz``): ``window`` is the
#: series row of the window's first target (so windows align across seq_len), ``step`` the
#: horizon step (1-based); the rest are in the target's original units
PREDICTION_COLUMNS = ("window", "step", "target", "prediction", "naive", "snaive", "linear")
_SERIES = PREDICTION_COLUMNS[2:]


def _b64(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def encode_predictions(window: Any, **series: Any) -> dict[str, Any]:
    """A compact JSON-able payload: ``window`` ``[N]`` (int) and, for each of ``target,
    prediction, naive, snaive, linear``, an ``[N, H]`` array stored as base64 float32
    (about 5.4 bytes per value; a trial's test set is a few kB to a few hundred kB)."""
    w = np.asarray(window, dtype=np.int64).ravel()
    if set(series) != set(_SERIES):
        raise ValueError(f"encode_predictions needs {', '.join(_SERIES)}; got {sorted(series)}")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != w.size:
        raise ValueError(f"encode_predictions: arrays must all be [N={w.size}, H]; got {shapes}")
    out: dict[str, Any] = {"horizon": int(next(iter(shapes))[1]), "window": _b64(w, "<i8")}
    out.update({k: _b64(arrays[k], "<f4") for k in _SERIES})
    return out


def decode_predictions(payload: dict[str, Any]) -> dict[str, np.ndarray]:
    """The long columns (``PREDICTION_COLUMNS``) of a payload: one row per (window, step)."""
    h = int(payload["horizon"])
    w = np.frombuffer(base64.b64decode(payload["window"]), dtype="<i8")
    out = {"window": np.repeat(w, h), "step": np.tile(np.arange(1, h + 1), w.size)}
    for k in _SERIES:
        values = np.frombuffer(base64.b64decode(payload[k]), dtype="<f4")
        if values.size != w.size * h:
            raise ValueError(
                f"predictions payload: {k} holds {values.size} values, not {w.size * h}"
            )
        out[k] = values
    return out
