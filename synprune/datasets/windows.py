"""Split, scale and window a ``SeriesData`` into the tensors the training loop uses.

Window ``i`` reads input rows ``[i, i + L)`` and forecasts target rows ``[i + L, i + L + H)``.
It belongs to the split that holds *all* its target rows (windows whose targets straddle a
boundary are dropped); its inputs may reach back into earlier splits (val/test windows look
back into train/val), never forward. Scalers are fit on the training rows ``[0, a)`` only, so
nothing from val or test leaks into training, and nothing from test into val.

Windows whose target rows include a row with ``SeriesData.target_valid == False`` (a target
that was not observed and was filled by the gap policy) are dropped from train, val and test
alike: no model is fitted to, early-stopped on or scored on a filled target. The naive
forecast reads the last *input* target, which the gap policy filled from the past only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from synprune.datasets.scaling import MIN_STD, StandardScaler
from synprune.datasets.series import SeriesData
from synprune.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class WindowedData:
    """Model-ready windows; all tensors float32, scaled with train-only statistics.

    ``x_*`` is ``[N, L, C]`` (channel 0 the target), ``y_*`` is ``[N, H]`` (scaled target);
    ``y_original = y * target_std + target_mean``. ``naive_val`` / ``naive_test`` are the
    persistence forecasts (last input target value repeated H times) in ORIGINAL units, for the
    same windows as ``y_val`` / ``y_test``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    target_mean: float
    target_std: float
    naive_val: torch.Tensor
    naive_test: torch.Tensor
    n_features: int


def window_starts(
    n_rows: int, split: tuple[int, int], seq_len: int, horizon: int
) -> dict[str, tuple[int, int]]:
    """Half-open ranges of window start rows per split (may be empty: start >= stop)."""
    a, b = split
    w = seq_len + horizon
    # train: last target row < a;  val: first >= a, last < b;  test: first >= b, last < T.
    return {
        "train": (0, a - w + 1),
        "val": (max(a - seq_len, 0), b - w + 1),
        "test": (max(b - seq_len, 0), n_rows - w + 1),
    }


def _split_rows(name: str, n_rows: int, split: tuple[int, int]) -> tuple[int, int]:
    a, b = split
    return {"train": (0, a), "val": (a, b), "test": (b, n_rows)}[name]


def _check_target_varies(data: SeriesData) -> None:
    """A target constant over its observed training rows cannot be scaled: refuse it."""
    a = data.split[0]
    y = data.values[:a, 0].astype(np.float64)
    if data.target_valid is not None:
        y = y[data.target_valid[:a]]
    if y.size == 0 or float(y.std()) <= MIN_STD:
        raise DataError(
            f"{data.source}: dataset {data.name!r}: target {data.target!r} is constant over "
            f"its {y.size} observed training rows [0, {a}) (train std 0): it cannot be scaled"
        )


def prepare_windows(data: SeriesData, seq_len: int, horizon: int) -> WindowedData:
    """Chronological split -> train-only scaling -> strided windows -> naive forecasts.

    Raises ``DataError`` naming the split, the rows it has and the rows it needs when a split
    gets no window (series too short for ``seq_len + horizon``).
    """
    for arg, val in (("seq_len", seq_len), ("horizon", horizon)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < 1:
            raise ConfigError(f"{arg} must be an integer >= 1, got {val!r}")
    seq_len, horizon = int(seq_len), int(horizon)
    n_rows, n_cols = data.values.shape
    a = data.split[0]
    w = seq_len + horizon

    _check_target_varies(data)
    scaler = StandardScaler.fit(data.values[:a])
    scaled = torch.from_numpy(scaler.transform(data.values))  # [T, C] float32
    original_target = torch.tensor(data.values[:, 0])  # a copy: values may be read-only

    ranges = window_starts(n_rows, data.split, seq_len, horizon)
    if data.target_valid is not None and ranges["test"][1] > 0:
        # valid_window[i]: every target row i+L .. i+L+H-1 holds an observed value
        tv = torch.tensor(data.target_valid[seq_len:]).unfold(0, horizon, 1)
        valid_window = tv.all(dim=1)
    else:
        valid_window = None

    windows = scaled.unfold(0, w, 1).permute(0, 2, 1) if n_rows >= w else None  # [N, W, C]
    out: dict[str, torch.Tensor] = {}
    for split_name, (start, stop) in ranges.items():
        lo, hi = _split_rows(split_name, n_rows, data.split)
        keep = None
        if stop > start and valid_window is not None:
            keep = valid_window[start:stop]
        n_windows = max(stop - start, 0) if keep is None else int(keep.sum())
        if n_windows == 0 or windows is None:
            need = w if split_name == "train" else horizon
            masked = "" if keep is None else " (after dropping windows with unobserved targets)"
            raise DataError(
                f"{data.source}: dataset {data.name!r} is too short for seq_len {seq_len} + "
                f"horizon {horizon}: the {split_name} split has {hi - lo} target rows "
                f"[{lo}, {hi}) and needs at least {need} (with {seq_len} input rows before "
                f"them) for one window{masked}"
            )
        win = windows[start:stop]
        idx = torch.arange(start, stop)
        if keep is not None:
            win, idx = win[keep], idx[keep]
        out[f"x_{split_name}"] = win[:, :seq_len, :].contiguous()
        out[f"y_{split_name}"] = win[:, seq_len:, 0].contiguous()
        if split_name != "train":
            last = original_target[idx + seq_len - 1]  # last observed target, original units
            out[f"naive_{split_name}"] = last[:, None].expand(-1, horizon).contiguous()

    return WindowedData(
        **out,
        target_mean=float(scaler.mean[0]),
        target_std=float(scaler.std[0]),
        n_features=int(n_cols),
    )
