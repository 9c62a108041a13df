"""Baselines: no regularization (``none``) and standard dropout (``dropout``).

Both only tell the model factory which dropout probability to build with
(``model_kwargs()``); prediction is one deterministic pass in eval mode.
"""

from __future__ import annotations

from typing import Any

from synprune.regularizers.base import Regularizer, check_real
from synprune.regularizers.registry import register_regularizer


@register_regularizer("none")
class NoRegularizer(Regularizer):
    """``none``: the model is built with ``dropout=0.0`` and nothing else happens."""

    def model_kwargs(self) -> dict[str, Any]:
        return {"dropout": 0.0}


@register_regularizer("dropout")
class DropoutRegularizer(Regularizer):
    """``dropout``: the model is built with dropout probability ``p`` in [0, 1)."""

    def __init__(self, *, p: float = 0.3) -> None:  # default: the paper's code
        self.p = check_real("p", p, 0.0, 1.0, high_open=True)

    def model_kwargs(self) -> dict[str, Any]:
        return {"dropout": self.p}

    def params(self) -> dict[str, Any]:
        return {"p": self.p}
