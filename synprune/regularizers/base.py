"""The Regularizer hooks called by the one training loop (synprune.pipeline.train).

Every regularizer (none, dropout, MC dropout, synaptic pruning, and any plugin) is a
``Regularizer``; the loop never asks which one is active. Models never see regularizer flags:
the only thing a regularizer may pass to a model is ``model_kwargs()`` (e.g. dropout p).

Call order inside ``synprune.pipeline.train``::

    reg = create_regularizer(name, **params)
    model = create_model(..., **reg.model_kwargs())
    optimizer = Adam(model.parameters())
    reg.attach(model, total_steps=epochs * batches_per_epoch, optimizer=optimizer)
    for each batch:  loss.backward(); optimizer.step(); step += 1; reg.after_optimizer_step(step)
    each epoch:      metrics.update(reg.metrics())            # logged as metric history
    evaluation:      y_hat = reg.predict(model, x)           # MC dropout: mean of T passes
    checkpoints:     reg.state_dict() / reg.load_state_dict() beside the model's
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Regularizer:
    """Base class with no-op hooks. Subclasses override only what they need."""

    #: registry name, set by subclasses
    name: str = "base"

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the model factory (e.g. ``{"dropout": 0.3}``)."""
        return {"dropout": 0.0}

    def attach(
        self, model: nn.Module, total_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Called once before training; ``total_steps`` = planned optimizer steps."""

    def after_optimizer_step(self, step: int) -> None:
        """Called after every ``optimizer.step()``; ``step`` counts completed steps from 1."""

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Point forecast used for validation and test. Default: one pass in eval mode."""
        was_training = model.training
        model.eval()
        try:
            return model(x)
        finally:
            model.train(was_training)

    def metrics(self) -> dict[str, float]:
        """Scalars to log each epoch (e.g. ``{"sparsity": 0.42}``)."""
        return {}

    def params(self) -> dict[str, Any]:
        """The regularizer's own hyperparameters (for logging / spec round trip)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
