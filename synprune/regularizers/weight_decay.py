"""``weight_decay``: decoupled weight decay, the AdamW update (Loshchilov & Hutter, ICLR 2019).

The training loop always optimises with ``torch.optim.AdamW``; this regularizer is the only
thing that gives it a non-zero ``weight_decay`` (through ``optimizer_kwargs()``), so weight
decay has one meaning and one place to set it (``--regularizer weight_decay --set
regularizer.weight_decay=0.01``, or a composite such as ``synaptic+weight_decay``). Without it
the loop's AdamW has ``weight_decay=0``, whose update is exactly Adam's.

Each step, before the Adam update, every parameter is shrunk by ``lr * weight_decay``
(Loshchilov & Hutter 2019, Algorithm 2, line 12, with schedule multiplier 1)::

    p <- p - lr * weight_decay * p          then  p <- p - lr * m_hat / (sqrt(v_hat) + eps)

It applies to every parameter (weights, biases, norms), as ``torch.optim.AdamW`` does.
Library use: nothing to attach -- build ``torch.optim.AdamW(model.parameters(), lr=...,
weight_decay=...)`` yourself.
"""

from __future__ import annotations

from typing import Any

from synprune.regularizers.base import Regularizer, check_real
from synprune.regularizers.registry import register_regularizer


@register_regularizer("weight_decay")
class WeightDecayRegularizer(Regularizer):
    """``weight_decay``: AdamW's decoupled weight decay with strength ``weight_decay`` in
    [0, 100] (each step shrinks the weights by the factor ``1 - lr * weight_decay``; with
    lr 1e-3 and ~1000 steps a run shrinks them by ``exp(-weight_decay)`` before the gradient
    steps, so values well below 0.1 barely act in runs this short)."""

    def __init__(self, *, weight_decay: float = 0.01) -> None:  # torch.optim.AdamW's default
        self.weight_decay = check_real("weight_decay", weight_decay, 0.0, 100.0)

    def optimizer_kwargs(self) -> dict[str, Any]:
        return {"weight_decay": self.weight_decay}

    def params(self) -> dict[str, Any]:
        return {"weight_decay": self.weight_decay}
