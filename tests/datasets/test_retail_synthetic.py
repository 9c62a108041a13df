"""retail on a file generated in the Kaggle schema; the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.datasets import load_dataset, prepare_windows
from synprune.errors import DataError

COLUMNS = [
    "Date", "Store ID", "Product ID", "Category", "Region", "Inventory Level", "Units Sold",
    "Units Ordered", "Demand Forecast", "Price", "Discount", "Weather Condition",
    "Holiday/Promotion", "Competitor Pricing", "Seasonality",
]  # fmt: skip
DAYS, STORES, PRODUCTS = 40, 3, 4


def _retail_frame(date_format: str = "%d-%m-%Y") -> pd.DataFrame:
    day, store, product = np.meshgrid(
        np.arange(DAYS), np.arange(STORES), np.arange(PRODUCTS), indexing="ij"
    )
    day, store, product = day.ravel(), store.ravel(), product.ravel()
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(day, unit="D")
    df = pd.DataFrame({
        "Date": dates.strftime(date_format),
        "Store ID": [f"S{s:03d}" for s in store],
        "Product ID": [f"P{p:04d}" for p in product],
        "Category": "Toys", "Region": "North",
        "Inventory Level": 100 + day, "Units Sold": store + product,
        "Units Ordered": 5, "Demand Forecast": (day + 0.5 * store + 0.25 * product).round(2),
        "Price": 10.0 + product, "Discount": 5 * (store % 2),
        "Weather Condition": "Sunny",
        "Holiday/Promotion": (day % 2 == 0).astype(int) * (store == 0),
        "Competitor Pricing": 9.5, "Seasonality": "Winter",
    })[COLUMNS]  # fmt: skip
    # shuffle the rows: the aggregate must not depend on the file order
    return df.sample(frac=1.0, random_state=0)


@pytest.mark.parametrize("date_format", ["%d-%m-%Y", "%Y-%m-%d"])
def test_retail_daily_aggregation(tmp_path: Path, date_format: str) -> None:
    _retail_frame(date_format).to_csv(tmp_path / "retail_store_inventory.csv", index=False)
    data = load_dataset("retail", data_dir=tmp_path)
    assert data.values.shape == (DAYS, 8)
    assert data.columns == (
        "Demand Forecast", "Inventory Level", "Units Sold", "Units Ordered",
        "Price", "Discount", "Competitor Pricing", "Holiday/Promotion",
    )  # fmt: skip
    d = np.arange(DAYS)
    # per day: sum over 3 stores x 4 products of d + 0.5 s + 0.25 p = 12 d + 6 + 4.5
    np.testing.assert_allclose(data.values[:, 0], 12 * d + 10.5, rtol=1e-6)
    np.testing.assert_allclose(data.values[:, 1], 12 * (100 + d))
    assert (data.values[:, 2] == 4 * 3 + 3 * 6).all()  # sum of store + product
    np.testing.assert_allclose(data.values[:, 4], 11.5)  # mean price
    np.testing.assert_allclose(data.values[:, 7], np.where(d % 2 == 0, 1 / 3, 0.0), rtol=1e-6)
    assert (
        str(data.timestamps[0])[:10] == "2022-01-01"
        and str(data.timestamps[-1])[:10] == "2022-02-09"
    )
    assert data.split == (28, 32) and any("aggregated 480" in n for n in data.notes)
    w = prepare_windows(data, seq_len=7, horizon=1)
    assert len(w.y_test) == 8


def test_retail_duplicate_key_and_missing_column(tmp_path: Path) -> None:
    df = _retail_frame()
    pd.concat([df, df.iloc[:1]]).to_csv(tmp_path / "retail_store_inventory.csv", index=False)
    with pytest.raises(DataError, match=r"line 482 repeats Date/Store ID/Product ID"):
        load_dataset("retail", data_dir=tmp_path)
    df.drop(columns=["Price"]).to_csv(tmp_path / "retail_store_inventory.csv", index=False)
    with pytest.raises(DataError, match=r"retail_store_inventory\.csv: no column 'Price'"):
        load_dataset("retail", data_dir=tmp_path)


def test_synthetic_is_deterministic() -> None:
    a, b = load_dataset("synthetic"), load_dataset("synthetic")
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == (1000, 3) and a.columns == ("y", "lead", "noise")
    assert a.split == (700, 800)
    e0 = np.random.default_rng(0).standard_normal()
    assert a.values[0, 0] == pytest.approx(10 + 0.3 * e0, rel=1e-6)
    # trend + daily cycle: the mean of the last day exceeds the first day's by ~5 (0.005/h)
    assert 3.0 < a.values[-24:, 0].mean() - a.values[:24, 0].mean() < 7.0
    assert (np.diff(a.timestamps) == np.timedelta64(1, "h")).all()
