"""The dataset registry and ``SeriesData``, the one shape every loader returns.

A dataset factory is registered under a name with ``@register_dataset(name)`` and is called as
``factory(data_dir=Path | None[, target=str]) -> SeriesData``. ``load_dataset`` also accepts
``csv:PATH`` for any user file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synprune.errors import ConfigError
from synprune.registry import Registry


@dataclass(frozen=True, eq=False)
class SeriesData:
    """A parsed multivariate series, before splitting, scaling and windowing.

    ``values`` is float32 ``[T, C]`` without NaN and ``values[:, 0]`` is the target
    (``columns[0]`` its name). ``split = (a, b)`` cuts it by *target row* into
    train ``[0, a)``, val ``[a, b)`` and test ``[b, T)``. ``timestamps`` (datetime64[ns],
    strictly increasing) may be ``None`` for a CSV without a date column. ``notes`` records
    what parsing and the gap policy did; it is logged with every run.

    ``target_valid`` (optional bool ``[T]``, an addition to the contract in
    docs/ARCHITECTURE.md) is False on rows whose target value was *imputed across a long
    gap*; ``prepare_windows`` drops every window whose target rows include such a row, so no
    model is trained or scored on an invented target. ``None`` means every row is valid.
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    timestamps: np.ndarray | None
    split: tuple[int, int]
    source: str
    notes: tuple[str, ...] = ()
    target_valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        v = self.values
        if not isinstance(v, np.ndarray) or v.ndim != 2 or v.dtype != np.float32:
            raise ValueError(f"{self.name}: values must be a float32 [T, C] array")
        t, c = v.shape
        if len(self.columns) != c:
            raise ValueError(f"{self.name}: {c} value columns but {len(self.columns)} names")
        if not np.isfinite(v).all():
            col = int(np.flatnonzero(~np.isfinite(v).all(axis=0))[0])
            raise ValueError(f"{self.name}: column {self.columns[col]!r} has NaN/inf values")
        a, b = self.split
        if not 0 < a < b < t:
            raise ValueError(f"{self.name}: split {self.split} must satisfy 0 < a < b < T={t}")
        if self.timestamps is not None:
            ts = self.timestamps
            if ts.shape != (t,) or ts.dtype != np.dtype("datetime64[ns]"):
                raise ValueError(f"{self.name}: timestamps must be datetime64[ns] of length {t}")
            if t > 1 and not (np.diff(ts) > np.timedelta64(0, "ns")).all():
                raise ValueError(f"{self.name}: timestamps must be strictly increasing")
        if self.target_valid is not None:
            tv = self.target_valid
            if tv.shape != (t,) or tv.dtype != np.bool_:
                raise ValueError(f"{self.name}: target_valid must be a bool array of length {t}")

    @property
    def target(self) -> str:
        return self.columns[0]

    def __len__(self) -> int:
        return int(self.values.shape[0])


DatasetFactory = Callable[..., SeriesData]
DATASETS: Registry[SeriesData] = Registry("dataset")


def register_dataset(name: str) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator: register ``factory(*, data_dir=None, target=None) -> SeriesData``.

    ``target`` is passed only when the caller chose one; a factory that cannot change its
    target may leave the argument out of its signature.
    """
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    """Registered names (``csv:PATH`` is accepted by ``load_dataset`` besides these)."""
    return DATASETS.names()


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    target: str | None = None,
    date_column: str | None = None,
) -> SeriesData:
    """Load a registered dataset, or ``csv:PATH`` (needs ``target``; ``date_column`` optional).

    ``data_dir`` overrides ``$SYNPRUNE_DATA_DIR`` (default ``~/.cache/synprune/datasets``);
    missing files of the shipped datasets are downloaded and checked (see ``sources``).
    For a registered dataset ``target`` may name another of its columns to forecast instead.
    Bad files raise ``synprune.errors.DataError``; bad arguments ``ConfigError``.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset must be a non-empty string, got {name!r}")
    if name.startswith("csv:"):
        from synprune.datasets.parsers import load_csv

        path = name[4:]
        if not path:
            raise ConfigError("dataset 'csv:' needs a file path, e.g. csv:data/my_series.csv")
        if not target:
            raise ConfigError(f"dataset {name!r} needs a target column (--target COLUMN)")
        return load_csv(path, target=target, date_column=date_column)
    if name not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; registered: {', '.join(list_datasets())}, or csv:PATH"
        )
    if date_column is not None:
        raise ConfigError(
            f"date_column is only for csv:PATH datasets; {name!r} knows its own dates"
        )
    kwargs: dict[str, object] = {"data_dir": Path(data_dir) if data_dir is not None else None}
    if target is not None:
        kwargs["target"] = target
    return DATASETS.create(name, **kwargs)
