"""The model registry: ``register_model``, ``create_model``, ``list_models``.

Factories are called as ``factory(n_features=..., seq_len=..., horizon=..., dropout=..., **arch)``
and return an ``nn.Module`` with ``forward(x[B, L, C]) -> y[B, H]`` forecasting channel 0.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from synprune.errors import ConfigError
from synprune.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under ``name`` (duplicates are refused)."""
    return MODELS.register(name)


def get_model_factory(name: str) -> Callable[..., nn.Module]:
    """The factory registered under ``name`` (its signature lists the architecture arguments;
    ``None`` defaults mean "resolved from seq_len", e.g. PatchTST's ``default_arch``)."""
    return MODELS.get(name)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


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

    Channel 0 of the input is the target. ``arch`` holds model-specific architecture arguments
    (``hidden_size``, ``num_layers``, ``d_model``, ``patch_len``, ...); an unknown key raises
    ``ConfigError`` (a ``ValueError``) listing the accepted ones, bad values raise from the
    model naming the argument and its allowed range.
    """
    factory = get_model_factory(name)
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = {"n_features", "seq_len", "horizon", "dropout"}
        allowed = sorted(k for k in params if k not in accepted)
        unknown = sorted(set(arch) - set(allowed))
        if unknown:
            raise ConfigError(
                f"model {name!r} has no argument(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(allowed) or '(none)'}"
            )
    return factory(n_features=n_features, seq_len=seq_len, horizon=horizon, dropout=dropout, **arch)
