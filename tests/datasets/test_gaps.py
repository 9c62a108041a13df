"""The gap policy: inputs are filled from the past only; unobserved targets are never scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synprune.datasets import SeriesData, WindowedData, load_dataset, prepare_windows
from synprune.datasets.windows import window_starts

T, (A, B) = 80, (56, 64)  # 70/10/20 split of 80 rows
L, H = 4, 2
MISSING = {
    "y": [10, 11, 12, *range(30, 41), 58, 60, 61, 66, 70, 71, 72, 73],
    "x1": [0, 1, 2, 3, 20, 65, 66, 67, 68],  # leading gap: filled with the train mean
    "x2": [57, 58, 59, 75],
}


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = np.arange(T, dtype=float)
    df = pd.DataFrame(
        {"y": 100.0 + rows, "x1": rng.normal(5, 2, T).round(3), "x2": rng.normal(0, 1, T).round(3)}
    )
    for col, rows_missing in MISSING.items():
        df.loc[rows_missing, col] = np.nan
    return df


def _load(tmp_path: Path, df: pd.DataFrame, name: str = "gaps.csv", **kw: object) -> SeriesData:
    path = tmp_path / name
    df.to_csv(path, index=False, na_rep=kw.pop("na_rep", ""))  # type: ignore[arg-type]
    return load_dataset(f"csv:{path}", target="y", **kw)  # type: ignore[arg-type]


def _starts(data: SeriesData, split: str) -> np.ndarray:
    """Start rows of the windows ``prepare_windows`` keeps for ``split``, in its order."""
    s, e = window_starts(len(data), data.split, L, H)[split]
    starts = np.arange(s, e)
    tv = np.ones(len(data), bool) if data.target_valid is None else data.target_valid
    return starts[tv[starts[:, None] + L + np.arange(H)].all(axis=1)]


def test_fill_values_by_hand(tmp_path: Path) -> None:
    df = _frame()
    data = _load(tmp_path, df)
    assert data.split == (A, B) and data.columns == ("y", "x1", "x2")
    v = data.values
    assert v[10:13, 0].tolist() == [109.0] * 3 and v[30:41, 0].tolist() == [129.0] * 11
    assert v[70:74, 0].tolist() == [169.0] * 4  # test-period gap: last observed value
    train_mean_x1 = df["x1"].iloc[:A].mean()  # skips NaN: observed training rows only
    np.testing.assert_allclose(v[:4, 1], train_mean_x1, rtol=1e-6)
    assert v[65:69, 1].tolist() == [np.float32(df["x1"][64])] * 4
    assert v[57:60, 2].tolist() == [np.float32(df["x2"][56])] * 3
    assert np.flatnonzero(~data.target_valid).tolist() == MISSING["y"]
    assert any("mean over observed training rows" in n and "x1 4" in n for n in data.notes)


def test_no_input_depends_on_a_later_value(tmp_path: Path) -> None:
    """Perturb every observed value after row t; nothing at or before t may change."""
    df = _frame()
    base = _load(tmp_path, df)
    w0 = prepare_windows(base, L, H)
    for t in range(A - 1, T - 1):
        later = df.copy()
        later.iloc[t + 1 :] = later.iloc[t + 1 :] * 3.0 + 1000.0  # NaN stays missing
        data = _load(tmp_path, later, name=f"later_{t}.csv")
        np.testing.assert_array_equal(data.values[: t + 1], base.values[: t + 1], err_msg=str(t))
        assert not np.array_equal(data.values[t + 1 :], base.values[t + 1 :])
        w = prepare_windows(data, L, H)
        assert (w.target_mean, w.target_std) == (w0.target_mean, w0.target_std)
        for split in ("val", "test"):
            early = _starts(base, split) + L - 1 <= t  # windows whose inputs end by row t
            for field in ("x", "naive"):
                got, ref = getattr(w, f"{field}_{split}"), getattr(w0, f"{field}_{split}")
                assert torch.equal(got[early], ref[early]), (t, split, field)


def _target_rows(w: WindowedData, split: str) -> torch.Tensor:
    y = getattr(w, f"y_{split}").double() * w.target_std + w.target_mean
    return torch.round(y - 100.0).long()  # y = 100 + row where observed


def test_no_filled_target_is_scored(tmp_path: Path) -> None:
    data = _load(tmp_path, _frame())
    w = prepare_windows(data, L, H)
    # test: targets (r, r+1) for r in 64..78, none of 66, 70..73 -> r in 64,67,68,74..78
    assert len(w.y_test) == len(w.naive_test) == 8
    torch.testing.assert_close(
        _target_rows(w, "test")[:, 0], torch.tensor([64, 67, 68, 74, 75, 76, 77, 78])
    )
    missing = torch.tensor(MISSING["y"])
    for split in ("train", "val", "test"):
        rows = _target_rows(w, split)
        assert not torch.isin(rows, missing).any(), split
        assert (
            len(rows)
            == len(_starts(data, split))
            < np.diff(window_starts(T, data.split, L, H)[split]).item()
        )
    # train windows with a filled target are dropped too: of 51, 4 touch rows 10..12, 12 rows 30..40
    assert len(w.y_train) == 51 - (3 + 1) - (11 + 1)


def test_missing_value_code_equals_empty_cells(tmp_path: Path) -> None:
    empty = _load(tmp_path, _frame())
    coded = _load(tmp_path, _frame(), name="coded.csv", na_rep="-999", missing_value=-999)
    np.testing.assert_array_equal(coded.values, empty.values)
    np.testing.assert_array_equal(coded.target_valid, empty.target_valid)
    assert any("missing-value code -999" in n and "y 22" in n for n in coded.notes)


def test_covariate_missing_in_most_training_rows_is_dropped(tmp_path: Path) -> None:
    df = _frame()
    df["late"] = np.where(np.arange(T) < 40, np.nan, 1.0 * np.arange(T))  # 71% of train
    data = _load(tmp_path, df)
    assert "late" not in data.columns
    assert any("'late' (71% of train missing)" in n for n in data.notes)


def test_complete_series_has_no_mask(tmp_path: Path) -> None:
    df = _frame().ffill().bfill()
    data = _load(tmp_path, df)
    assert data.target_valid is None and not any("fill" in n for n in data.notes)


def test_air_quality_test_inputs_ignore_later_values(tmp_path: Path, shared_data_dir: Path):
    """The real file: perturb every measurement after row t (val, test); rows <= t unchanged."""
    src = shared_data_dir / "AirQualityUCI.csv"
    raw = pd.read_csv(src, sep=";", dtype=str, keep_default_na=False)
    base = load_dataset("air_quality", data_dir=shared_data_dir)
    a, b = base.split
    value_cols = [c for c in raw.columns if c not in ("Date", "Time") and c.strip()]
    inside_gap = np.flatnonzero(~base.target_valid[:-1] & ~base.target_valid[1:])
    # t inside a CO(GT) gap that continues after t: interpolation would read rows > t
    for t in (inside_gap[inside_gap >= a][0], inside_gap[inside_gap >= b][0]):
        df = raw.copy()
        block = df.loc[t + 1 :, value_cols]
        num = block.apply(lambda s: pd.to_numeric(s.str.replace(",", "."), errors="coerce"))
        changed = num.where(num == -200, num * 1.5 + 7)  # keep the missing code -200
        df.loc[t + 1 :, value_cols] = changed.map(
            lambda x: "" if pd.isna(x) else f"{x:g}".replace(".", ",")
        ).where(num.notna(), block)
        (tmp_path / "AirQualityUCI.csv").write_text(
            df.to_csv(sep=";", index=False, lineterminator="\r\n")
        )
        with pytest.warns(UserWarning, match="sha256"):
            data = load_dataset("air_quality", data_dir=tmp_path)
        assert data.split == base.split
        np.testing.assert_array_equal(data.values[: t + 1], base.values[: t + 1])
        np.testing.assert_array_equal(data.target_valid, base.target_valid)
        assert not np.array_equal(data.values[t + 1 :], base.values[t + 1 :])
