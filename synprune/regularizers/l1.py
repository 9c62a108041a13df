"""``l1``: an L1 penalty ``l1 * sum |w|`` on the weights synaptic pruning may prune.

The penalty (Tibshirani 1996's lasso term, here on network weights) is added to every batch's
training loss through ``loss_penalty()``; the tensors are exactly those
:func:`~synprune.regularizers.selection.select_prunable` chooses by module type (Linear/Conv
weights, RNN/LSTM/GRU weight matrices, attention projections; never biases or norms), so
``l1`` and ``synaptic`` act on the same weights. The sum is one fused op over the list of
tensors (``torch._foreach_norm(ord=1)``); its gradient is ``l1 * sign(w)`` (0 at w = 0).
Under data parallelism (DDP) the weights are replicated, so every rank adds the same penalty;
sharded (FSDP2 ``DTensor``) parameters are not supported.

Scale: the models here hold 12k (RNN) to 100k (PatchTST) prunable weights with ``sum |w|``
about 800 to 6300 at initialisation, against a training MSE on standardized targets of about
0.03 to 0.6; ``l1 = 1e-6`` (the default) adds a few percent to tens of percent of that loss,
``1e-5`` about as much as the loss itself, ``1e-4`` dominates it.

Library use::

    reg = create_regularizer("l1", l1=1e-5); reg.attach(model, total_steps)
    loss = mse(model(x), y) + reg.loss_penalty(); loss.backward(); optimizer.step()
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from synprune.regularizers.base import Regularizer, check_real
from synprune.regularizers.registry import register_regularizer
from synprune.regularizers.selection import select_prunable


def l1_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``sum_t sum_i |t_i|`` over ``tensors`` (differentiable; one fused op for the list)."""
    return torch.stack(torch._foreach_norm(tensors, 1)).sum()


@register_regularizer("l1")
class L1Regularizer(Regularizer):
    """``l1``: adds ``l1 * sum |w|`` over the prunable weights to the training loss; ``l1`` in
    [0, 1]. ``metrics() == {"l1_norm": sum |w|}`` of those weights (0 before ``attach``)."""

    def __init__(self, *, l1: float = 1e-6) -> None:
        self.l1 = check_real("l1", l1, 0.0, 1.0)
        self._weights: list[torch.Tensor] = []

    def attach(
        self, model: nn.Module, total_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        self._weights = [p for _, p in select_prunable(model)]

    def loss_penalty(self) -> torch.Tensor | None:
        if not self._weights:
            raise RuntimeError("l1 regularizer: call attach(model, total_steps) first")
        return self.l1 * l1_norm(self._weights)

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        return {"l1_norm": float(l1_norm(self._weights))} if self._weights else {"l1_norm": 0.0}

    def params(self) -> dict[str, Any]:
        return {"l1": self.l1}
