"""Monte-Carlo dropout (Gal & Ghahramani 2016): predict with the mean of T stochastic passes.

Only dropout *modules* (``nn.Dropout``, ``nn.Dropout1d/2d/3d``, ``nn.AlphaDropout``,
``nn.FeatureAlphaDropout``) are switched to train mode; every other module stays in eval mode,
so normalisation layers neither use batch statistics nor update running statistics. Note that
the inter-layer dropout built into ``nn.RNN/LSTM/GRU(dropout=...)`` is not a module and
follows the RNN's own (eval) mode, i.e. it is off during MC prediction; models that want it
sampled should use ``nn.Dropout`` modules.

The prediction lives here, in two forms that sample the same modules (:func:`sample_dropout`):
``predict`` (validation and test: the mean of T passes, one after another) and
``forecaster`` (the trial's logged model, :class:`MCDropoutForecaster`: the same mean in one
batched pass, which ``torch.export`` traces as one graph).
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


def sample_dropout(model: nn.Module) -> None:
    """Put ``model`` in eval mode except its dropout modules (:data:`DROPOUT_TYPES`), which
    sample their masks: the mode of every MC-dropout pass."""
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()


class MCDropoutForecaster(nn.Module):
    """Mean of ``samples`` MC-dropout passes (Gal & Ghahramani 2016) in one batched pass: the
    batch is repeated ``samples`` times, so each copy draws its own dropout masks. The wrapped
    model is in eval mode except its dropout modules (:func:`sample_dropout`)."""

    def __init__(self, model: nn.Module, samples: int) -> None:
        super().__init__()
        sample_dropout(model)
        self.model = model
        self.samples = int(samples)
        #: how it predicts, in words (the logged model's ``prediction`` metadata)
        self.prediction = f"mean of {self.samples} MC-dropout passes"

    def extra_repr(self) -> str:
        return f"samples={self.samples}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = self.model(x.repeat(self.samples, *([1] * (x.dim() - 1))))
        return y.reshape(self.samples, b, *y.shape[1:]).mean(dim=0)


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
        sample_dropout(model)
        try:
            return torch.stack([model(x) for _ in range(self.samples)]).mean(dim=0)
        finally:
            for m, mode in modes:
                m.training = mode

    def forecaster(self, model: nn.Module) -> nn.Module:
        """:class:`MCDropoutForecaster` of ``model`` with this regularizer's ``samples``."""
        return MCDropoutForecaster(model, self.samples)
