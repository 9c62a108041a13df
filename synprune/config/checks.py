"""Validation helpers shared by the sweep-file parsers (``config``, ``tuning_config``).

Each check takes ``err``, a callable turning a message into the ``ConfigError`` to raise
(the parsers bind it to the config file's path), and refuses a bad value with a message that
names the key path and what is allowed.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

_MUST = re.compile(r"^(\w+) must be (.*), got (.*)$", re.S)


# -- TOML shape and scalars ------------------------------------------------------------------
def check_keys(d: Mapping[str, Any], allowed: set[str], prefix: str, err: Any) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise err(f"unknown key {prefix}{unknown[0]}; allowed: {', '.join(sorted(allowed))}")


def get_table(raw: Mapping[str, Any], key: str, err: Any, required: bool = False) -> dict[str, Any]:
    if key not in raw:
        if required:
            raise err(f"[{key}] table is required")
        return {}
    if not isinstance(raw[key], Mapping):
        raise err(f"{key} must be a table ([{key}])")
    return dict(raw[key])


def sub_table(v: Any, key: str, err: Any) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise err(f"[{key}] must be a table of parameters")
    return v


def check_int(v: Any, key: str, err: Any, lo: int, hi: int) -> int:
    if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: an integer in [{lo}, {hi}]")
    return v


def check_num(
    v: Any, key: str, err: Any, lo: float, hi: float, allowed: str, low_open: bool = False
) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    if not ok or not ((v > lo if low_open else v >= lo) and v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: {allowed}")
    return float(v)


# -- registered components -------------------------------------------------------------------
def _factory_params(fn: Any, skip: set[str]) -> list[str]:
    sig = inspect.signature(fn)
    return sorted(
        n
        for n, p in sig.parameters.items()
        if n not in skip and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    )


def check_model(name: str, params: Mapping[str, Any], err: Any) -> None:
    from synprune.models import list_models
    from synprune.models.registry import get_model_factory

    if name not in list_models():
        raise err(
            f"[models.{name}]: {name!r} is not a registered model; allowed: "
            f"{', '.join(list_models())}"
        )
    allowed = _factory_params(
        get_model_factory(name), {"n_features", "seq_len", "horizon", "dropout"}
    )
    for k in params:
        if k not in allowed:
            raise err(f"unknown key [models.{name}].{k}; allowed: {', '.join(allowed)}")


def check_regularizer(name: str, params: Mapping[str, Any], where: str, err: Any) -> None:
    from synprune.regularizers import _REGISTRY, create_regularizer, list_regularizers

    if name not in list_regularizers():
        raise err(
            f"{where}: {name!r} is not a registered regularizer; allowed: "
            f"{', '.join(list_regularizers())}"
        )
    allowed = _factory_params(_REGISTRY.get(name), set())
    for k in params:
        if k not in allowed:
            raise err(f"unknown key {where}.{k}; allowed: {', '.join(allowed) or '(none)'}")
    try:
        create_regularizer(name, **dict(params))
    except (ValueError, TypeError) as exc:
        m = _MUST.match(str(exc))
        if m:
            raise err(f"{where}.{m[1]}={m[3]} is invalid; allowed: {m[2]}") from None
        raise err(f"{where}: {exc}") from None


def first_line(exc: BaseException) -> str:
    """``"TypeName: message"`` cut to its first line, for one-line config errors."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
