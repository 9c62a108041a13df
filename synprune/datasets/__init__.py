"""Datasets: files -> ``SeriesData`` -> (split, scaled, windowed) ``WindowedData``.

``load_dataset(name, *, data_dir=None, target=None, date_column=None, missing_value=None)``
loads a registered dataset (``list_datasets()``) or ``csv:PATH``;
``prepare_windows(data, seq_len, horizon, protocol="leak_free")`` makes model inputs (leak-free
unless ``protocol="paper"``; ``m4`` for the M4 series, ``m4_series``). See ``builtin``
for each dataset, ``gaps`` for the gap policy (past-only filling; unobserved targets are
never scored), ``parsers`` for file validation, ``sources`` for files, the packaged copies,
downloads and sha256 checks.

Imports point down: series <- splits, scaling, parsers, gaps <- build <- registry <- builtin
(registered by the explicit import below), windows; sources is used by builtin only.
"""

from synprune.datasets import builtin as _builtin  # noqa: F401  (registers built-ins)
from synprune.datasets import m4_series as _m4_series  # noqa: F401  (registers m4_hourly)
from synprune.datasets.m4_series import check_protocol
from synprune.datasets.registry import (
    DATASETS,
    check_dataset_name,
    list_datasets,
    load_dataset,
    register_dataset,
)
from synprune.datasets.series import SeriesData
from synprune.datasets.windows import WindowedData, prepare_windows

__all__ = [
    "DATASETS",
    "SeriesData",
    "WindowedData",
    "check_dataset_name",
    "check_protocol",
    "list_datasets",
    "load_dataset",
    "prepare_windows",
    "register_dataset",
]
