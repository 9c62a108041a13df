"""Evaluation: batched prediction through the regularizer's ``predict`` hook and error metrics
in the target's original units, beside the reference forecasts on the same windows: naive
persistence, seasonal naive and a ridge regression (:class:`References`), and the model's
scale-free errors (sMAPE, MASE as M4 defines them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from synprune.datasets import WindowedData
from synprune.references import fit_linear, mase, seasonal_naive, seasonal_naive_scale, smape
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
) -> tuple[dict[str, float], torch.Tensor]:
    """``{prefix}_mae/_rmse/_mse`` of the model and ``naive_mae/_rmse`` in original units, and
    the model's forecasts ``[N, H]`` in original units (float64).

    ``y`` is scaled (as the model sees it); ``naive`` is already in original units.
    """
    y_hat = predict(model, regularizer, x, batch_size=batch_size, device=device)
    y_hat_orig = y_hat.double() * target_std + target_mean
    y_orig = y.double() * target_std + target_mean
    out = {f"{prefix}_{k}": v for k, v in error_metrics(y_hat_orig, y_orig).items()}
    naive_m = error_metrics(naive.double(), y_orig)
    out["naive_mae"] = naive_m["mae"]
    out["naive_rmse"] = naive_m["rmse"]
    return out, y_hat_orig


@dataclass(frozen=True)
class References:
    """The reference forecasts on a trial's test windows, in original units.

    ``snaive`` / ``linear`` are ``[N, H]``; ``season`` is the cycle the seasonal naive used,
    ``scale`` the MASE scale (in-sample seasonal-naive MAE over the training rows, M4's
    ``masep``; NaN if it cannot be computed), ``notes`` what fell back and why.
    """

    target: np.ndarray  # [N, H]
    window: np.ndarray  # [N] series row of each window's first target
    snaive: np.ndarray
    linear: np.ndarray
    linear_alpha: float
    season: int
    scale: float
    notes: tuple[str, ...] = ()


def _mase_rows(n_train: int, split: tuple[int, int], protocol: str) -> int:
    """End of the in-sample rows of the MASE scale: the training rows of ``protocol`` (paper:
    train + val, its windows' targets; m4: the whole training series, M4's in-sample)."""
    return split[1] if protocol in ("paper", "m4") else n_train


def references(windows: WindowedData, season: int, protocol: str = "leak_free") -> References:
    """Seasonal naive, the ridge reference and the MASE scale for ``windows``' test windows.

    Seasonal naive: test window with first target row ``r`` forecasts step ``h`` with row
    ``r - 1 + h - m * ceil(h / m)`` of the raw series (its inputs may reach before the input
    window when ``m > seq_len``; never after the origin ``r - 1``). The MASE scale is taken
    over the observed training rows; when they are too few for ``season`` (or constant at that
    lag), season 1 is used for the scale and noted.
    """
    data, rows = windows.series, windows.test_rows
    if data is None or rows is None:
        raise ValueError("references need WindowedData.series and test_rows (prepare_windows)")
    notes: list[str] = []
    y = data.values[:, 0].astype(np.float64)
    first = rows.numpy().astype(np.int64)
    horizon = int(windows.y_test.shape[1])
    target = y[first[:, None] + np.arange(horizon)]
    m = int(season)
    if m > 1 and int(first.min()) - m < 0:
        notes.append(f"seasonal naive: season {m} reaches before the first row; season 1 used")
        m = 1
    history = y[(first - m)[:, None] + np.arange(m)]  # the last m observed rows per window
    snaive = seasonal_naive(history, horizon, m)

    end = _mase_rows(data.split[0], data.split, protocol)
    valid = data.target_valid[:end] if data.target_valid is not None else None
    scale = math.nan
    for s in dict.fromkeys((int(season), 1)):
        try:
            scale = seasonal_naive_scale(y[:end], s, valid)
        except ValueError:
            continue
        if scale > 0:
            if s != season:
                notes.append(f"MASE scale: season {season} impossible on {end} rows; season 1")
            break
        scale = math.nan
    std, mean = windows.target_std, windows.target_mean
    fit = fit_linear(
        windows.x_train.double().numpy(),
        windows.y_train.double().numpy(),
        windows.x_val.double().numpy(),
        windows.y_val.double().numpy(),
    )
    linear = fit.predict(windows.x_test.double().numpy()) * std + mean
    return References(target, first, snaive, linear, fit.alpha, int(season), scale, tuple(notes))


def reference_metrics(refs: References, forecast: np.ndarray) -> dict[str, float]:
    """``snaive_mae``, ``linear_mae`` and the model's ``smape`` / ``mase`` on the test windows
    (``forecast``: the model's ``[N, H]`` in original units)."""
    f = np.asarray(forecast, dtype=np.float64)
    y = refs.target
    scaled = math.isfinite(refs.scale)
    return {
        "snaive_mae": float(np.abs(refs.snaive - y).mean()),
        "linear_mae": float(np.abs(refs.linear - y).mean()),
        "smape": smape(y, f),
        "mase": mase(y, f, refs.scale) if scaled else math.nan,
        "linear_alpha": refs.linear_alpha,
        "season": float(refs.season),
    }
