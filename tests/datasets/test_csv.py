"""csv:PATH for user files, and every bad input named by file, column and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synprune.datasets import load_dataset, prepare_windows
from synprune.errors import ConfigError, DataError


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _good_rows(n: int, sep: str = ",", decimal: str = ".") -> str:
    lines = [sep.join(["when", "load", "temp", "site"])]
    for i in range(n):
        y = f"{i * 1.5:.1f}".replace(".", decimal)
        t = f"{20 + i % 3}.25".replace(".", decimal)
        lines.append(sep.join([f"2021-01-{1 + i // 24:02d} {i % 24:02d}:00", y, t, "A"]))
    return "\n".join(lines) + "\n"


def test_csv_path_comma(tmp_path: Path) -> None:
    path = _write(tmp_path, _good_rows(40))
    data = load_dataset(f"csv:{path}", target="temp", date_column="when")
    assert data.name == f"csv:{path.resolve()}" and data.source == str(path.resolve())
    assert data.columns == ("temp", "load")  # text column 'site' dropped (noted)
    assert any("'site'" in n for n in data.notes)
    assert data.values.shape == (40, 2) and data.split == (28, 32)
    assert data.values[1].tolist() == [21.25, 1.5]
    assert str(data.timestamps[25]) == "2021-01-02T01:00:00.000000000"


@pytest.mark.parametrize(("sep", "decimal"), [(";", ","), ("\t", "."), ("\t", ",")])
def test_csv_path_delimiters_and_decimal_comma(tmp_path: Path, sep: str, decimal: str) -> None:
    path = _write(tmp_path, _good_rows(30, sep, decimal))
    data = load_dataset(f"csv:{path}", target="load")
    assert data.timestamps is None and data.columns == ("load", "temp")
    np.testing.assert_allclose(data.values[:, 0], np.arange(30) * 1.5)
    assert data.values[2, 1] == np.float32(22.25)


def test_csv_gaps_filled_from_the_past_and_not_scored(tmp_path: Path) -> None:
    rows = ["t,y,x"] + [f"{i},{'' if i in (5, 6) else i},{i * 2}" for i in range(30)]
    data = load_dataset(f"csv:{_write(tmp_path, chr(10).join(rows))}", target="y")
    assert data.values[4:8, 0].tolist() == [4.0, 4.0, 4.0, 7.0]  # last observation carried
    assert np.flatnonzero(~data.target_valid).tolist() == [5, 6]
    assert any("from the past only" in n for n in data.notes)
    assert not any("interpolat" in n for n in data.notes)


def test_csv_needs_target() -> None:
    with pytest.raises(ConfigError, match="target"):
        load_dataset("csv:/tmp/whatever.csv")


BAD = {
    "missing target column": ("d,a,b\n2020-01-01,1,2\n", "y", r"no column 'y'; available: d, a, b"),
    "non-numeric target": (
        "d,y\n2020-01-01,1\n2020-01-02,2\n2020-01-03,oops\n", "y",
        r"column 'y' is not numeric: line 4 holds 'oops'",
    ),
    "unparsable date": (
        "d,y\n2020-01-01,1\n2020-01-02,2\nnot a date,3\n", "y",
        r"column 'd': unparsable date 'not a date' at line 4",
    ),
    "duplicated date": (
        "d,y\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n", "y",
        r"column 'd': date '2020-01-02' at line 4 is duplicated",
    ),
    "unsorted date": (
        "d,y\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n", "y",
        r"column 'd': date '2020-01-02' at line 4 is out of order",
    ),
    "all-missing column": (
        "d,y,x\n2020-01-01,1,\n2020-01-02,2,\n2020-01-03,3,\n", "y",
        r"column 'x' has no values",
    ),
    "empty date": ("d,y\n2020-01-01,1\n,2\n", "y", r"column 'd' has an empty date at line 3"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_column_line(tmp_path: Path, case: str) -> None:
    text, target, pattern = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=pattern) as err:
        load_dataset(f"csv:{path}", target=target, date_column="d")
    assert str(path.resolve()) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match=r"absent\.csv: file not found"):
        load_dataset(f"csv:{path}", target="y")


def test_series_too_short_for_windows(tmp_path: Path) -> None:
    rows = ["y"] + [str(i) for i in range(20)]  # split 14 / 2 / 4
    data = load_dataset(f"csv:{_write(tmp_path, chr(10).join(rows))}", target="y")
    with pytest.raises(DataError, match=r"data\.csv.*val split has 2 target rows.*at least 3"):
        prepare_windows(data, seq_len=5, horizon=3)
