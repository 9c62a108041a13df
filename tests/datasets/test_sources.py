"""Downloads from a real HTTP server on 127.0.0.1: sha256-verified, atomic, clean on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synprune.datasets import load_dataset
from synprune.datasets.sources import DATA_URL_ENV, SOURCES, fetch, sha256_file
from synprune.errors import DataError


def _link(served: Path, shared: Path, filename: str) -> None:
    (served / filename).symlink_to(shared / filename)  # served as is, never copied


def test_download_verify_and_cache(serve_dir, tmp_path, shared_data_dir, monkeypatch) -> None:
    base, served = serve_dir
    _link(served, shared_data_dir, "bitcoin.csv")
    cache = tmp_path / "cache"
    monkeypatch.setenv(DATA_URL_ENV, base)
    data = load_dataset("bitcoin", data_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["bitcoin.csv"]
    assert sha256_file(cache / "bitcoin.csv") == SOURCES["bitcoin"].sha256
    reference = load_dataset("bitcoin", data_dir=shared_data_dir)
    np.testing.assert_array_equal(data.values, reference.values)
    # a present file is not fetched again: stop serving it and load from the cache
    (served / "bitcoin.csv").unlink()
    assert fetch("bitcoin", data_dir_override=cache) == cache / "bitcoin.csv"


def test_corrupted_download_is_rejected_and_cache_left_clean(
    serve_dir, tmp_path, shared_data_dir
) -> None:
    base, served = serve_dir
    raw = (shared_data_dir / "AAPL_data.csv").read_bytes()
    corrupt = raw.replace(b"67.8542", b"67.8543", 1)  # one digit flipped
    (served / "AAPL_data.csv").write_bytes(corrupt)
    cache = tmp_path / "cache"
    import hashlib

    got = hashlib.sha256(corrupt).hexdigest()
    with pytest.raises(DataError) as err:
        fetch("aapl", data_dir_override=cache, base_url=base)
    msg = str(err.value)
    assert "sha256 mismatch" in msg and SOURCES["aapl"].sha256 in msg and got in msg
    assert f"{base}/AAPL_data.csv" in msg
    assert list(cache.iterdir()) == []  # no partial file, no temp file


def test_missing_on_server_is_a_clean_error(serve_dir, tmp_path) -> None:
    base, _ = serve_dir
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"ETTh1\.csv failed.*404.*save it as"):
        fetch("etth1", data_dir_override=cache, base_url=base)
    assert list(cache.iterdir()) == []


def test_retail_missing_tells_where_to_get_it(tmp_path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("retail", data_dir=tmp_path)
    msg = str(err.value)
    assert "Kaggle" in msg and "Retail Store Inventory Forecasting Dataset" in msg
    assert str(tmp_path / "retail_store_inventory.csv") in msg


def test_local_sha_mismatch_warns_and_is_noted(tmp_path, shared_data_dir) -> None:
    text = (shared_data_dir / "exchange_rate.csv").read_text()
    (tmp_path / "exchange_rate.csv").write_text(text.replace("0.7855", "0.7856", 1))
    with pytest.warns(UserWarning, match="differs from the expected"):
        data = load_dataset("exchange_rate", data_dir=tmp_path)
    assert any("not comparable" in n for n in data.notes)
    assert data.values[0, 1] == np.float32(0.7856)


def test_canonical_urls_are_constants() -> None:
    assert SOURCES["bitcoin"].url == (
        "https://raw.githubusercontent.com/xalentis/TimeseriesToolkit/main/data/bitcoin.csv"
    )
    assert SOURCES["etth1"].url.endswith("zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv")
    assert SOURCES["retail"].url is None
    assert all(s.url.startswith("https://") for s in SOURCES.values() if s.url)
