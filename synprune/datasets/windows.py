"""Split, scale and window a ``SeriesData`` into the tensors the training loop uses.

Window ``i`` reads input rows ``[i, i + L)`` and forecasts target rows ``[i + L, i + L + H)``.
It belongs to the split that holds *all* its target rows (windows whose targets straddle a
boundary are dropped); its inputs may reach back into earlier splits (val/test windows look
back into train/val), never forward.

``protocol`` (``PROTOCOLS``; the spec's ``TrialSpec.protocol``) decides which rows are which,
with ``SeriesData.split = (a, b)`` and ``T`` rows:

* ``leak_free`` (default): train targets ``[0, a)``, val ``[a, b)``, test ``[b, T)``; the
  scaler is fit on the training rows ``[0, a)`` only, so nothing from val or test leaks into
  training, and nothing from test into val.
* ``m4`` (M4 datasets, see ``m4_series``): the same rows and scaler as ``leak_free`` on the M4
  layout ``a = n_train - H``, ``b = n_train``, ``T = n_train + H``: the test is exactly the
  official ``H`` points after the training series (one forecast origin: the input window is the
  last ``L`` training points), validation is the last ``H`` training points (one origin, before
  them), training windows end before the validation targets, and the scaler is fit on
  ``[0, a)``: neither the validation nor the test points. ``horizon`` must equal ``T - b``.
* ``paper``: what the paper's code did, kept to show what it changes. The scaler is fit on
  *every* row ``[0, T)``; train targets ``[0, b)`` (train + val: the first 80 % with the
  default 70/10/20 split); val and test are *the same* windows, targets ``[b, T)`` (the last
  20 %), so the rows that drive early stopping are the rows reported as test
  (``x_val is x_test``). Test rows are those of ``leak_free``.

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
    """Model-ready windows; all tensors float32, scaled with the protocol's scaler (train-only
    statistics unless ``protocol="paper"``).

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
    #: the series these windows were cut from and, per test window, the row of its first
    #: target: the reference forecasters (seasonal naive, the MASE scale) read the raw series
    #: through them
    series: SeriesData | None = None
    test_rows: torch.Tensor | None = None


#: the data protocols (``TrialSpec.protocol``); see the module docstring
PROTOCOLS = ("leak_free", "paper", "m4")


@dataclass(frozen=True)
class Layout:
    """Target-row ranges ``[lo, hi)`` per split, and the rows the scaler is fit on."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    scaler: tuple[int, int]

    def rows(self, split_name: str) -> tuple[int, int]:
        return {"train": self.train, "val": self.val, "test": self.test}[split_name]


def split_layout(n_rows: int, split: tuple[int, int], protocol: str | None = "leak_free") -> Layout:
    """Which target rows train, val and test hold, and which rows fit the scaler
    (``protocol=None``: ``leak_free``)."""
    protocol = protocol or "leak_free"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    a, b = split
    if protocol == "paper":  # scaler on everything; val and test the same last rows
        return Layout(train=(0, b), val=(b, n_rows), test=(b, n_rows), scaler=(0, n_rows))
    return Layout(train=(0, a), val=(a, b), test=(b, n_rows), scaler=(0, a))


def window_starts(
    n_rows: int,
    split: tuple[int, int],
    seq_len: int,
    horizon: int,
    protocol: str | None = "leak_free",
) -> dict[str, tuple[int, int]]:
    """Half-open ranges of window start rows per split (may be empty: start >= stop).

    A window starting at ``i`` has targets ``[i + L, i + L + H)``; it is in a split whose
    target rows are ``[lo, hi)`` iff ``lo <= i + L`` and ``i + L + H <= hi``.
    """
    layout = split_layout(n_rows, split, protocol)
    w = seq_len + horizon
    return {
        name: (max(lo - seq_len, 0), hi - w + 1)
        for name, (lo, hi) in (("train", layout.train), ("val", layout.val), ("test", layout.test))
    }


def _check_target_varies(data: SeriesData, rows: tuple[int, int]) -> None:
    """A target constant over the observed rows the scaler sees cannot be scaled: refuse it."""
    lo, hi = rows
    y = data.values[lo:hi, 0].astype(np.float64)
    if data.target_valid is not None:
        y = y[data.target_valid[lo:hi]]
    if y.size == 0 or float(y.std()) <= MIN_STD:
        raise DataError(
            f"{data.source}: dataset {data.name!r}: target {data.target!r} is constant over "
            f"its {y.size} observed scaler rows [{lo}, {hi}) (std 0): it cannot be scaled"
        )


def prepare_windows(
    data: SeriesData, seq_len: int, horizon: int, protocol: str | None = "leak_free"
) -> WindowedData:
    """Chronological split -> scaling -> strided windows -> naive forecasts, by ``protocol``
    (module docstring; ``leak_free``: train-only scaling, disjoint val and test).

    Raises ``DataError`` naming the split, the rows it has and the rows it needs when a split
    gets no window (series too short for ``seq_len + horizon``), and under ``m4`` when the test
    part is not exactly ``horizon`` rows.
    """
    for arg, val in (("seq_len", seq_len), ("horizon", horizon)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < 1:
            raise ConfigError(f"{arg} must be an integer >= 1, got {val!r}")
    seq_len, horizon = int(seq_len), int(horizon)
    protocol = protocol or "leak_free"
    n_rows, n_cols = data.values.shape
    layout = split_layout(n_rows, data.split, protocol)
    w = seq_len + horizon
    if protocol == "m4" and n_rows - data.split[1] != horizon:
        raise DataError(
            f"{data.source}: dataset {data.name!r}: protocol m4 forecasts the whole test part "
            f"from one origin, so horizon must be its {n_rows - data.split[1]} rows, got "
            f"{horizon}"
        )

    _check_target_varies(data, layout.scaler)
    scaler = StandardScaler.fit(data.values[slice(*layout.scaler)])
    scaled = torch.from_numpy(scaler.transform(data.values))  # [T, C] float32
    original_target = torch.tensor(data.values[:, 0])  # a copy: values may be read-only

    ranges = window_starts(n_rows, data.split, seq_len, horizon, protocol)
    if data.target_valid is not None and ranges["test"][1] > 0:
        # valid_window[i]: every target row i+L .. i+L+H-1 holds an observed value
        tv = torch.tensor(data.target_valid[seq_len:]).unfold(0, horizon, 1)
        valid_window = tv.all(dim=1)
    else:
        valid_window = None

    windows = scaled.unfold(0, w, 1).permute(0, 2, 1) if n_rows >= w else None  # [N, W, C]
    out: dict[str, torch.Tensor] = {}
    for split_name, (start, stop) in ranges.items():
        if protocol == "paper" and split_name == "val":
            continue  # the very same windows as test, filled in below
        lo, hi = layout.rows(split_name)
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
        if split_name == "test":
            out["test_rows"] = idx + seq_len
    if protocol == "paper":  # early stopping on the reported test rows, as the paper's code
        out.update(x_val=out["x_test"], y_val=out["y_test"], naive_val=out["naive_test"])

    return WindowedData(
        **out,
        target_mean=float(scaler.mean[0]),
        target_std=float(scaler.std[0]),
        n_features=int(n_cols),
        series=data,
    )
