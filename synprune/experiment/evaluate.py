"""Evaluation: batched prediction through the regularizer's ``predict`` hook and error metrics
in the target's original units, beside the naive persistence forecast on the same windows."""

from __future__ import annotations

import torch
from torch import nn

from synprune.regularizers import Regularizer


@torch.no_grad()
def predict(
    model: nn.Module,
    regularizer: Regularizer | None,
    x: torch.Tensor,
    *,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Point forecasts for ``x`` [N, L, C] -> [N, H] (scaled units), on the CPU.

    Goes through ``regularizer.predict`` so MC dropout averages its T passes; with
    ``regularizer=None`` it is one deterministic pass in eval mode (what the training loop
    validates with, so training never depends on how an arm predicts).
    """
    step = regularizer.predict if regularizer is not None else _eval_pass
    outs = [
        step(model, x[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, x.shape[0], batch_size)
    ]
    if not outs:
        raise ValueError("cannot predict on an empty split")
    return torch.cat(outs)


def _eval_pass(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return model(x)
    finally:
        model.train(was_training)


def error_metrics(y_hat: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """MAE, MSE, RMSE averaged over every window and horizon step (float64 accumulation)."""
    err = (y_hat.double() - y.double()).reshape(-1)
    mse = float((err**2).mean())
    return {"mae": float(err.abs().mean()), "mse": mse, "rmse": mse**0.5}


def evaluate_split(
    model: nn.Module,
    regularizer: Regularizer,
    x: torch.Tensor,
    y: torch.Tensor,
    naive: torch.Tensor,
    *,
    target_mean: float,
    target_std: float,
    prefix: str,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """``{prefix}_mae/_rmse/_mse`` of the model and ``naive_mae/_rmse`` in original units.

    ``y`` is scaled (as the model sees it); ``naive`` is already in original units.
    """
    y_hat = predict(model, regularizer, x, batch_size=batch_size, device=device)
    y_hat_orig = y_hat.double() * target_std + target_mean
    y_orig = y.double() * target_std + target_mean
    out = {f"{prefix}_{k}": v for k, v in error_metrics(y_hat_orig, y_orig).items()}
    naive_m = error_metrics(naive.double(), y_orig)
    out["naive_mae"] = naive_m["mae"]
    out["naive_rmse"] = naive_m["rmse"]
    return out
