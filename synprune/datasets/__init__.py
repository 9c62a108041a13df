"""Datasets: files -> ``SeriesData`` -> (split, scaled, windowed) ``WindowedData``.

``load_dataset(name, *, data_dir=None, target=None, date_column=None)`` loads a registered
dataset (``list_datasets()``) or ``csv:PATH``; ``prepare_windows(data, seq_len, horizon)``
makes leak-free model inputs. See ``builtin`` for each dataset, ``parsers`` for the gap policy,
``sources`` for files, downloads and sha256 checks.
"""

from synprune.datasets import builtin as _builtin  # noqa: F401  (registers built-ins)
from synprune.datasets.registry import (
    DATASETS,
    SeriesData,
    list_datasets,
    load_dataset,
    register_dataset,
)
from synprune.datasets.windows import WindowedData, prepare_windows

__all__ = [
    "DATASETS",
    "SeriesData",
    "WindowedData",
    "list_datasets",
    "load_dataset",
    "prepare_windows",
    "register_dataset",
]
