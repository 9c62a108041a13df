"""The tuned file: the best regularizer params ``synprune tune`` found per (model, dataset,
regularizer), which a sweep config names with ``tuned = "tuned/x.json"`` (relative to the
config file). In a trial they override the config's ``[regularizers.*]`` tables and are
overridden by its swept / extra-arm fields (see :mod:`synprune.config.loader`).

Shape, as runtime/tune.py writes it::

    {"tuned": {MODEL: {DATASET: {REGULARIZER: {"params": {...}, "objective": ..., ...}}}}, ...}

Only the shape is checked here; the values are validated with the config's tables by
the specs of the grid's cells (:func:`synprune.config.validate.check_unused` for cells off
the grid).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synprune.config.checks import Err


def tuned_key(raw: Mapping[str, Any], path: Path, err: Err) -> tuple[Path | None, dict[str, Any]]:
    """(resolved path, cells) of a config's ``tuned`` key; ``(None, {})`` without one, and
    empty cells while the file does not exist yet (``SweepConfig.specs`` then refuses)."""
    if "tuned" not in raw:
        return None, {}
    value = raw["tuned"]
    if not isinstance(value, str) or not value:
        raise err(f"tuned={value!r} is invalid; allowed: a path to a JSON file")
    tuned_path = (path.parent / value).resolve()
    return tuned_path, read_tuned(tuned_path, err) if tuned_path.is_file() else {}


def read_tuned(path: Path, err: Err) -> dict[str, Any]:
    """``{model: {dataset: {regularizer: {"params": {...}, ...}}}}`` as written by tune
    (shape only; values are checked with the config's tables by the specs)."""
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise err(f"tuned={str(path)!r}: not valid JSON ({exc})") from None
    cells = data.get("tuned") if isinstance(data, dict) else None
    entries = [
        e
        for by_ds in (cells.values() if isinstance(cells, dict) else [None])
        for by_reg in (by_ds.values() if isinstance(by_ds, dict) else [None])
        for e in (by_reg.values() if isinstance(by_reg, dict) else [None])
    ]
    if not isinstance(cells, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("params", {}), dict) for e in entries
    ):
        raise err(
            f"tuned={str(path)!r}: expected {{'tuned': {{model: {{dataset: {{regularizer: "
            "{'params': {...}}}}}}"
        )
    return dict(cells)


def tuned_params(
    cells: Mapping[str, Any], model: str, dataset: str, regularizer: str
) -> dict[str, Any]:
    """The tuned params of one (model, dataset, regularizer); ``{}`` when not tuned."""
    entry = cells.get(model, {}).get(dataset, {}).get(regularizer, {})
    return dict(entry.get("params", {}))
