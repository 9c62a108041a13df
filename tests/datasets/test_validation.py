"""Value checks on CSV input: non-finite / float32 overflow, constant target, duplicated header,
and the ``missing_value`` code; each refused with one DataError naming file, column and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.datasets import SeriesData, load_dataset, prepare_windows
from synprune.errors import ConfigError, DataError


def _rows(n: int = 30, **cells: tuple[int, str]) -> str:
    """CSV ``d,y,x`` with ``n`` good rows; ``cells`` = {column: (0-based data row, text)}."""
    df = pd.DataFrame(
        {
            "d": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "y": [f"{1.5 * i + (i % 3)}" for i in range(n)],
            "x": [f"{10 + (i % 4)}" for i in range(n)],
        }
    )
    for col, (row, text) in cells.items():
        df.loc[row, col] = text
    return df.to_csv(index=False)


def _error(tmp_path: Path, text: str, **kw: object) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        load_dataset(f"csv:{path}", target="y", date_column="d", **kw)  # type: ignore[arg-type]
    msg = str(err.value)
    assert msg.startswith(str(path.resolve())) and "\n" not in msg
    return msg.replace(str(path.resolve()), "<file>")


NON_FINITE = {
    # case: (column, 0-based data row -> file line row + 2, cell, expected message end)
    "inf target": ("y", 4, "inf", "value 'inf' is infinite"),
    "-Infinity feature": ("x", 7, "-Infinity", "value '-Infinity' is infinite"),
    "1e300 feature": ("x", 2, "1e300", "value '1e300' exceeds float32 range"),
    "float64 overflow": ("y", 9, "1e400", "value '1e400' exceeds float32 range"),
    "just above float32": ("y", 0, "3.5e38", "value '3.5e38' exceeds float32 range"),
    "negative overflow": ("x", 5, "-4e38", "value '-4e38' exceeds float32 range"),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE))
def test_non_finite_and_overflow_name_column_and_line(tmp_path: Path, case: str) -> None:
    col, row, cell, end = NON_FINITE[case]
    msg = _error(tmp_path, _rows(**{col: (row, cell)}))
    assert msg.startswith(f"<file>: column '{col}', line {row + 2}: {end}"), msg
    if "exceeds" in end:  # a finite number is never called NaN or infinite
        assert not re.search(r"nan|inf", msg.replace(cell, ""), re.IGNORECASE), msg


def test_first_bad_row_wins_and_blank_lines_count(tmp_path: Path) -> None:
    text = _rows(x=(6, "1e300"), y=(3, "inf"))
    msg = _error(tmp_path, text)
    assert "column 'y', line 5:" in msg
    lines = text.splitlines()
    blank = "\n".join([*lines[:3], "", *lines[3:]]) + "\n"  # a blank line at file line 4
    assert "column 'y', line 6:" in _error(tmp_path, blank)


def test_decimal_comma_file_overflow(tmp_path: Path) -> None:
    text = _rows(x=(2, "5e40")).replace(",", ";")
    assert "column 'x', line 4: value '5e40' exceeds float32 range" in _error(tmp_path, text)


def test_builtin_parser_checks_values(tmp_path: Path, shared_data_dir: Path) -> None:
    lines = (shared_data_dir / "AAPL_data.csv").read_text().splitlines()
    fields = lines[9].split(",")  # file line 10: date,open,high,low,close,volume,Name
    fields[2] = "inf"
    lines[9] = ",".join(fields)
    (tmp_path / "AAPL_data.csv").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="sha256"), pytest.raises(DataError) as err:
        load_dataset("aapl", data_dir=tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'AAPL_data.csv'}: column 'high', line 10: value 'inf' is infinite; "
        "values must be finite (leave the cell empty to mark it missing)"
    )


def _retail(days: int = 30) -> pd.DataFrame:
    """The Kaggle retail schema, 2 stores x 2 products per day."""
    n = days * 4
    day = np.repeat(np.arange(days), 4)
    return pd.DataFrame({
        "Date": (pd.Timestamp("2022-01-01") + pd.to_timedelta(day, unit="D")).strftime("%d-%m-%Y"),
        "Store ID": np.tile(["S1", "S1", "S2", "S2"], days),
        "Product ID": np.tile(["P1", "P2"], 2 * days),
        "Inventory Level": 100, "Units Sold": 3.0, "Units Ordered": 5,
        "Demand Forecast": day + np.tile([0.0, 0.5, 1.0, 1.5], days),
        "Price": 10.0, "Discount": 0, "Holiday/Promotion": 0, "Competitor Pricing": 9.5,
        "Category": "Toys", "Region": "N", "Weather Condition": "Sunny", "Seasonality": "Winter",
    }, index=np.arange(n))  # fmt: skip


def test_aggregated_overflow_names_data_row(tmp_path: Path) -> None:
    df = _retail()
    df.loc[df["Date"] == "03-01-2022", "Units Sold"] = 3.0e38  # each fits; the day's sum not
    df.to_csv(tmp_path / "retail_store_inventory.csv", index=False)
    with pytest.raises(DataError, match=r"column 'Units Sold', data row 3 \(1-based\): value "
                       r"'1\.2e\+39' exceeds float32 range"):  # fmt: skip
        load_dataset("retail", data_dir=tmp_path)


def test_constant_target_refused(tmp_path: Path) -> None:
    text = _rows(40)
    df = pd.read_csv(pd.io.common.StringIO(text), dtype=str)
    df.loc[:27, "y"] = "4.0"  # constant over the 28 training rows, varies later
    msg = _error(tmp_path, df.to_csv(index=False))
    assert "target column 'y' is constant (4) over its 28 observed training rows" in msg
    assert "cannot be scaled" in msg
    values = np.stack([np.full(20, 3.0), np.arange(20.0)], axis=1).astype(np.float32)
    data = SeriesData("hand", values, ("y", "c"), None, (14, 16), "<hand>")
    with pytest.raises(DataError, match=r"'hand': target 'y' is constant .*cannot be scaled"):
        prepare_windows(data, 3, 1)


def test_duplicated_header_refused(tmp_path: Path) -> None:
    text = _rows().replace("d,y,x", "d,y,y", 1)
    msg = _error(tmp_path, text)
    assert msg == (
        "<file>: header (line 1) names column 'y' twice (columns 2 and 3); rename one of them"
    )


def test_missing_value_option(tmp_path: Path) -> None:
    text = _rows(40, y=(12, "-200"), x=(30, "-200"))
    path = tmp_path / "coded.csv"
    path.write_text(text)
    plain = load_dataset(f"csv:{path}", target="y")
    assert plain.values[12, 0] == -200 and plain.target_valid is None  # data without the option
    data = load_dataset(f"csv:{path}", target="y", missing_value=-200)
    assert data.values.min() > -200 and np.flatnonzero(~data.target_valid).tolist() == [12]
    assert data.values[12, 0] == data.values[11, 0] and data.values[30, 1] == data.values[29, 1]
    assert any("missing-value code -200" in n and "y 1, x 1" in n for n in data.notes)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "-200", True])
def test_missing_value_must_be_a_finite_number(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"missing_value must be a finite number"):
        load_dataset("csv:/nonexistent.csv", target="y", missing_value=bad)  # type: ignore[arg-type]


def test_missing_value_for_builtins(shared_data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing_value is only for csv:PATH.*'bitcoin'"):
        load_dataset("bitcoin", data_dir=shared_data_dir, missing_value=-1)
    default = load_dataset("air_quality", data_dir=shared_data_dir)
    same = load_dataset("air_quality", data_dir=shared_data_dir, missing_value=-200)
    np.testing.assert_array_equal(default.values, same.values)
    assert any("missing-value code -200" in n for n in default.notes)
