"""Refuse an architecture too large for memory *before* allocating it.

``create_model`` first builds the model on ``torch.device("meta")`` (shapes only: no memory,
no initialisation, and no draw from the random generator, so seeded builds are unchanged),
counts its parameters and estimates the training footprint as

    bytes = parameters x 4 (float32) x 4   (weights, gradients, Adam's two moments)

which is a *lower bound*: activations, data and the framework come on top. When it exceeds
:func:`memory_limit_bytes` the build is refused with a ``FieldError`` naming the architecture
field responsible (the given field whose reset to its default shrinks the model most) and the
estimate, e.g. ``hidden_size=10000000 is invalid; allowed: a size whose model fits in memory
(1.2e+15 parameters need ~19.2 PB for weights, gradients and Adam state; limit 25.2 GB)``.

The limit is the host's physical memory (``os.sysconf``), lowered to the cgroup memory limit
when one is set (containers), or the ``SYNPRUNE_MAX_MODEL_BYTES`` environment variable when
set. Models are built on the CPU, so host memory is the relevant budget at build time; a GPU
trial is additionally bounded by the device's memory, which this check does not see.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synprune.errors import FieldError

#: float32 weights + gradients + Adam exp_avg + exp_avg_sq
BYTES_PER_PARAMETER = 4 * 4
ENV_LIMIT = "SYNPRUNE_MAX_MODEL_BYTES"
_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit_bytes() -> int:
    """Bytes a model may use: ``$SYNPRUNE_MAX_MODEL_BYTES`` if set, else min(physical memory,
    cgroup limit)."""
    env = os.environ.get(ENV_LIMIT)
    if env:
        try:
            value = int(env)
        except ValueError:
            value = -1
        if value <= 0:
            raise FieldError(ENV_LIMIT, env, "a positive integer number of bytes")
        return value
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for f in _CGROUP_FILES:
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return limit


#: parameter counts by (factory, kwargs): a process building the same architecture for trial
#: after trial sizes it once
_COUNTS: dict[tuple[Any, str], int] = {}


def meta_parameter_count(factory: Callable[..., nn.Module], kwargs: Mapping[str, Any]) -> int:
    """Parameters of ``factory(**kwargs)`` built on the meta device (nothing allocated);
    remembered per (factory, kwargs)."""
    key = (factory, json.dumps(dict(kwargs), sort_keys=True, default=repr))
    if key not in _COUNTS:
        with torch.device("meta"):
            model = factory(**kwargs)
        if len(_COUNTS) >= 1024:
            _COUNTS.clear()
        _COUNTS[key] = parameter_count(model)
    return _COUNTS[key]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _culprit(
    factory: Callable[..., nn.Module],
    runtime: Mapping[str, Any],
    arch: Mapping[str, Any],
    defaults: Mapping[str, Any],
    count: int,
) -> str | None:
    """The given integer architecture field whose reset to its default shrinks the model most."""
    best, best_count = None, count
    for key, value in arch.items():
        if isinstance(value, bool) or not isinstance(value, int) or key not in defaults:
            continue
        trial = {k: v for k, v in arch.items() if k != key}
        if defaults[key] is not None:
            trial[key] = defaults[key]
        try:
            n = meta_parameter_count(factory, {**runtime, **trial})
        except (ValueError, TypeError):
            continue
        if n < best_count:
            best, best_count = key, n
    return best


def check_fits(
    name: str,
    factory: Callable[..., nn.Module],
    runtime: Mapping[str, Any],
    arch: Mapping[str, Any],
    defaults: Mapping[str, Any],
    limit: int | None = None,
    count: int | None = None,
) -> int:
    """Count the parameters of model ``name`` on the meta device (``count``: already counted);
    refuse it when the training estimate exceeds ``limit`` (default
    :func:`memory_limit_bytes`). Returns the count.

    Invalid arguments raise from the model's own checks here, before any allocation.
    """
    if count is None:
        count = meta_parameter_count(factory, {**runtime, **arch})
    need = count * BYTES_PER_PARAMETER
    limit = memory_limit_bytes() if limit is None else limit
    if need <= limit:
        return count
    field = _culprit(factory, runtime, arch, defaults, count)
    why = (
        f"fits in memory ({count:.1e} parameters need ~{format_bytes(need)} for weights, "
        f"gradients and Adam state; limit {format_bytes(limit)})"
    )
    if field is None:
        raise FieldError("model", name, f"an architecture that {why}")
    raise FieldError(field, arch[field], f"a size whose model {why}")


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1000, B to PB)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} PB"
