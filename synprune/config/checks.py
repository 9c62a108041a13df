"""Shape checks of a sweep file and the one way to name where a bad value came from.

Values of components and trials are validated by their constructors and ``TrialSpec`` only
(one validation path); this module checks what exists only in the file -- its
tables, keys and the config-only settings ([resources], [sweep], [tuning]) -- and turns a
constructor's ``FieldError`` into one naming the file and the key (:func:`located`).

Each check takes ``err``, a callable turning a message into the ``ConfigError`` to raise (the
parsers bind it to the file's path).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from synprune.errors import ConfigError, FieldError
from synprune.experiment.spec import relocate

Err = Callable[[str], ConfigError]


def toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, else quoted (``"synaptic+dropout"``)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def located(exc: FieldError, path: object, where: str, spec_prefix: str = "") -> FieldError:
    """``exc`` (raised at spec place ``spec_prefix``) as ``"{path}: {where}{field}=..."``."""
    return relocate(exc, spec_prefix, f"{path}: {where}")


# -- TOML shape and config-only scalars ------------------------------------------------------
def check_keys(d: Mapping[str, Any], allowed: set[str], prefix: str, err: Err) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise err(f"unknown key {prefix}{unknown[0]}; allowed: {', '.join(sorted(allowed))}")


def get_table(raw: Mapping[str, Any], key: str, err: Err, required: bool = False) -> dict[str, Any]:
    if key not in raw:
        if required:
            raise err(f"[{key}] table is required")
        return {}
    if not isinstance(raw[key], Mapping):
        raise err(f"{key} must be a table ([{key}])")
    return dict(raw[key])


def sub_table(v: Any, key: str, err: Err) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise err(f"[{key}] must be a table of parameters")
    return v


def check_int(v: Any, key: str, err: Err, lo: int, hi: int) -> int:
    if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: an integer in [{lo}, {hi}]")
    return v


def check_num(
    v: Any, key: str, err: Err, lo: float, hi: float, allowed: str, low_open: bool = False
) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    if not ok or not ((v > lo if low_open else v >= lo) and v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: {allowed}")
    return float(v)


def value_list(v: Any, key: str, err: Err) -> tuple[Any, ...]:
    """A grid axis / swept field: a list of distinct values, or one value."""
    vals = list(v) if isinstance(v, list) else [v]
    if not vals:
        raise err(f"{key} is empty; give at least one value")
    seen: set[Any] = set()  # a set: a long axis is checked in linear time
    unhashable: list[Any] = []  # lists / tables are values too (refused by the specs)
    for x in vals:
        try:
            twice = x in seen
            seen.add(x)
        except TypeError:
            twice = x in unhashable
            unhashable.append(x)
        if twice:
            raise err(f"{key} lists the value {x!r} twice")
    return tuple(vals)


def name_list(v: Any, key: str, err: Err) -> tuple[str, ...]:
    """A grid axis of names (model, dataset, regularizer): one name or a list of names."""
    vals = value_list(v, key, err)
    bad = [x for x in vals if not isinstance(x, str) or not x]
    if bad:
        raise err(f"{key}={bad[0]!r} is invalid; allowed: a name or a list of names (strings)")
    return tuple(str(x) for x in vals)


def leaf_paths(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables -> ``{"a.b.c": value}`` (TOML parses ``a.b.c = 1`` as nested tables)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(leaf_paths(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def set_path(d: dict[str, Any], path: str, value: Any) -> None:
    """``d["a"]["b"] = value`` for ``path="a.b"`` (intermediate tables copied, not shared)."""
    head, _, rest = path.partition(".")
    if not rest:
        d[head] = value
        return
    node = d.get(head)
    node = dict(node) if isinstance(node, Mapping) else {}
    set_path(node, rest, value)
    d[head] = node


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, anything else in ``over`` wins."""
    out = dict(base)
    for k, v in over.items():
        b = out.get(k)
        out[k] = merged(b, v) if isinstance(b, Mapping) and isinstance(v, Mapping) else v
    return out


def first_line(exc: BaseException) -> str:
    """``"TypeName: message"`` cut to its first line, for one-line config errors."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
