"""Monte-Carlo dropout (Gal & Ghahramani 2016): predict with the mean of T stochastic passes.

Only dropout *modules* (``nn.Dropout``, ``nn.Dropout1d/2d/3d``, ``nn.AlphaDropout``,
``nn.FeatureAlphaDropout``) are switched to train mode; every other module stays in eval mode,
so normalisation layers neither use batch statistics nor update running statistics. Note that
the inter-layer dropout built into ``nn.RNN/LSTM/GRU(dropout=...)`` is not a module and
follows the RNN's own (eval) mode, i.e. it is off during MC prediction; models that want it
sampled should use ``nn.Dropout`` modules.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from synprune.regularizers.base import check_int, check_real
from synprune.regularizers.dropout import DropoutRegularizer
from synprune.regularizers.registry import register_regularizer

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


#: the most stochastic passes per prediction (each is one forward pass over the test windows)
MAX_SAMPLES = 10_000


@register_regularizer("mc_dropout")
class MCDropoutRegularizer(DropoutRegularizer):
    """``mc_dropout``: dropout ``p`` in (0, 1) while training; ``predict`` = mean of ``samples``
    (T in [1, 10000]) passes with only the dropout modules in train mode (modes restored
    afterwards)."""

    def __init__(self, *, p: float = 0.3, samples: int = 30) -> None:  # p: the paper's code
        self.p = check_real("p", p, 0.0, 1.0, low_open=True, high_open=True)
        self.samples = check_int("samples", samples, 1, MAX_SAMPLES)

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "samples": self.samples}

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        for m in model.modules():
            if isinstance(m, DROPOUT_TYPES):
                m.train()
        try:
            return torch.stack([model(x) for _ in range(self.samples)]).mean(dim=0)
        finally:
            for m, mode in modes:
                m.training = mode
