"""The dataset registry and ``load_dataset``, the one way to get a ``SeriesData``.

A dataset factory is registered under a name with ``@register_dataset(name)`` and is called as
``factory(data_dir=Path | None[, target=str][, missing_value=float]) -> SeriesData``.
``load_dataset`` also accepts ``csv:PATH`` for any user file. The built-ins register when
``synprune.datasets`` imports ``builtin`` (explicit import; this module imports nothing above
it).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from synprune.datasets.build import load_csv
from synprune.datasets.series import SeriesData
from synprune.errors import ConfigError, FieldError
from synprune.registry import Registry

__all__ = [
    "DATASETS",
    "SERIES_IDS",
    "SeriesData",
    "check_dataset_name",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "split_series_name",
]

DatasetFactory = Callable[..., SeriesData]
DATASETS: Registry[SeriesData] = Registry("dataset")
#: datasets made of many independent series, one selected as ``NAME:ID``: name -> valid ids
SERIES_IDS: dict[str, tuple[str, ...]] = {}


def register_dataset(
    name: str, *, series_ids: Sequence[str] = ()
) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator: register ``factory(*, data_dir=None, target=None) -> SeriesData``.

    ``target`` (and ``missing_value``) are passed only when the caller chose one; a factory
    that cannot change them may leave the argument out of its signature. ``series_ids``: the
    dataset is a collection of series, loaded one at a time as ``NAME:ID`` (the factory takes
    ``series=ID``), e.g. ``m4_hourly:H123``.
    """
    register = DATASETS.register(name)
    if series_ids:
        SERIES_IDS[name] = tuple(series_ids)
    return register


def split_series_name(name: str) -> tuple[str, str | None]:
    """``"m4_hourly:H12"`` -> ``("m4_hourly", "H12")`` for a collection of series (see
    ``register_dataset``), any other name -> ``(name, None)``; the id is not checked here."""
    base, sep, series = name.partition(":")
    return (base, series) if sep and base in SERIES_IDS else (name, None)


def check_dataset_name(name: object) -> None:
    """``FieldError(field="dataset")`` unless ``name`` is a registered dataset, ``csv:PATH``
    or ``NAME:ID`` of a collection of series with a valid id (a collection's bare name is
    refused: a trial runs on one series). Reads no file."""
    names = list_datasets()
    collections = ", ".join(f"{n}:{ids[0]}..{ids[-1]}" for n, ids in sorted(SERIES_IDS.items()))
    allowed = ", ".join(n for n in names if n not in SERIES_IDS)
    allowed += f", {collections} (one series)" if collections else ""
    allowed += ", or csv:PATH"
    if not isinstance(name, str) or not name:
        raise FieldError("dataset", name, allowed)
    if name.startswith("csv:"):
        if len(name) <= 4:
            raise FieldError("dataset", name, "csv:PATH with a file path")
        return
    base, series = split_series_name(name)
    if base in SERIES_IDS:
        ids = SERIES_IDS[base]
        if series not in ids:
            raise FieldError(
                "dataset", name, f"{base}:ID with an id {ids[0]}..{ids[-1]} ({len(ids)} series)"
            )
        return
    if name not in DATASETS:
        raise FieldError("dataset", name, allowed)


def list_datasets() -> list[str]:
    """Registered names (``csv:PATH`` is accepted by ``load_dataset`` besides these)."""
    return DATASETS.names()


def _check_missing_value(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            f"missing_value must be a finite number (the code that marks a cell as not "
            f"measured, e.g. -200), got {value!r}"
        )
    return float(value)


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    target: str | None = None,
    date_column: str | None = None,
    missing_value: float | None = None,
) -> SeriesData:
    """Load a registered dataset, ``NAME:ID`` (one series of a collection, e.g.
    ``m4_hourly:H123``) or ``csv:PATH`` (needs ``target``; ``date_column`` optional).

    ``data_dir`` overrides ``$SYNPRUNE_DATA_DIR`` (default ``~/.cache/synprune/datasets``);
    a file missing there is taken from the copy shipped inside the package when its licence
    allows (aapl, air_quality), else downloaded and checked (see ``sources``).
    For a registered dataset ``target`` may name another of its columns to forecast instead.
    ``missing_value``: cells equal to this code are treated as missing (gap policy in
    ``synprune.datasets.gaps``); for ``csv:PATH`` and for datasets whose factory takes it
    (``air_quality``, default -200).
    Bad files raise ``synprune.errors.DataError``; bad arguments ``ConfigError``.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset must be a non-empty string, got {name!r}")
    code = _check_missing_value(missing_value)
    if name.startswith("csv:"):
        path = name[4:]
        if not path:
            raise ConfigError("dataset 'csv:' needs a file path, e.g. csv:data/my_series.csv")
        if not target:
            raise ConfigError(f"dataset {name!r} needs a target column (--target COLUMN)")
        return load_csv(path, target=target, date_column=date_column, missing_value=code)
    base, series = split_series_name(name)
    if base in SERIES_IDS:
        check_dataset_name(name)  # FieldError naming the valid ids
        name = base
    elif name not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; registered: {', '.join(list_datasets())}, or csv:PATH"
        )
    if date_column is not None:
        raise ConfigError(
            f"date_column is only for csv:PATH datasets; {name!r} knows its own dates"
        )
    kwargs: dict[str, object] = {"data_dir": Path(data_dir) if data_dir is not None else None}
    if series is not None:
        kwargs["series"] = series
    if target is not None:
        kwargs["target"] = target
    if code is not None:
        if "missing_value" not in inspect.signature(DATASETS.get(name)).parameters:
            raise ConfigError(
                f"missing_value is only for csv:PATH datasets and datasets with a missing-value "
                f"code (air_quality); {name!r} has none"
            )
        kwargs["missing_value"] = code
    return DATASETS.create(name, **kwargs)
