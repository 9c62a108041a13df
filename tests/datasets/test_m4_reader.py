"""The raw M4 reader: the real Hourly files, and one clear error per malformed file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synprune.datasets.m4 import M4_FILES, M4_HOURLY, locate_m4, read_m4, read_m4_series
from synprune.errors import DataError, FieldError


def test_real_hourly_files(m4_dir: Path) -> None:
    table = read_m4("hourly", data_dir=m4_dir)
    assert M4_HOURLY == {"horizon": 48, "season": 24}
    assert len(table) == 414
    assert list(table)[:3] == ["H1", "H2", "H3"] and list(table)[-1] == "H414"
    lengths = np.array([len(tr) for tr, _ in table.values()])
    assert lengths.min() == 700 and lengths.max() == 960
    assert {len(te) for _, te in table.values()} == {48}
    train, test = table["H1"]
    assert train.dtype == np.float64 and not train.flags.writeable
    # First and last cells of row H1 in Hourly-train.csv / Hourly-test.csv (read by eye).
    assert train[:4].tolist() == [605.0, 586.0, 586.0, 559.0]
    assert test[:3].tolist() == [619.0, 565.0, 532.0]
    assert np.isfinite(np.concatenate([np.concatenate(p) for p in table.values()])).all()
    # Cached per process: the same arrays come back, in a fresh dict.
    again = read_m4("hourly", data_dir=m4_dir)
    assert again is not table and again["H1"][0] is train
    assert read_m4_series("H1", data_dir=m4_dir)[0] is train


def test_unknown_series_and_frequency(m4_dir: Path) -> None:
    with pytest.raises(FieldError, match=r"series='H999'.*H1\.\.H414 \(414 series\)"):
        read_m4_series("H999", data_dir=m4_dir)
    with pytest.raises(FieldError, match=r"frequency='daily'.*hourly"):
        read_m4("daily", data_dir=m4_dir)


def _write(folder: Path, train_rows: list[list[str]], test_rows: list[list[str]]) -> None:
    for part, rows in (("train", train_rows), ("test", test_rows)):
        width = max(len(r) for r in rows)
        header = ",".join(f'"V{i + 1}"' for i in range(width))
        body = [",".join(r + [""] * (width - len(r))) for r in rows]
        (folder / M4_FILES[("hourly", part)].filename).write_text("\n".join([header, *body]) + "\n")


def _test_row(sid: str) -> list[str]:
    return [f'"{sid}"', *[str(v) for v in range(1, 49)]]


def _read(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with pytest.warns(UserWarning, match="sha256 differs"):
        return read_m4("hourly", data_dir=folder)


def test_small_valid_file_ragged_rows(tmp_path: Path) -> None:
    _write(
        tmp_path,
        [['"H1"', "1", "2", "3"], ['"H2"', "4.5", "5"]],
        [_test_row("H1"), _test_row("H2")],
    )
    table = _read(tmp_path)
    assert table["H1"][0].tolist() == [1.0, 2.0, 3.0]
    assert table["H2"][0].tolist() == [4.5, 5.0]
    assert table["H2"][1].tolist() == list(range(1, 49))


@pytest.mark.parametrize(
    ("train", "test", "message"),
    [
        ([['"H1"', "1", "x", "3"]], None, r"m4_hourly_train\.csv: line 2, column V3: 'x' is not"),
        ([['"H1"', "1", "2"], ['"H2"', "1", "inf"]], None, r"train\.csv: line 3, column V3"),
        ([['"H1"', "1", "", "3"]], None, r"train\.csv: line 2: empty cell in column V3"),
        ([['"H1"', "1"], ['"H1"', "2"]], None, r"train\.csv: line 3: series id H1 appears twice"),
        ([['"H1"', "1"]], [['"H1"', "1", "2"]], r"test\.csv: line 2: series H1 has 2 test values"),
        ([['"H1"', "1"]], [_test_row("H2")], r"test\.csv: line 2: series ids differ"),
        ([['"H1"', "1"], ['"H2"', "1"]], [_test_row("H1")], r"test\.csv: line 3: series ids"),
    ],
)
def test_bad_file_names_file_and_line(
    tmp_path: Path, train: list[list[str]], test: list[list[str]] | None, message: str
) -> None:
    ids = [r[0].strip('"') for r in train]
    _write(tmp_path, train, test or [_test_row(i) for i in dict.fromkeys(ids)])
    with pytest.raises(DataError, match=message):
        _read(tmp_path)


def test_missing_file_downloads_from_mirror_and_checks_sha(
    tmp_path: Path, serve_dir: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = serve_dir
    (served / "m4_hourly_train.csv").write_text('"V1","V2"\n"H1",1\n')
    monkeypatch.setenv("SYNPRUNE_DATA_URL", base)
    with pytest.raises(DataError, match=r"sha256 mismatch.*download .*Hourly-train\.csv by hand"):
        locate_m4("hourly", "train", data_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "m4_hourly_train.csv").exists()
