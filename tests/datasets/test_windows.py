"""Windows, splits, scaling and the naive forecast on hand-computed examples; leakage."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from synprune.datasets import SeriesData, load_dataset, prepare_windows
from synprune.datasets.scaling import StandardScaler
from synprune.datasets.splits import ett_hourly_split, ratio_split
from synprune.errors import DataError


def _series(values: np.ndarray, split: tuple[int, int], valid=None) -> SeriesData:
    return SeriesData(
        name="hand", values=values.astype(np.float32), columns=("y", "c"), timestamps=None,
        split=split, source="<hand>", target_valid=valid,
    )  # fmt: skip


def test_hand_example_exact_tensors() -> None:
    # 10 rows, target 0..9, constant covariate 7; train [0,6) val [6,8) test [8,10)
    values = np.stack([np.arange(10.0), np.full(10, 7.0)], axis=1)
    w = prepare_windows(_series(values, (6, 8)), seq_len=3, horizon=2)
    mean, std = 2.5, math.sqrt(17.5 / 6)  # population std of 0..5
    assert w.target_mean == pytest.approx(mean) and w.target_std == pytest.approx(std)

    def sc(rows: list[float]) -> torch.Tensor:
        return (torch.tensor(rows, dtype=torch.float64) - mean) / std

    # train: targets [3,4] and [4,5]; val: inputs 3..5 -> targets 6,7; test: inputs 5..7 -> 8,9
    assert w.x_train.shape == (2, 3, 2) and w.y_train.shape == (2, 2)
    torch.testing.assert_close(
        w.x_train[:, :, 0].double(), torch.stack([sc([0, 1, 2]), sc([1, 2, 3])])
    )
    torch.testing.assert_close(w.y_train.double(), torch.stack([sc([3, 4]), sc([4, 5])]))
    torch.testing.assert_close(w.x_val[:, :, 0].double(), sc([3, 4, 5])[None])
    torch.testing.assert_close(w.y_val.double(), sc([6, 7])[None])
    torch.testing.assert_close(w.x_test[:, :, 0].double(), sc([5, 6, 7])[None])
    torch.testing.assert_close(w.y_test.double(), sc([8, 9])[None])
    # constant covariate: std guarded to 1, centred on its train mean -> zeros
    assert torch.equal(w.x_train[:, :, 1], torch.zeros(2, 3))
    # naive persistence in original units: last input target repeated H times
    assert torch.equal(w.naive_val, torch.tensor([[5.0, 5.0]]))
    assert torch.equal(w.naive_test, torch.tensor([[7.0, 7.0]]))
    torch.testing.assert_close(w.y_test * w.target_std + w.target_mean, torch.tensor([[8.0, 9.0]]))
    for t in (w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, w.y_test, w.naive_test):
        assert t.dtype == torch.float32 and t.is_contiguous()


def test_naive_forecast_horizon_one() -> None:
    values = np.stack([np.array([5, 1, 4, 2, 8, 3, 9, 0, 6, 7.0]), np.zeros(10)], axis=1)
    w = prepare_windows(_series(values, (5, 7)), seq_len=2, horizon=1)
    # val targets rows 5,6 -> last inputs rows 4,5; test targets rows 7,8,9 -> rows 6,7,8
    assert w.naive_val.squeeze(1).tolist() == [8.0, 3.0]
    assert w.naive_test.squeeze(1).tolist() == [9.0, 0.0, 6.0]
    y_val = w.y_val * w.target_std + w.target_mean
    torch.testing.assert_close(y_val.squeeze(1), torch.tensor([3.0, 9.0]))


def test_targets_never_cross_a_boundary() -> None:
    n, (a, b) = 50, (30, 40)
    values = np.stack([np.arange(n, dtype=float), np.ones(n)], axis=1)
    w = prepare_windows(_series(values, (a, b)), seq_len=7, horizon=4)

    def rows(y: torch.Tensor) -> torch.Tensor:  # recover row indices of the targets
        return torch.round(y.double() * w.target_std + w.target_mean)

    assert rows(w.y_train).max() < a and len(w.y_train) == a - 7 - 4 + 1
    assert rows(w.y_val).min() >= a and rows(w.y_val).max() < b and len(w.y_val) == b - a - 4 + 1
    assert rows(w.y_test).min() >= b and len(w.y_test) == n - b - 4 + 1
    # val inputs reach back into train
    assert rows(w.x_val[:1, :, 0]).min() == a - 7


def test_leakage_test_period_changes_nothing_before_it(shared_data_dir: Path) -> None:
    data = load_dataset("bitcoin", data_dir=shared_data_dir)
    _, b = data.split
    changed = data.values.copy()
    changed[b:] = changed[b:] * 100 + 12345
    other = replace(data, values=changed)
    w1, w2 = prepare_windows(data, 14, 3), prepare_windows(other, 14, 3)
    assert (w1.target_mean, w1.target_std) == (w2.target_mean, w2.target_std)
    for field in ("x_train", "y_train", "x_val", "y_val", "naive_val"):
        assert torch.equal(getattr(w1, field), getattr(w2, field)), field
    assert not torch.equal(w1.y_test, w2.y_test)
    # and the scaler statistics of every column come from train rows only
    a, _ = data.split
    s1, s2 = StandardScaler.fit(data.values[:a]), StandardScaler.fit(other.values[:a])
    np.testing.assert_array_equal(s1.mean, s2.mean)
    np.testing.assert_array_equal(s1.std, s2.std)


def test_windows_with_imputed_targets_are_dropped() -> None:
    n = 40
    values = np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)
    valid = np.ones(n, dtype=bool)
    valid[33] = False  # a test-period target row imputed across a long gap
    w = prepare_windows(_series(values, (20, 30), valid), seq_len=3, horizon=2)
    full = prepare_windows(_series(values, (20, 30)), seq_len=3, horizon=2)
    assert len(w.y_test) == len(full.y_test) - 2  # windows with targets (32,33) and (33,34)
    rows = torch.round(w.y_test * w.target_std + w.target_mean)
    assert not (rows == 33).any() and len(w.naive_test) == len(w.y_test)


def test_too_short_names_split_and_rows() -> None:
    values = np.stack([np.arange(20.0), np.zeros(20)], axis=1)
    with pytest.raises(
        DataError, match=r"val split has 2 target rows \[14, 16\).*needs at least 3"
    ):
        prepare_windows(_series(values, (14, 16)), seq_len=4, horizon=3)
    with pytest.raises(DataError, match=r"'hand'.*train split has 14 target rows.*at least 15"):
        prepare_windows(_series(values, (14, 16)), seq_len=12, horizon=3)


def test_bad_window_args() -> None:
    from synprune.errors import ConfigError

    values = np.stack([np.arange(20.0), np.zeros(20)], axis=1)
    with pytest.raises(ConfigError, match="seq_len"):
        prepare_windows(_series(values, (14, 16)), seq_len=0, horizon=1)


def test_ratio_and_ett_splits() -> None:
    assert ratio_split(100) == (70, 80)
    assert ratio_split(7588) == (5311, 6071)  # LTSF: int(0.7T), T - int(0.2T)
    assert ett_hourly_split() == (8640, 11520, 14400)
    with pytest.raises(ValueError):
        ratio_split(100, 0.5, 0.5, 0.5)


def test_scaler_guard_and_roundtrip() -> None:
    rows = np.array([[1.0, 3.0], [3.0, 3.0]])
    s = StandardScaler.fit(rows)
    assert s.mean.tolist() == [2.0, 3.0] and s.std.tolist() == [1.0, 1.0]
    x = s.transform(np.array([[5.0, 4.0]]))
    assert x.dtype == np.float32 and x.tolist() == [[3.0, 1.0]]
    assert s.inverse(x[:, 0], column=0).tolist() == [5.0]


def test_random_windows_match_row_slices() -> None:
    values = np.random.default_rng(0).standard_normal((5_000, 3))
    data = _series(values[:, :2], (3_500, 4_000))
    w = prepare_windows(data, seq_len=48, horizon=6)
    scaled = StandardScaler.fit(data.values[:3_500]).transform(data.values)
    assert w.x_train.shape == (3_500 - 54 + 1, 48, 2)
    for i in (0, 1234, len(w.x_train) - 1):
        np.testing.assert_allclose(w.x_train[i].numpy(), scaled[i : i + 48], rtol=1e-6)
        np.testing.assert_allclose(w.y_train[i].numpy(), scaled[i + 48 : i + 54, 0], rtol=1e-6)
    j = 17  # test window j starts at row b - L + j
    start = 4_000 - 48 + j
    np.testing.assert_allclose(w.x_test[j].numpy(), scaled[start : start + 48], rtol=1e-6)
    assert w.naive_test[j, 0].item() == data.values[start + 47, 0]
