"""The model registry: ``register_model``, ``create_model``, ``list_models``, ``model_fields``.

A model registers itself where it is defined (timm's habit)::

    @register_model("lstm")
    class LSTMForecaster(RecurrentForecaster): ...

and ``synprune/models/__init__.py`` imports the defining modules explicitly (no directory
scanning). The factory (usually the class) is called as ``factory(n_features=..., seq_len=...,
horizon=..., dropout=..., **arch)`` and returns an ``nn.Module`` with
``forward(x[B, L, C]) -> y[B, H]`` forecasting channel 0.

The architecture fields of a model and their defaults are read from the factory's signature
(:func:`model_fields`), so they are written once, in the model's ``__init__``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from synprune.models.sizing import check_fits, parameter_count
from synprune.registry import Registry

MODELS: Registry[nn.Module] = Registry("model", forbidden="+")

#: Arguments every factory takes that are set by the trial, not by the model's config table.
RUNTIME_ARGS: tuple[str, ...] = ("n_features", "seq_len", "horizon", "dropout")

#: Marks a field without a default in :func:`model_fields` (a plugin's required argument).
REQUIRED = inspect.Parameter.empty

F = Callable[..., nn.Module]


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering a model factory (usually the class) under ``name``.

    Duplicates and names containing ``+`` are refused. The factory must accept the keyword
    arguments ``n_features``, ``seq_len``, ``horizon`` and ``dropout``; its other keyword
    arguments are the model's architecture fields (``None`` default = resolved from seq_len).
    """
    inner = MODELS.register(name)

    def decorator(factory: F) -> F:
        params = _keyword_params(factory)
        missing = [a for a in RUNTIME_ARGS if a not in params]
        if missing and not _has_var_keyword(factory):
            raise ValueError(
                f"model factory {factory!r} for {name!r} lacks keyword argument(s) "
                f"{', '.join(missing)}"
            )
        return inner(factory)

    return decorator


def get_model_factory(name: str) -> F:
    """The factory registered under ``name``; ``FieldError`` listing the names if unknown."""
    return MODELS.get(name)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


def _keyword_params(factory: F) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(factory)
    return {
        n: p
        for n, p in sig.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    }


def _has_var_keyword(factory: F) -> bool:
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(factory).parameters.values()
    )


def model_fields(name: str) -> dict[str, Any]:
    """``{architecture field: default}`` of model ``name``, from its factory's signature.

    Excludes the runtime arguments (:data:`RUNTIME_ARGS`). A default of ``None`` means
    "resolved from seq_len by the model" (e.g. PatchTST's ``default_arch``); a field without
    default maps to :data:`REQUIRED`. The config layer uses this to know which
    ``models.<name>.<field>`` keys exist and to fill in defaults (e.g. for ``spec_id``).
    """
    params = _keyword_params(get_model_factory(name))
    return {n: p.default for n, p in params.items() if n not in RUNTIME_ARGS}


def create_model(
    name: str,
    *,
    n_features: int,
    seq_len: int,
    horizon: int,
    dropout: float = 0.0,
    **arch: Any,
) -> nn.Module:
    """Build model ``name`` for windows ``x[B, seq_len, n_features]`` -> ``y[B, horizon]``.

    Channel 0 of the input is the target. ``arch`` holds model-specific architecture fields
    (see :func:`model_fields`). Every bad input raises :class:`~synprune.errors.FieldError`
    (a ``ValueError``) naming the field, its value and what is allowed: an unknown model or
    field, a value out of range (from the model's own checks), and an architecture too large
    for memory (:mod:`synprune.models.sizing`; checked on the meta device before anything
    is allocated).
    """
    factory = get_model_factory(name)
    fields = model_fields(name)
    if not _has_var_keyword(factory):
        MODELS.refuse_unknown(name, arch, fields)
    runtime: dict[str, Any] = {"n_features": n_features, "seq_len": seq_len, "horizon": horizon}
    runtime["dropout"] = dropout
    if torch.get_default_device().type == "meta":  # sizing: one build, counted as it is
        model = factory(**runtime, **arch)
        check_fits(name, factory, runtime, arch, fields, count=parameter_count(model))
        return model
    check_fits(name, factory, runtime, arch, fields)
    return factory(**runtime, **arch)
