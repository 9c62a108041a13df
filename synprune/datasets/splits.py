"""Chronological split boundaries ``(a, b)``: train ``[0, a)``, val ``[a, b)``, test ``[b, T)``.

Row counts follow the LTSF reference code (Informer / Autoformer ``data_loader.py``) so that
numbers are comparable with the literature:

* ratio splits (default 70/10/20, exchange_rate's standard 7:1:2):
  ``n_train = int(T * train)``, ``n_test = int(T * test)``, ``n_val = T - n_train - n_test``;
* ETT hourly: 12/4/4 months of 30 days, i.e. 8640 / 2880 / 2880 rows from the start; the
  rows after month 20 are not used (the series is cut to 14400 rows by its loader).
"""

from __future__ import annotations

ETT_HOURS_PER_MONTH = 30 * 24
ETT_TRAIN_MONTHS, ETT_VAL_MONTHS, ETT_TEST_MONTHS = 12, 4, 4


def ratio_split(
    n_rows: int, train: float = 0.7, val: float = 0.1, test: float = 0.2
) -> tuple[int, int]:
    """Boundaries of a chronological ``train/val/test`` split of ``n_rows`` rows."""
    if min(train, val, test) <= 0 or abs(train + val + test - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be > 0 and sum to 1, got {train}/{val}/{test}")
    n_train = int(n_rows * train)
    n_test = int(n_rows * test)
    a, b = n_train, n_rows - n_test
    if not 0 < a < b < n_rows:
        raise ValueError(f"{n_rows} rows are too few for a {train}/{val}/{test} split")
    return a, b


def ett_hourly_split() -> tuple[int, int, int]:
    """``(train_end, val_end, used_rows)`` of the standard ETT-hourly 12/4/4-month split."""
    a = ETT_TRAIN_MONTHS * ETT_HOURS_PER_MONTH
    b = a + ETT_VAL_MONTHS * ETT_HOURS_PER_MONTH
    return a, b, b + ETT_TEST_MONTHS * ETT_HOURS_PER_MONTH
