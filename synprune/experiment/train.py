"""THE training loop. Every regularizer enters through its hooks; nothing here asks which one.

AdamW + MSE on scaled targets (``weight_decay`` from ``regularizer.optimizer_kwargs()``, 0 by
default, when AdamW's update is Adam's; the ``weight_decay`` regularizer is the one place that
sets it); ``regularizer.loss_penalty()`` (e.g. L1) is added to each batch's loss after the
forward pass, and the logged ``train_loss`` is the MSE alone. Validation loss each epoch; the
**best weights restored** (model and regularizer state, e.g. pruning masks, from the best
epoch) before the caller evaluates.

**Eligible epochs.** Only an epoch at whose end ``regularizer.settled()`` holds (e.g. the
pruning schedule has reached its final sparsity; ``early_stop_during_schedule=True`` or any
other regularizer: every epoch) may be restored as "best": before that the method being
evaluated is not yet fully applied, so restoring such a checkpoint would misreport it. The
best eligible epoch is the one with the lowest validation loss (an improvement must beat the
best so far by more than ``min_delta``), over every epoch run.

**Stopping** (``TrainSpec.stopping``), with ``E = epochs``, ``P = patience``, ``M =
min_epochs`` (unset: ``ceil(regularizer.settle_fraction() * E)``; a sweep sets one value for
its whole grid, the epoch where its latest-ending regularizer schedule ends, see
:mod:`synprune.config.loader`):

* ``"equal"`` (default, one rule for every arm): at most ``E`` epochs; no stop at an epoch
  ``e <= M``; at ``e > M`` the bad epochs are those in ``(max(M, b), e]`` with ``b`` the best
  eligible epoch so far, and training stops once there are ``P`` of them (``P = 0``: never
  early). No stop before an eligible checkpoint exists. So every arm trains at least
  ``M + P`` epochs unless it runs out of epochs, and patience counts the same way for all.
* ``"fixed"``: all ``E`` epochs; the best eligible epoch is restored.
* ``"per_arm"``: the rule before turn 3, kept to show the old results beside the new: patience
  counts eligible non-improving epochs from the start (``M`` ignored), so an arm whose
  schedule ends late (synaptic) trains longer than one that is eligible at once (none).

What the loop reports about the regularizer after training (``FitResult.restored_metrics``,
e.g. sparsity) is read *after* the restore: the realised state of the weights the caller
evaluates, not the last epoch's.

The per-epoch validation loss that drives early stopping is one deterministic pass in eval mode,
whatever the regularizer's ``predict`` does: training is a property of the model and its
training-time hooks only (so ``dropout[p]`` and ``mc_dropout[p]`` train the same model and
draw the same random numbers; MC dropout differs only in how it predicts, Gal & Ghahramani
2016). The caller scores the restored model with the regularizer's own ``predict``.

Batches are drawn by indexing tensors (no DataLoader); the batch order comes from a generator
seeded with the trial seed, so seeds vary initialisation and batch order only.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from synprune.datasets import WindowedData
from synprune.experiment.evaluate import predict
from synprune.experiment.resolve import default_min_epochs
from synprune.experiment.spec import TrainSpec
from synprune.regularizers import Regularizer

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """Per-epoch history, where the best validation loss was, and what was restored.

    ``start_time_ms`` / ``end_time_ms``: wall clock (ms since the epoch) when training began
    and when the best weights were back in place; ``seconds`` the same span, monotonic.
    ``restored_metrics`` / ``restored_tensor_sparsity``: ``regularizer.metrics()`` and
    ``tensor_sparsity()`` of the restored state.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    epochs_run: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    start_time_ms: int = 0
    end_time_ms: int = 0
    restored_metrics: dict[str, float] = field(default_factory=dict)
    restored_tensor_sparsity: dict[str, float] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but CUDA is not available on this machine")
    return torch.device(name)


def steps_per_epoch(n_train: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps per epoch; with several data-parallel ranks each gets n/world samples."""
    per_rank = n_train // world_size
    return max(1, math.ceil(per_rank / batch_size))


def should_stop(
    stopping: str,
    *,
    epoch: int,
    best_epoch: int | None,
    bad_epochs: int,
    min_epochs: int,
    patience: int,
) -> bool:
    """Whether training stops after ``epoch`` (see the module docstring).

    ``best_epoch``: the best eligible epoch so far (``None``: none yet); ``bad_epochs``: the
    eligible epochs since it that did not improve (used by ``per_arm`` only).
    """
    if patience == 0 or stopping == "fixed" or best_epoch is None:
        return False
    if stopping == "per_arm":
        return bad_epochs >= patience
    if stopping != "equal":
        raise ValueError(f"unknown stopping rule {stopping!r}")
    return epoch > min_epochs and epoch - max(min_epochs, best_epoch) >= patience


def make_optimizer(
    params: Iterable[nn.Parameter], lr: float, regularizer: Regularizer
) -> torch.optim.AdamW:
    """``AdamW(params, lr, weight_decay=0.0)`` with the regularizer's ``optimizer_kwargs()``
    over it (``weight_decay=0``: exactly Adam's update)."""
    kwargs: dict[str, Any] = {"weight_decay": 0.0, **regularizer.optimizer_kwargs()}
    if "lr" in kwargs:
        raise ValueError(f"regularizer {regularizer.name!r} may not set lr (train.lr sets it)")
    return torch.optim.AdamW(params, lr=lr, **kwargs)


def fit(
    model: nn.Module,
    regularizer: Regularizer,
    data: WindowedData,
    train: TrainSpec,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    on_epoch: EpochCallback | None = None,
    rank: int = 0,
    world_size: int = 1,
    attach_to: nn.Module | None = None,
) -> FitResult:
    """Train ``model`` in place and restore its best-validation weights.

    ``model`` may be a DDP wrapper; ``attach_to`` is then the inner module the regularizer
    sees. With ``world_size > 1`` every rank draws the same seeded permutation and takes the
    disjoint slice ``perm[rank::world_size]`` (truncated so all ranks run the same number of
    steps), so the ranks together see each training window once per epoch; the epoch's
    ``train_loss`` is then averaged over all ranks (the default process group).
    """
    device = torch.device(device)
    inner = attach_to if attach_to is not None else model
    x_tr = data.x_train.to(device)
    y_tr = data.y_train.to(device)
    n = x_tr.shape[0]
    if n < world_size:
        raise ValueError(f"{n} training windows cannot be split over {world_size} workers")
    per_epoch = steps_per_epoch(n, train.batch_size, world_size)
    total_steps = train.epochs * per_epoch
    min_epochs = train.min_epochs
    if min_epochs is None:
        min_epochs = default_min_epochs(regularizer.settle_fraction(), train.epochs)
    optimizer = make_optimizer(model.parameters(), train.lr, regularizer)
    regularizer.attach(inner, total_steps=total_steps, optimizer=optimizer)
    loss_fn = nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    result = FitResult()
    best_state: dict[str, Any] | None = None
    bad_epochs = 0
    step = 0
    result.start_time_ms = _now_ms()
    t_start = time.perf_counter()
    for epoch in range(1, train.epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        if world_size > 1:
            perm = perm[: (n // world_size) * world_size][rank::world_size]
        perm = perm.to(device)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        for i in range(0, perm.numel(), train.batch_size):
            idx = perm[i : i + train.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            penalty = regularizer.loss_penalty()
            (loss if penalty is None else loss + penalty).backward()
            if train.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
            optimizer.step()
            step += 1
            regularizer.after_optimizer_step(step)
            loss_sum += loss.detach().double() * idx.numel()
        train_loss = _mean_over_ranks(loss_sum, perm.numel(), world_size)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
        val_loss = validation_loss(inner, None, data, train.batch_size, device)
        metrics = {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "epoch_seconds": time.perf_counter() - t_epoch,
            **regularizer.metrics(),
        }
        per_tensor = {f"sparsity/{k}": float(v) for k, v in regularizer.tensor_sparsity().items()}
        result.history.append({"epoch": float(epoch), **metrics, **per_tensor})
        result.epochs_run = epoch
        if not regularizer.settled():
            pass  # schedule still running: no best checkpoint, no early stop yet
        elif best_state is None or val_loss < result.best_val_loss - train.min_delta:
            result.best_val_loss, result.best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = {
                "model": {k: v.detach().clone() for k, v in inner.state_dict().items()},
                "regularizer": copy.deepcopy(regularizer.state_dict()),
            }
        else:
            bad_epochs += 1
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        best = result.best_epoch if best_state is not None else None
        if should_stop(
            train.stopping,
            epoch=epoch,
            best_epoch=best,
            bad_epochs=bad_epochs,
            min_epochs=min_epochs,
            patience=train.patience,
        ):
            result.stopped_early = epoch < train.epochs
            break
    if best_state is not None:
        inner.load_state_dict(best_state["model"])
        regularizer.load_state_dict(best_state["regularizer"])
    result.restored_metrics = {k: float(v) for k, v in regularizer.metrics().items()}
    tensor_sparsity = getattr(regularizer, "tensor_sparsity", None)
    if callable(tensor_sparsity):
        result.restored_tensor_sparsity = {k: float(v) for k, v in tensor_sparsity().items()}
    result.seconds = time.perf_counter() - t_start
    result.end_time_ms = _now_ms()
    return result


def _now_ms() -> int:
    return int(time.time() * 1000)


def _mean_over_ranks(total: torch.Tensor, count: int, world_size: int) -> float:
    """``total / count`` summed over the data-parallel ranks (one all-reduce per epoch), so
    every rank logs the same train loss: the mean over all windows of the epoch."""
    if world_size > 1 and dist.is_available() and dist.is_initialized():
        buf = torch.stack((total, torch.full_like(total, count)))
        dist.all_reduce(buf)
        total, count = buf[0], int(buf[1])
    return float(total) / max(1, count)


def validation_loss(
    model: nn.Module,
    regularizer: Regularizer | None,
    data: WindowedData,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> float:
    """MSE on the scaled validation windows, predicted through ``regularizer.predict`` (as at
    test time), or with one deterministic eval-mode pass when ``regularizer`` is ``None``."""
    y_hat = predict(model, regularizer, data.x_val, batch_size=max(batch_size, 256), device=device)
    return float(((y_hat.double() - data.y_val.double()) ** 2).mean())
