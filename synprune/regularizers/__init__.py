"""Regularizers: the hooks the training loop calls, the built-ins, and synaptic pruning.

Registry ``regularizer`` with the built-ins ``none``, ``dropout``, ``mc_dropout`` and
``synaptic`` (registered here, by explicit imports). Plugins register with::

    @register_regularizer("my_reg")
    class MyReg(Regularizer): ...

This package imports neither Ray nor MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synprune.registry import Registry
from synprune.regularizers.base import Regularizer
from synprune.regularizers.dropout import DropoutRegularizer, NoRegularizer
from synprune.regularizers.mc_dropout import MCDropoutRegularizer
from synprune.regularizers.schedules import cubic_sparsity
from synprune.regularizers.selection import select_prunable
from synprune.regularizers.synaptic import SynapticPruning, SynapticRegularizer

_REGISTRY: Registry[Regularizer] = Registry("regularizer")


def register_regularizer(
    name: str,
) -> Callable[[Callable[..., Regularizer]], Callable[..., Regularizer]]:
    """Decorator registering a ``Regularizer`` factory (usually the class) under ``name``."""
    return _REGISTRY.register(name)


def create_regularizer(name: str, /, **params: Any) -> Regularizer:
    """Build the regularizer registered as ``name`` with its params (validated there)."""
    return _REGISTRY.create(name, **params)


def list_regularizers() -> list[str]:
    """Registered names, sorted."""
    return _REGISTRY.names()


for _cls in (NoRegularizer, DropoutRegularizer, MCDropoutRegularizer, SynapticRegularizer):
    register_regularizer(_cls.name)(_cls)
del _cls

__all__ = [
    "DropoutRegularizer",
    "MCDropoutRegularizer",
    "NoRegularizer",
    "Regularizer",
    "SynapticPruning",
    "SynapticRegularizer",
    "create_regularizer",
    "cubic_sparsity",
    "list_regularizers",
    "register_regularizer",
    "select_prunable",
]
