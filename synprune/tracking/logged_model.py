"""A trial's trained model as an MLflow 3 logged model (torch flavour), linked to its run.

The driver rebuilds the forecaster from the spec and the trial's payload
(:mod:`synprune.experiment.model_state`) and logs it with ``mlflow.pytorch.log_model`` in the
``pt2`` format (``torch.export``): MLflow 3.17 refuses to unpickle models by default, and a
``pt2`` model loads with torch alone -- no synprune import, no pickle::

    model = mlflow.pytorch.load_model("models:/<model_id>")  # or "runs:/<run_id>/<name>"
    y_scaled = model(x_scaled)        # x[B, seq_len, n_features] -> y[B, horizon]

Inputs are windows scaled with the trial's train-split statistics and the output is the scaled
target (``y = y_scaled * target_std + target_mean``; both are in the model's metadata).
The logged module is the one the trial's regularizer makes of its model
(``Regularizer.forecaster``), so it predicts as the trial did: e.g. ``mc_dropout`` models
compute the mean of ``samples`` stochastic passes (``synprune.regularizers.mc_dropout``).
``masks.pt`` beside the model holds the pruning masks (True = kept) and per-tensor sparsity;
pruned weights are exactly zero in the model itself.

Cost: ``torch.export`` takes ~0.75 s warm and ~2.7 s cold per call (docs DESIGN.md "Measured
costs"), more than a small trial trains, and nearly all of it is fixed tracing overhead, while
the traced graph depends only on the architecture. So each exported program is kept per
architecture (:func:`_arch_key`: module classes and ``repr``, train/eval modes, MC samples,
input shape, parameter shapes) and the next trial's weights are swapped into it
(:func:`_with_weights`); a swapped program is used only if it reproduces the eager model's
output on the example input (same random seed, so MC dropout compares too), else the model is
exported afresh. MLflow's own ``log_model`` writes everything else as before (its call to
``torch.export.export`` is handed the cached program for this one module, under a lock).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import threading
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


def forecaster(spec: Mapping[str, Any], payload: Mapping[str, Any]) -> nn.Module:
    """The trained forecaster of ``spec`` from its payload, in inference mode: the module its
    regularizer's :meth:`~synprune.regularizers.base.Regularizer.forecaster` makes of the model
    (so it predicts as the trial's ``predict`` did; tracking knows no regularizer by name)."""
    from synprune.models import create_model
    from synprune.regularizers import create_regularizer

    model = create_model(
        spec["model"]["name"],
        n_features=int(payload["n_features"]),
        seq_len=int(spec["seq_len"]),
        horizon=int(spec["horizon"]),
        **dict(spec["model"].get("params") or {}),
        **dict(payload["model_kwargs"]),
    )
    model.load_state_dict(payload["state_dict"])
    reg = spec["regularizer"]
    return create_regularizer(str(reg["name"]), **dict(reg.get("params") or {})).forecaster(model)


@contextlib.contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent model logging resolves the store from the global tracking URI."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        yield


#: exported programs by architecture (see the module docstring); bounded, oldest dropped
_PROGRAMS: dict[str, Any] = {}
_MAX_PROGRAMS = 32
_EXPORT_LOCK = threading.Lock()
#: how often log_trial_model exported afresh / reused a program (read by tests and benchmarks)
EXPORTS = {"fresh": 0, "reused": 0}


#: dropout rates in an ``extra_repr`` (``Dropout(p=0.2)``, ``LSTM(..., dropout=0.2)``)
_DROPOUT_ARGS = re.compile(r"(?:^|,\s*)(?:p|dropout)=[-+0-9.eE]+")


def _arch_key(model: nn.Module, x: torch.Tensor) -> str:
    """What a traced graph can depend on besides the weights' values: each module's class,
    mode and ``extra_repr``, the input shape and the parameter shapes. Dropout rates of modules
    in eval mode are left out (they compute nothing there), so ``none`` and ``dropout[p]``
    share a program; a swapped program is checked numerically before use anyway."""
    modules = []
    for name, m in model.named_modules():
        extra = m.extra_repr()
        if not m.training:
            extra = _DROPOUT_ARGS.sub("", extra)
        modules.append([name, f"{type(m).__module__}.{type(m).__qualname__}", m.training, extra])
    return json.dumps(
        [
            modules,
            list(x.shape),
            [(k, list(v.shape), str(v.dtype)) for k, v in model.state_dict().items()],
        ]
    )


def _with_weights(program: Any, model: nn.Module) -> Any:
    """``program`` (an ``ExportedProgram`` of ``model``'s architecture) with ``model``'s
    parameters and buffers; ``None`` if they do not fit."""
    state = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    for name, old in program.state_dict.items():
        value = state.get(name)
        if value is None or value.shape != old.shape or value.dtype != old.dtype:
            return None
        value = value.detach().clone()
        new[name] = (
            nn.Parameter(value, requires_grad=old.requires_grad)
            if isinstance(old, nn.Parameter)
            else value
        )
    return program._update(program.graph_module, program.graph_signature, state_dict=new)


def _run_program(program: Any, x: torch.Tensor) -> torch.Tensor | None:
    """The program's output on ``x``, from its lifted graph (cheaper than ``.module()``);
    ``None`` for a signature this does not handle."""
    from torch.export.graph_signature import InputKind, OutputKind

    sig = program.graph_signature
    args: list[Any] = []
    for spec in sig.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            args.append(x)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and spec.target:
            args.append(program.state_dict[spec.target])
        elif spec.kind == InputKind.CONSTANT_TENSOR and spec.target:
            args.append(program.constants[spec.target])
        else:
            return None
    if sum(s.kind == InputKind.USER_INPUT for s in sig.input_specs) != 1:
        return None
    outs = program.graph_module(*args)
    kinds = [s.kind for s in sig.output_specs]
    user = [o for o, k in zip(outs, kinds, strict=True) if k == OutputKind.USER_OUTPUT]
    return user[0] if len(user) == 1 and isinstance(user[0], torch.Tensor) else None


def _same_output(program: Any, model: nn.Module, x: torch.Tensor) -> bool:
    """Does ``program`` compute what ``model`` computes on ``x`` (same seed: MC dropout)?"""
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)
        want = model(x)
        torch.manual_seed(0)
        got = _run_program(program, x)
    return got is not None and got.shape == want.shape and torch.allclose(got, want, atol=1e-6)


def _cached_program(model: nn.Module, x: torch.Tensor) -> tuple[str, Any]:
    """(architecture key, the cached program with ``model``'s weights or ``None``)."""
    key = _arch_key(model, x)
    cached = _PROGRAMS.get(key)
    if cached is None:
        return key, None
    try:
        with warnings.catch_warnings():  # torch's own deprecation inside ExportedProgram copies
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            program = _with_weights(cached, model)
        if program is not None and _same_output(program, model, x):
            return key, program
    except Exception:  # any mismatch: export afresh
        pass
    _PROGRAMS.pop(key, None)
    return key, None


@contextlib.contextmanager
def _export_reusing(model: nn.Module, x: torch.Tensor) -> Iterator[None]:
    """While MLflow saves ``model``: its ``torch.export.export(model, ...)`` returns the cached
    program with ``model``'s weights, or exports (and caches) it."""
    import torch.export as te

    with _EXPORT_LOCK:
        key, program = _cached_program(model, x)
        original = te.export

        def export(mod: Any, args: Any, *rest: Any, **kw: Any) -> Any:
            if mod is not model:
                return original(mod, args, *rest, **kw)
            if program is not None:
                EXPORTS["reused"] += 1
                return program
            fresh = original(mod, args, *rest, **kw)
            EXPORTS["fresh"] += 1
            while len(_PROGRAMS) >= _MAX_PROGRAMS:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            _PROGRAMS[key] = fresh
            return fresh

        te.export = export
        try:
            yield
        finally:
            te.export = original


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
    prediction = getattr(model, "prediction", None)  # e.g. "mean of 30 MC-dropout passes"
    if isinstance(prediction, str):
        metadata["prediction"] = prediction
    keys = ("spec_id", "arm", "model", "dataset", "seed", "seq_len", "horizon")
    tags = {k: rec.tags[k] for k in keys if k in rec.tags}  # one exact trial is findable
    if NOTE_TAG in rec.tags:  # the model page's description: the trial's outcome
        tags[NOTE_TAG] = rec.tags[NOTE_TAG]
    name = model_name(rec.run_name)
    with (
        tempfile.TemporaryDirectory() as tmp,
        _tracking_uri(uri),
        warnings.catch_warnings(),
        _export_reusing(model, x),
    ):
        # torch.export on nn.LSTM/GRU/RNN: "_flat_weights ... assigned during export" (harmless)
        warnings.filterwarnings("ignore", message="The tensor attributes", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
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
