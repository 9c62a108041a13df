"""The Regularizer hooks called by the one training loop (synprune.experiment.train).

Every regularizer (none, dropout, MC dropout, synaptic pruning, and any plugin) is a
``Regularizer``; the loop never asks which one is active. Models never see regularizer flags:
the only thing a regularizer may pass to a model is ``model_kwargs()`` (e.g. dropout p).

Call order inside ``synprune.experiment.train``::

    reg = create_regularizer(name, **params)
    model = create_model(..., **reg.model_kwargs())
    optimizer = AdamW(model.parameters(), lr, **{"weight_decay": 0.0, **reg.optimizer_kwargs()})
    reg.attach(model, total_steps=epochs * batches_per_epoch, optimizer=optimizer)
    for each batch:  loss = mse(model(x), y)
                     penalty = reg.loss_penalty()           # after the forward pass; None = none
                     (loss + penalty).backward(); optimizer.step(); step += 1
                     reg.after_optimizer_step(step)
    each epoch:      metrics.update(reg.metrics())            # logged as metric history
                     reg.tensor_sparsity()                   # warn on collapsed_tensors(...)
                     best checkpoint only from epochs where reg.settled(); the stopping rule
                     (TrainSpec.stopping) waits min_epochs, by default
                     ceil(reg.settle_fraction() * epochs) (a sweep: the max over its grid)
    evaluation:      y_hat = reg.predict(model, x)           # MC dropout: mean of T passes
    logged model:    reg.forecaster(model)                   # one nn.Module computing predict
    checkpoints:     reg.state_dict() / reg.load_state_dict() beside the model's

On resume the loop calls ``attach`` first and ``load_state_dict`` after it (a regularizer may
also accept ``load_state_dict`` before ``attach`` and apply it there).

``params()`` returns the constructor keywords, so ``create_regularizer(name, **reg.params())``
rebuilds an equivalent regularizer (spec round trip). Constructors validate their params with
the helpers below and raise :class:`~synprune.errors.FieldError` (a ``ValueError``) naming the
argument, its value and the allowed range.

``model_kwargs()`` returns only what the regularizer *sets* (``{}`` by default: the model's
own defaults, e.g. ``dropout=0.0``, apply), so that a composite ``a+b``
(:mod:`~synprune.regularizers.composite`) can refuse two parts setting the same argument.
``optimizer_kwargs()`` likewise returns only what the regularizer sets on the loop's
``torch.optim.AdamW`` (``weight_decay`` is its one use: AdamW with ``weight_decay=0`` is Adam).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import torch
from torch import nn

from synprune.errors import FieldError


def check_real(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is a finite real number in the interval, else
    ``FieldError``, e.g. ``final_sparsity=1.2 is invalid; allowed: a number in [0, 1)``."""
    lb, rb = ("(" if low_open else "["), (")" if high_open else "]")
    interval = f"{lb}{low:g}, {high:g}{rb}"
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise FieldError(name, value, f"a number in {interval}")
    return float(value)  # type: ignore[arg-type]


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in ``[low, high]`` (``high=None``: no bound),
    else ``FieldError``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        v = int(value)
        if v >= low and (high is None or v <= high):
            return v
    rng = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise FieldError(name, value, f"an integer {rng}")


def collapsed_tensors(tensor_sparsity: dict[str, float], threshold: float = 0.99) -> list[str]:
    """Names whose masked fraction is ``>= threshold`` (sorted): tensors pruned (almost) away,
    which can cut a layer off -- for the training loop's warning."""
    threshold = check_real("threshold", threshold, 0.0, 1.0, low_open=True)
    return sorted(n for n, s in tensor_sparsity.items() if s >= threshold)


class Regularizer:
    """Base class with no-op hooks. Subclasses override only what they need."""

    #: registry name, set by ``@register_regularizer(name)``
    name: str = "base"

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the regularizer sets on the model factory (e.g.
        ``{"dropout": 0.3}``); default ``{}`` (the model's defaults apply: no dropout)."""
        return {}

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

    def forecaster(self, model: nn.Module) -> nn.Module:
        """The trained ``model`` as one exportable module ``x -> y_hat`` that computes what
        :meth:`predict` computes (the trial's logged model, :mod:`synprune.tracking`, is this
        module; tracking never asks which regularizer is active). Default: ``model`` itself in
        eval mode. A regularizer that overrides :meth:`predict` overrides this too."""
        return model.eval()

    def optimizer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the regularizer sets on the training loop's ``torch.optim.AdamW``
        (e.g. ``{"weight_decay": 0.01}``), never ``lr``; default ``{}`` (``weight_decay=0``:
        the update is Adam's)."""
        return {}

    def loss_penalty(self) -> torch.Tensor | None:
        """A scalar added to each batch's training loss, called after the forward pass and
        before ``backward()`` (e.g. an L1 penalty on the weights); ``None`` (default): none.
        The loop logs ``train_loss`` without it (the data loss every arm shares)."""
        return None

    def settle_fraction(self) -> float:
        """Fraction in [0, 1] of the planned optimizer steps after which :meth:`settled`
        becomes True (default ``0.0``: from the start). The training loop's ``min_epochs``
        defaults to ``ceil(settle_fraction() * epochs)``."""
        return 0.0

    def settled(self) -> bool:
        """True once the regularizer's own schedule is complete (default: always).

        Until then the training loop neither early-stops nor records a best-validation
        checkpoint: a checkpoint from before a pruning schedule ends is not the regularized
        model, and restoring it would report a method that was never fully applied.
        """
        return True

    def metrics(self) -> dict[str, float]:
        """Scalars to log each epoch (e.g. ``{"sparsity": 0.42}``)."""
        return {}

    def tensor_sparsity(self) -> dict[str, float]:
        """``{parameter name: fraction of its weights masked}`` for the tensors the regularizer
        masks (default ``{}``); see :func:`collapsed_tensors`."""
        return {}

    def params(self) -> dict[str, Any]:
        """The constructor keywords (for logging / spec round trip)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-identically (beside model and optimizer state)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
