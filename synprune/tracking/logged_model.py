"""A trial's trained model as an MLflow 3 logged model (torch flavour), linked to its run.

The driver rebuilds the forecaster from the spec and the trial's payload
(:mod:`synprune.experiment.model_state`) and logs it with ``mlflow.pytorch.log_model`` in the
``pt2`` format (``torch.export``): MLflow 3.17 refuses to unpickle models by default, and a
``pt2`` model loads with torch alone -- no synprune import, no pickle::

    model = mlflow.pytorch.load_model("models:/<model_id>")  # or "runs:/<run_id>/<name>"
    y_scaled = model(x_scaled)        # x[B, seq_len, n_features] -> y[B, horizon]

Inputs are windows scaled with the trial's train-split statistics and the output is the scaled
target (``y = y_scaled * target_std + target_mean``; both are in the model's metadata).
``mc_dropout`` models predict as the trial did: the mean of ``samples`` stochastic passes (one
batched pass over the input repeated ``samples`` times; only dropout modules in train mode).
``masks.pt`` beside the model holds the pruning masks (True = kept) and per-tensor sparsity;
pruned weights are exactly zero in the model itself.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synprune.tracking.records import NOTE_TAG

_NOT_IN_NAMES = re.compile(r"[/:.%\"']")  # MLflow refuses these in logged-model names


def model_name(run_name: str) -> str:
    """The logged model's name: its run's, with ``/ : . % " '`` replaced by ``_``
    (``lstm-aapl-synaptic[final_sparsity=0_5]-L14-H1-s0``); ``runs:/<run_id>/<name>`` and
    ``models:/<model_id>`` both load it."""
    return _NOT_IN_NAMES.sub("_", run_name) or "model"


class MCDropoutForecaster(nn.Module):
    """Mean of ``samples`` MC-dropout passes (Gal & Ghahramani 2016) in one batched pass: the
    batch is repeated ``samples`` times, so each copy draws its own dropout masks. The wrapped
    model is in eval mode except its dropout modules (as ``MCDropoutRegularizer.predict``)."""

    def __init__(self, model: nn.Module, samples: int) -> None:
        from synprune.regularizers.mc_dropout import DROPOUT_TYPES

        super().__init__()
        self.model = model.eval()
        for m in self.model.modules():
            if isinstance(m, DROPOUT_TYPES):
                m.train()
        self.samples = int(samples)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = self.model(x.repeat(self.samples, *([1] * (x.dim() - 1))))
        return y.reshape(self.samples, b, *y.shape[1:]).mean(dim=0)


def mc_samples(regularizer: Mapping[str, Any]) -> int:
    """T of an ``mc_dropout`` regularizer spec (alone or part of ``a+b``), else 0."""
    parts = str(regularizer.get("name", "")).split("+")
    if "mc_dropout" not in parts:
        return 0
    params = dict(regularizer.get("params") or {})
    if len(parts) > 1:
        params = dict(params.get("mc_dropout") or {})
    return int(params.get("samples", 30))


def forecaster(spec: Mapping[str, Any], payload: Mapping[str, Any]) -> nn.Module:
    """The trained forecaster of ``spec`` from its payload, in inference mode."""
    from synprune.models import create_model

    model = create_model(
        spec["model"]["name"],
        n_features=int(payload["n_features"]),
        seq_len=int(spec["seq_len"]),
        horizon=int(spec.get("horizon", 1)),
        **dict(spec["model"].get("params") or {}),
        **dict(payload["model_kwargs"]),
    )
    model.load_state_dict(payload["state_dict"])
    model.eval()
    samples = mc_samples(spec["regularizer"])
    return MCDropoutForecaster(model, samples) if samples else model


@contextlib.contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent model logging resolves the store from the global tracking URI."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        yield


def log_trial_model(client: Any, uri: str, experiment_id: str, run_id: str, rec: Any) -> str:
    """Log ``rec``'s model (a trial ``RunRecord`` with ``model_state``); returns the model id.
    The run's step-0 metrics (the final ones) are linked to the model."""
    import mlflow
    from mlflow.models import infer_signature

    from synprune.experiment.model_state import decode_model_state

    payload = decode_model_state(rec.model_state)
    model = forecaster(rec.spec, payload)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, int(rec.spec["seq_len"]), int(payload["n_features"]), generator=gen)
    with torch.no_grad():
        y = model(x)
    metadata = {
        "spec_id": rec.spec_id,
        "arm": rec.tags.get("arm", ""),
        "input": "x[batch, seq_len, n_features]: windows scaled with the train split's "
        "statistics, channel 0 = target",
        "output": "y[batch, horizon] scaled: y * target_std + target_mean = original units",
        "target_mean": float(payload["target_mean"]),
        "target_std": float(payload["target_std"]),
        "final_sparsity": float(rec.metrics.get("final_sparsity", 0.0)),
        "tensor_sparsity": dict(payload["tensor_sparsity"]),
    }
    if isinstance(model, MCDropoutForecaster):
        metadata["prediction"] = f"mean of {model.samples} MC-dropout passes"
    tags = {k: rec.tags[k] for k in ("spec_id", "arm", "model", "dataset") if k in rec.tags}
    if NOTE_TAG in rec.tags:  # the model page's description: the trial's outcome
        tags[NOTE_TAG] = rec.tags[NOTE_TAG]
    name = model_name(rec.run_name)
    with tempfile.TemporaryDirectory() as tmp, _tracking_uri(uri), warnings.catch_warnings():
        # torch.export on nn.LSTM/GRU/RNN: "_flat_weights ... assigned during export" (harmless)
        warnings.filterwarnings("ignore", message="The tensor attributes", category=UserWarning)
        masks = Path(tmp, "masks.pt")
        torch.save(
            {"masks": payload["masks"], "tensor_sparsity": payload["tensor_sparsity"]}, masks
        )
        logged = client.create_logged_model(
            experiment_id,
            name=name,
            source_run_id=run_id,
            tags=tags,
            params=dict(rec.params),
            model_type="forecaster",
        )
        mlflow.pytorch.log_model(
            model,
            name=name,
            model_id=logged.model_id,
            run_id=run_id,
            step=0,
            serialization_format="pt2",
            input_example=x.numpy(),
            signature=infer_signature(x.numpy(), y.numpy()),
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            extra_files=[str(masks)],
            metadata=metadata,
            validate_serving_input=False,
        )
    return str(logged.model_id)
