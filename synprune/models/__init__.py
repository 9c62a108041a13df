"""Forecasting models: ``create_model(name, *, n_features, seq_len, horizon, dropout, **arch)``.

Registered: ``rnn``, ``lstm``, ``gru`` (``RecurrentForecaster``) and ``patchtst`` (``PatchTST``).
Every model maps ``x[B, L, C]`` to the next ``H`` values of channel 0 (the target). Built-ins
register here by explicit imports; importing this package needs neither Ray nor MLflow.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from synprune.models.patchtst import PatchTST, default_arch
from synprune.models.registry import MODELS, create_model, list_models, register_model
from synprune.models.rnn import DEFAULT_HIDDEN_SIZE, DEFAULT_NUM_LAYERS, RecurrentForecaster

__all__ = [
    "MODELS",
    "PatchTST",
    "RecurrentForecaster",
    "create_model",
    "default_arch",
    "list_models",
    "register_model",
]


def _recurrent(cell: str) -> Callable[..., nn.Module]:
    """A registry factory building ``RecurrentForecaster(cell, ...)``."""

    def factory(
        *,
        n_features: int,
        seq_len: int,
        horizon: int,
        dropout: float = 0.0,
        hidden_size: int = DEFAULT_HIDDEN_SIZE,
        num_layers: int = DEFAULT_NUM_LAYERS,
        revin: bool | None = None,
    ) -> nn.Module:
        return RecurrentForecaster(
            cell,  # type: ignore[arg-type]
            n_features=n_features,
            seq_len=seq_len,
            horizon=horizon,
            dropout=dropout,
            hidden_size=hidden_size,
            num_layers=num_layers,
            revin=revin,
        )

    factory.__name__ = f"create_{cell}"
    factory.__doc__ = f"{cell.upper()} forecaster (see synprune.models.rnn)."
    return factory


for _cell in ("rnn", "lstm", "gru"):
    register_model(_cell)(_recurrent(_cell))
register_model("patchtst")(PatchTST)
