"""M4 series as trial datasets: ``m4_hourly:H123`` is one series of the M4 Hourly set.

The raw files are read by :mod:`synprune.datasets.m4` (``read_m4_series``; downloaded and
sha256-checked when missing, never committed). One series becomes a one-column ``SeriesData``
(column name = the series id, no timestamps, ``season`` 24 -- M4 Competitor's Guide) holding
the training values followed by the official test values, with the **M4 layout**::

    rows [0, n - H)        training targets          (n = training length: 700 or 960)
    rows [n - H, n)        validation targets        (the last H training points)
    rows [n, n + H)        test targets              (the official H = 48 test points)

so ``split = (n - H, n)``. Under the ``m4`` protocol (the default for these datasets, see
``synprune.datasets.windows``) that gives exactly one test window (input = the last
``seq_len`` training points, a direct 48-step forecast), one validation window (input = the
``seq_len`` points before the last 48 training points), training windows whose targets end
before the validation targets, and a scaler fit on rows ``[0, n - H)`` only.

Grids sweep series with :func:`select_series` (``[grid] series = ...`` in sweep files):
``"all"`` (file order), ``"sample:N"`` / ``"sample:N:SEED"`` (``N`` ids drawn without
replacement by ``numpy.random.default_rng(SEED)``, ``SEED`` 0 unless given, returned in file
order: the same sample on every machine), or a list of ids. Each selected series is its own
dataset value ``m4_hourly:Hk``, hence its own block in ``stats``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synprune.datasets.m4 import m4_spec, read_m4_series
from synprune.datasets.registry import SERIES_IDS, register_dataset
from synprune.datasets.series import SeriesData
from synprune.datasets.windows import PROTOCOLS
from synprune.errors import ConfigError, FieldError

#: M4 Hourly: 414 series H1..H414 (M4 Competitor's Guide), in file order
M4_HOURLY_COUNT = 414
M4_HOURLY_IDS = tuple(f"H{i}" for i in range(1, M4_HOURLY_COUNT + 1))
#: the M4 datasets registered here: name -> frequency of ``synprune.datasets.m4``
M4_DATASETS = {"m4_hourly": "hourly"}


def m4_horizon(dataset: str) -> int | None:
    """The M4 forecast horizon of ``dataset`` (``m4_hourly`` or ``m4_hourly:H1``: 48), or None
    for a dataset that is not an M4 one."""
    freq = M4_DATASETS.get(dataset.partition(":")[0]) if isinstance(dataset, str) else None
    return None if freq is None else int(m4_spec(freq)["horizon"])


def check_protocol(protocol: object, dataset: str, horizon: int) -> None:
    """``FieldError`` unless ``protocol`` is one of ``PROTOCOLS`` and fits the dataset:
    ``m4`` needs an M4 dataset (``m4_hourly:Hk``) and its official horizon (48)."""
    if protocol not in PROTOCOLS:
        raise FieldError("protocol", protocol, ", ".join(PROTOCOLS))
    if protocol != "m4":
        return
    official = m4_horizon(dataset)
    if official is None:
        raise FieldError(
            "protocol", protocol, "leak_free or paper for this dataset (m4 needs an M4 dataset, "
            "e.g. m4_hourly:H1)"
        )  # fmt: skip
    if horizon != official:
        raise FieldError(
            "horizon", horizon, f"{official} under protocol m4 (the official M4 horizon of "
            f"{dataset.partition(':')[0]}: one direct {official}-step forecast)"
        )  # fmt: skip


def m4_series_data(
    name: str, series_id: str, train: np.ndarray, test: np.ndarray, season: int, source: str
) -> SeriesData:
    """The ``SeriesData`` of one M4 series: train then test values, split ``(n - H, n)``."""
    n, horizon = int(train.size), int(test.size)
    values = np.concatenate([train, test]).astype(np.float32)[:, None]
    notes = (
        f"M4 series {series_id}: {n} training points then the {horizon} official test points; "
        f"validation = the last {horizon} training points (split {n - horizon}/{n})",
    )
    return SeriesData(
        name=f"{name}:{series_id}", values=values, columns=(series_id,), timestamps=None,
        split=(n - horizon, n), source=source, notes=notes, season=season,
    )  # fmt: skip


@register_dataset("m4_hourly", series_ids=M4_HOURLY_IDS)
def m4_hourly(*, data_dir: Path | None = None, series: str | None = None) -> SeriesData:
    """One M4 Hourly series (``m4_hourly:H123``); layout in the module docstring."""
    if series not in M4_HOURLY_IDS:
        raise FieldError("series", series, f"an id H1..H{M4_HOURLY_COUNT} (m4_hourly:H123)")
    train, test = read_m4_series(series, "hourly", data_dir=data_dir)
    season = int(m4_spec("hourly")["season"])
    return m4_series_data("m4_hourly", series, train, test, season, "M4 Hourly-train/test.csv")


_SAMPLE = re.compile(r"sample:(\d+)(?::(\d+))?")


def select_series(dataset: str, selector: object, where: str = "series") -> list[str]:
    """The dataset values ``NAME:ID`` a grid's ``series`` selector gives for the collection
    ``dataset`` (``"all"``, ``"sample:N[:SEED]"`` or a list of ids; module docstring).

    Raises ``ConfigError`` naming ``where``, the value and what is allowed."""
    if dataset not in SERIES_IDS:
        raise ConfigError(f"{where}: dataset {dataset!r} is not a collection of series")
    ids = SERIES_IDS[dataset]
    allowed = (
        f'"all", "sample:N" or "sample:N:SEED" (N in [1, {len(ids)}]), or a list of ids '
        f"{ids[0]}..{ids[-1]}"
    )
    if selector == "all":
        chosen: Sequence[str] = ids
    elif isinstance(selector, str) and (m := _SAMPLE.fullmatch(selector)):
        n, seed = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= n <= len(ids):
            raise ConfigError(f"{where}={selector!r} is invalid; allowed: {allowed}")
        picked = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
        chosen = [ids[i] for i in sorted(picked.tolist())]
    elif isinstance(selector, list) and selector:
        bad = [s for s in selector if s not in ids]
        if bad:
            raise ConfigError(f"{where}: {bad[0]!r} is not a series of {dataset}; {allowed}")
        if len(set(selector)) != len(selector):
            dup = next(s for s in selector if selector.count(s) > 1)
            raise ConfigError(f"{where}: series {dup!r} is listed twice")
        chosen = selector
    else:
        raise ConfigError(f"{where}={selector!r} is invalid; allowed: {allowed}")
    return [f"{dataset}:{s}" for s in chosen]
