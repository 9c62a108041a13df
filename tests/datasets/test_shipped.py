"""Every shipped dataset parses from the real files with the documented rows, columns, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synprune.datasets import list_datasets, load_dataset, prepare_windows
from synprune.datasets.sources import SOURCES, sha256_file

# name -> (rows after parsing, target, n features, split)
EXPECTED = {
    "bitcoin": (365, "close", 5, (255, 292)),
    "aapl": (1259, "close", 5, (881, 1008)),
    "air_quality": (9357, "CO(GT)", 12, (6549, 7486)),
    "etth1": (14400, "OT", 7, (8640, 11520)),  # 12/4/4 months; 3020 of 17420 rows unused
    "exchange_rate": (7588, "OT", 8, (5311, 6071)),  # 7:1:2 as int(0.7 T), int(0.2 T)
}


def test_registry_names() -> None:
    expected = {"bitcoin", "aapl", "air_quality", "retail", "etth1", "exchange_rate", "synthetic"}
    assert expected <= set(list_datasets())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_dataset_parses(name: str, shared_data_dir: Path) -> None:
    rows, target, n_cols, split = EXPECTED[name]
    assert sha256_file(shared_data_dir / SOURCES[name].filename) == SOURCES[name].sha256
    data = load_dataset(name, data_dir=shared_data_dir)
    assert data.values.shape == (rows, n_cols)
    assert data.values.dtype == np.float32 and np.isfinite(data.values).all()
    assert data.columns[0] == target and data.target == target
    assert data.split == split
    assert data.timestamps is not None and len(data.timestamps) == rows
    assert (np.diff(data.timestamps) > np.timedelta64(0)).all()
    assert data.source == str(shared_data_dir / SOURCES[name].filename)
    w = prepare_windows(data, seq_len=14, horizon=1)
    assert w.n_features == n_cols and w.x_train.shape[1:] == (14, n_cols)


def test_bitcoin_features_and_order(shared_data_dir: Path) -> None:
    data = load_dataset("bitcoin", data_dir=shared_data_dir)
    assert data.columns == ("close", "open", "high", "low", "volume")  # marketCap dropped
    assert str(data.timestamps[0]) == "2024-04-24T00:00:00.000000000"
    assert str(data.timestamps[-1]) == "2025-04-23T00:00:00.000000000"
    assert data.values[0, 0] == np.float32(64276.8974153965)
    assert any("marketCap" in n for n in data.notes)


def test_bitcoin_descending_file_is_sorted_and_flagged(tmp_path: Path, shared_data_dir: Path):
    lines = (shared_data_dir / "bitcoin.csv").read_text().splitlines()
    (tmp_path / "bitcoin.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with pytest.warns(UserWarning, match="sha256"):
        data = load_dataset("bitcoin", data_dir=tmp_path)
    reference = load_dataset("bitcoin", data_dir=shared_data_dir)
    np.testing.assert_array_equal(data.values, reference.values)
    assert any("sorted" in n for n in data.notes) and any("sha256" in n for n in data.notes)


def test_aapl_drops_name(shared_data_dir: Path) -> None:
    data = load_dataset("aapl", data_dir=shared_data_dir)
    assert "Name" not in data.columns and data.columns[0] == "close"
    assert str(data.timestamps[0])[:10] == "2013-02-08"


def test_air_quality_gap_policy(shared_data_dir: Path) -> None:
    data = load_dataset("air_quality", data_dir=shared_data_dir)
    assert "NMHC(GT)" not in data.columns  # 86% of the training rows missing -> dropped
    assert len(data.columns) == 12 and data.values.min() > -200
    assert str(data.timestamps[0]) == "2004-03-10T18:00:00.000000000"
    assert str(data.timestamps[-1]) == "2005-04-04T14:00:00.000000000"
    assert (np.diff(data.timestamps) == np.timedelta64(1, "h")).all()
    assert data.values[0, 0] == np.float32(2.6)  # decimal comma
    # every one of the 1683 CO(GT) cells coded -200 is an input only, never a target
    assert data.target_valid is not None and int((~data.target_valid).sum()) == 1683
    assert any("CO(GT) 1683" in n and "-200" in n for n in data.notes)
    w = prepare_windows(data, seq_len=24, horizon=1)
    n_valid_targets = [
        int(data.target_valid[lo:hi].sum()) for lo, hi in ((24, 6549), (6549, 7486), (7486, 9357))
    ]
    assert [len(w.y_train), len(w.y_val), len(w.y_test)] == n_valid_targets
    assert n_valid_targets[2] == 1780  # was 1827: 47 interpolated test targets were scored
    # a filled value repeats the last observation of its column (forward fill)
    gap = np.flatnonzero(~data.target_valid)
    assert (data.values[gap, 0] == data.values[gap - 1, 0]).all()


def test_air_quality_other_target(shared_data_dir: Path) -> None:
    data = load_dataset("air_quality", data_dir=shared_data_dir, target="NOx(GT)")
    assert data.columns[0] == "NOx(GT)" and "CO(GT)" in data.columns
    assert data.target_valid is not None  # the long-gap mask follows the chosen target


def test_etth1_standard_months(shared_data_dir: Path) -> None:
    data = load_dataset("etth1", data_dir=shared_data_dir)
    a, b = data.split
    start = np.datetime64("2016-07-01T00:00", "ns")
    assert data.timestamps[a] == start + np.timedelta64(12 * 30, "D")
    assert data.timestamps[b] == start + np.timedelta64(16 * 30, "D")
    assert data.timestamps[-1] == start + np.timedelta64(20 * 30 * 24 - 1, "h")
    assert data.columns == ("OT", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")


def test_exchange_rate_dates(shared_data_dir: Path) -> None:
    data = load_dataset("exchange_rate", data_dir=shared_data_dir)
    assert str(data.timestamps[0])[:10] == "1990-01-01"
    assert str(data.timestamps[-1])[:10] == "2010-10-10"
    assert data.columns == ("OT", "0", "1", "2", "3", "4", "5", "6")


def test_unknown_target_lists_columns(shared_data_dir: Path) -> None:
    from synprune.errors import DataError

    with pytest.raises(DataError, match=r"'nope'.*available: close, open"):
        load_dataset("bitcoin", data_dir=shared_data_dir, target="nope")
