"""The plain values a spec holds: read-only parameter mappings and their text forms.

``freeze`` turns component parameters into hashable, read-only :class:`FrozenParams` (so a
frozen ``TrialSpec`` really is immutable and can key caches); ``thaw`` turns them back into
JSON-able dicts and lists. ``label_value`` writes a value as an arm label shows it
(``dropout[p=0.1]``), ``parse_value`` reads a ``--set`` value, ``flatten`` gives the dotted
keys MLflow params use. Pure: no torch, no component imports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class FrozenParams(dict[str, Any]):
    """A read-only dict (hashable by content) used for component parameters."""

    def _readonly(self, *_: object, **__: object) -> None:
        raise TypeError("spec parameters are read-only; use TrialSpec.with_overrides()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (FrozenParams, (dict(self),))


def freeze(value: Any) -> Any:
    """Mappings -> sorted ``FrozenParams``, lists -> tuples, recursively."""
    if isinstance(value, Mapping):
        return FrozenParams((k, freeze(value[k])) for k in sorted(value))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists (JSON-able)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def label_value(value: Any) -> str:
    """Arm label text of a value: strings bare, everything else as JSON (true, 0.5, 3)."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_value(raw: str) -> Any:
    """``--set`` value: JSON where it parses (numbers, true/false/null, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> one level of dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
