"""The ``[tuning]`` table of a sweep file -> a frozen, validated ``TuningConfig``.

``[tuning]`` sets how ``synprune tune`` searches (trials, seeds, window, storage, ...) and
``[tuning.space.REGULARIZER]`` overrides entries of ``DEFAULT_SPACE``; every corner of each
space is checked by building its regularizer (its constructor is the validator).

    [tuning]
    trials = 20               # per (model, dataset) cell and arm, cumulative over reruns
    seeds = [1000, 1001]      # tuning seeds (not the grid's)
    seq_len = 14              # default: the grid's (lower) median seq_len
    horizon = 1               # default: the grid's first horizon
    epochs = 10               # default: [train].epochs
    storage = "sqlite:///./synprune-runs/optuna.db"
    regularizers = ["synaptic"]   # default: the grid's regularizers that have a space
    [tuning.space.synaptic]   # final_sparsity = [lo, hi], prune_every = {low, high, log},
                              # schedule = ["ease_in", "ease_out"], end_gap, ...

seq_len, horizon, seeds and epochs are checked against the grid by ``TrialSpec`` (loader).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synprune.config.checks import check_int, check_keys, located, sub_table
from synprune.errors import FieldError
from synprune.experiment.resolve import resolve_regularizer

_TUNING = {
    "trials",
    "seeds",
    "seq_len",
    "horizon",
    "epochs",
    "storage",
    "regularizers",
    "max_failures",
    "max_concurrent",
    "space",
}
DEFAULT_OPTUNA_STORAGE = "sqlite:///./synprune-runs/optuna.db"
#: default search spaces; end_frac = start_frac + end_gap * (1 - start_frac) keeps start < end
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "synaptic": {
        "final_sparsity": [0.3, 0.95],
        "start_frac": [0.0, 0.5],
        "end_gap": [0.2, 1.0],
        "prune_every": {"low": 1, "high": 50, "log": True},
        "schedule": ["ease_in", "ease_out"],
    },
    "dropout": {"p": [0.05, 0.6]},
    "mc_dropout": {"p": [0.05, 0.6]},
    "weight_decay": {"weight_decay": {"low": 1e-3, "high": 10.0, "log": True}},
    "l1": {"l1": {"low": 1e-8, "high": 1e-4, "log": True}},
}


@dataclass(frozen=True)
class Dim:
    """One tuned parameter: float/int range (``log`` optional) or categorical ``choices``."""

    kind: str  # float | int | categorical
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuningConfig:
    trials: int = 20
    seeds: tuple[int, ...] = (1000, 1001)
    seq_len: int | None = None  # None: the grid's (lower) median seq_len
    horizon: int | None = None  # None: the grid's first horizon
    epochs: int | None = None  # None: [train].epochs
    storage: str = DEFAULT_OPTUNA_STORAGE
    regularizers: tuple[str, ...] = ()  # () : grid regularizers that have a space
    max_failures: int = 1
    max_concurrent: int = 0
    space: Mapping[str, Mapping[str, Dim]] = field(default_factory=dict)


def _an_int(v: Any, key: str, err: Any) -> int:
    """Shape only: the range is checked where the value is used (TrialSpec / TrainSpec)."""
    if not (isinstance(v, int) and not isinstance(v, bool)):
        raise err(f"{key}={v!r} is invalid; allowed: an integer")
    return v


def parse_tuning(t: Mapping[str, Any], err: Any, path: Path | str = "") -> TuningConfig:
    """Validate the ``[tuning]`` table ``t``; ``err`` turns a message into the error to raise."""
    check_keys(t, _TUNING, "[tuning].", err)
    seeds = t.get("seeds", [1000, 1001])
    if not isinstance(seeds, list) or not seeds:
        raise err(f"[tuning].seeds={seeds!r} is invalid; allowed: a non-empty list of integers")
    for i, s in enumerate(seeds):
        _an_int(s, f"[tuning].seeds[{i}]", err)
    kw: dict[str, Any] = {"seeds": tuple(seeds)}
    kw["trials"] = check_int(t.get("trials", 20), "[tuning].trials", err, 1, 100_000)
    for key in ("seq_len", "horizon", "epochs"):
        if key in t:
            kw[key] = _an_int(t[key], f"[tuning].{key}", err)
    kw["max_failures"] = check_int(t.get("max_failures", 1), "[tuning].max_failures", err, 0, 100)
    kw["max_concurrent"] = check_int(
        t.get("max_concurrent", 0), "[tuning].max_concurrent", err, 0, 100000
    )
    storage = t.get("storage", DEFAULT_OPTUNA_STORAGE)
    if not isinstance(storage, str) or "://" not in storage:
        raise err(
            f"[tuning].storage={storage!r} is invalid; allowed: an RDB URL such as "
            f"{DEFAULT_OPTUNA_STORAGE}"
        )
    kw["storage"] = storage
    regs = t.get("regularizers", [])
    space_raw = t.get("space", {})
    if not isinstance(space_raw, Mapping):
        raise err("[tuning].space must be a table of [tuning.space.REGULARIZER] tables")
    space: dict[str, dict[str, Dim]] = {}
    for reg in sorted({*DEFAULT_SPACE, *space_raw}):
        merged = {
            **DEFAULT_SPACE.get(reg, {}),
            **dict(sub_table(space_raw.get(reg, {}), f"tuning.space.{reg}", err)),
        }
        space[reg] = {k: _dim(v, f"[tuning.space.{reg}].{k}", err) for k, v in merged.items()}
        _check_space(reg, space[reg], err, path)
    if not isinstance(regs, list) or any(r not in space for r in regs):
        raise err(
            f"[tuning].regularizers={regs!r} is invalid; allowed: a list of "
            f"{', '.join(sorted(space))}"
        )
    kw["regularizers"] = tuple(regs)
    kw["space"] = space
    return TuningConfig(**kw)


def _dim(v: Any, key: str, err: Any) -> Dim:
    if isinstance(v, list) and v and all(isinstance(x, str | bool) for x in v):
        return Dim("categorical", choices=tuple(v))
    if isinstance(v, list) and len(v) == 2:
        v = {"low": v[0], "high": v[1]}
    if isinstance(v, Mapping) and set(v) <= {"low", "high", "log"} and {"low", "high"} <= set(v):
        lo, hi, log = v["low"], v["high"], bool(v.get("log", False))
        nums = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lo, hi))
        if nums and lo < hi and (not log or lo > 0):
            kind = "int" if isinstance(lo, int) and isinstance(hi, int) else "float"
            return Dim(kind, float(lo), float(hi), log)
    raise err(
        f"{key}={v!r} is invalid; allowed: [low, high] with low < high, "
        "{low=, high=, log=true} (low > 0 for log), or a list of choices"
    )


def _check_space(reg: str, dims: Mapping[str, Dim], err: Any, path: Path | str) -> None:
    """Every corner of the space must build the regularizer (catches out-of-range bounds)."""
    for corner in (0, 1):
        params: dict[str, Any] = {}
        for k, d in dims.items():
            if d.kind == "categorical":
                params[k] = d.choices[corner % len(d.choices)]
            else:
                v = d.low if corner == 0 else d.high
                params[k] = int(v) if d.kind == "int" else v
        if "end_gap" in params:
            gap = params.pop("end_gap")
            if not 0 < gap <= 1:
                raise err(f"[tuning.space.{reg}].end_gap bounds must lie in (0, 1]")
            s = params.get("start_frac", 0.0)
            params["end_frac"] = s + gap * (1 - s)
        try:
            resolve_regularizer(reg, params)
        except FieldError as exc:
            name = exc.field == "regularizer" and not exc.prefix
            raise located(exc, path, f"[tuning.space.{reg}]" + (": " if name else ".")) from None
