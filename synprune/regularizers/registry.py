"""The regularizer registry: register by decorator where a regularizer is defined, create by
name (composites ``a+b`` included), and introspect fields without building anything.

Public functions (the config layer calls these; none builds a model):

* ``register_regularizer(name)``: class/factory decorator; a class gets ``name`` as its
  ``.name`` unless it defines one. Duplicates and names containing ``+`` are refused.
* ``create_regularizer(name, **params)``: a registered name with its fields as keywords, or a
  composite ``"a+b"`` with ``params = {"a": {...}, "b": {...}}`` (a missing part takes its
  defaults). Every bad input raises :class:`~synprune.errors.FieldError`; a part's error
  carries the prefix ``"<part>."`` (e.g. ``dropout.p=1.2 is invalid; ...``).
* ``list_regularizers()``: the registered names (no composites).
* ``is_composite(name)``: ``"+" in name``. ``parts(name)``: the validated part names
  (``[name]`` for a registered name).
* ``regularizer_fields(name)``: ``{field: default}`` from the constructor's signature; for a
  composite ``{part: {field: default}}`` -- the same shape as its params.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from synprune.errors import FieldError
from synprune.registry import Registry
from synprune.regularizers.base import Regularizer
from synprune.regularizers.composite import CompositeRegularizer

SEPARATOR = "+"
REGULARIZERS: Registry[Regularizer] = Registry("regularizer", forbidden=SEPARATOR)

F = Callable[..., Regularizer]


def register_regularizer(name: str) -> Callable[[F], F]:
    """Decorator registering a ``Regularizer`` factory (usually the class) under ``name``."""
    inner = REGULARIZERS.register(name)

    def decorator(factory: F) -> F:
        inner(factory)  # refuses duplicates before anything is changed
        if isinstance(factory, type) and "name" not in vars(factory):
            factory.name = name  # type: ignore[attr-defined]
        return factory

    return decorator


def list_regularizers() -> list[str]:
    """Registered names, sorted (composites are not listed: any ``a+b`` of them works)."""
    return REGULARIZERS.names()


def is_composite(name: str) -> bool:
    """Whether ``name`` joins several parts with ``+`` (not validated: see :func:`parts`)."""
    return isinstance(name, str) and SEPARATOR in name


def parts(name: str) -> list[str]:
    """The registered names ``name`` is made of, in hook order: ``[name]`` for a registered
    name, ``["a", "b"]`` for ``"a+b"``; ``FieldError`` (field ``regularizer``) otherwise."""
    allowed = (
        f"a registered regularizer ({', '.join(list_regularizers())}) or distinct ones "
        f"joined by {SEPARATOR!r}"
    )
    if not isinstance(name, str):
        raise FieldError("regularizer", name, allowed)
    items = name.split(SEPARATOR)
    if any(i not in REGULARIZERS for i in items) or len(set(items)) != len(items):
        raise FieldError("regularizer", name, allowed)
    return items


def _fields_of(factory: F) -> dict[str, Any] | None:
    """``{keyword: default}`` of ``factory`` (``None`` if it takes ``**kwargs``)."""
    sig = inspect.signature(factory)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {
        n: p.default
        for n, p in sig.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    }


def regularizer_fields(name: str) -> dict[str, Any]:
    """``{field: default}`` of regularizer ``name`` (its ``regularizers.<name>.<field>`` config
    keys; ``inspect.Parameter.empty`` for a field without default; ``{}`` for a factory taking
    ``**kwargs``); for a composite ``{part: that part's fields}``."""
    names = parts(name)
    if len(names) > 1:
        return {p: regularizer_fields(p) for p in names}
    return _fields_of(REGULARIZERS.get(name)) or {}


def _create_one(name: str, params: Mapping[str, Any]) -> Regularizer:
    factory = REGULARIZERS.get(name)
    fields = _fields_of(factory)
    if fields is not None:
        REGULARIZERS.refuse_unknown(name, params, fields)
    reg = factory(**params)
    if getattr(reg, "name", "base") == "base":
        reg.name = name
    return reg


def create_regularizer(name: str, /, **params: Any) -> Regularizer:
    """Build regularizer ``name`` (registered, or a composite ``a+b`` with params keyed by
    part: ``create_regularizer("synaptic+dropout", synaptic={...}, dropout={...})``); every
    field is validated by the part's own constructor. See the module docstring."""
    names = parts(name)
    if len(names) == 1:
        return _create_one(name, params)
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise FieldError(
            unknown[0],
            params[unknown[0]],
            f"a part of {name!r} ({', '.join(names)}), each given as a table of its fields",
        )
    built: dict[str, Regularizer] = {}
    for part in names:
        sub = params.get(part, {})
        if not isinstance(sub, Mapping):
            raise FieldError(part, sub, f"a table of {part}'s fields")
        try:
            built[part] = _create_one(part, sub)
        except FieldError as err:
            raise err.with_prefix(f"{part}.") from None
    return CompositeRegularizer(built)
