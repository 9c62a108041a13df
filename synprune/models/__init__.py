"""Forecasting models: ``create_model(name, *, n_features, seq_len, horizon, dropout, **arch)``.

Registered: ``rnn``, ``lstm``, ``gru`` (``RecurrentForecaster`` subclasses) and ``patchtst``
(``PatchTST``). Every model maps ``x[B, L, C]`` to the next ``H`` values of channel 0 (the
target). Each model registers itself with ``@register_model(name)`` where it is defined; the
explicit imports below are what registers the built-ins. ``model_fields(name)`` lists a model's
architecture fields and defaults. Importing this package needs neither Ray nor MLflow.
"""

from __future__ import annotations

from synprune.models.patchtst import PatchTST, default_arch
from synprune.models.registry import (
    MODELS,
    RUNTIME_ARGS,
    create_model,
    get_model_factory,
    list_models,
    model_fields,
    register_model,
)
from synprune.models.rnn import (
    GRUForecaster,
    LSTMForecaster,
    RecurrentForecaster,
    RNNForecaster,
)

__all__ = [
    "MODELS",
    "RUNTIME_ARGS",
    "GRUForecaster",
    "LSTMForecaster",
    "PatchTST",
    "RNNForecaster",
    "RecurrentForecaster",
    "create_model",
    "default_arch",
    "get_model_factory",
    "list_models",
    "model_fields",
    "register_model",
]
