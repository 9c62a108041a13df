"""The trained model of a trial as a compact, JSON-safe payload (``TrialResult.model_state``).

A trial hands its driver everything needed to rebuild the trained forecaster, so the driver
(which writes MLflow) can log it as a model: the restored best ``state_dict``, the pruning masks
(True = kept, for the tensors the regularizer masks; masked weights are exactly zero), the
per-tensor sparsity, ``n_features``, the keywords the regularizer set on the model (e.g.
``dropout``) and the target's train-split scaling (``y = y_scaled * target_std + target_mean``).
``torch.save`` -> zlib -> base64 text: it travels inside the trial's JSON result (no shared
storage needed on a cluster) and waits in the tracking spool as JSON. Pruned weights and masks
compress well. Decoding uses ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import base64
import io
import zlib
from typing import Any

import torch
from torch import nn

from synprune.datasets import WindowedData
from synprune.regularizers import Regularizer

#: version of the payload layout (bump when its keys change)
VERSION = 1


def encode_model_state(model: nn.Module, regularizer: Regularizer, windows: WindowedData) -> str:
    """``model``'s weights (+ masks of the pruned tensors) as base64 text."""
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    params = dict(model.named_parameters())
    sparsity = regularizer.tensor_sparsity()
    masks = {n: params[n].detach().to("cpu") != 0 for n in sparsity if n in params}
    payload = {
        "version": VERSION,
        "state_dict": state,
        "masks": masks,
        "tensor_sparsity": {k: float(v) for k, v in sparsity.items()},
        "n_features": int(windows.n_features),
        "model_kwargs": dict(regularizer.model_kwargs()),
        "target_mean": float(windows.target_mean),
        "target_std": float(windows.target_std),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return base64.b64encode(zlib.compress(buf.getvalue(), 6)).decode("ascii")


def decode_model_state(text: str) -> dict[str, Any]:
    """The payload of :func:`encode_model_state` (tensors on CPU; weights-only unpickling)."""
    raw = zlib.decompress(base64.b64decode(text.encode("ascii")))
    out = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    if not isinstance(out, dict) or out.get("version") != VERSION:
        raise ValueError(f"model_state: not a version-{VERSION} synprune model payload")
    return out
