"""RNN / LSTM / GRU specifics: stacked layers equal the fused cuDNN-style module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synprune.models import RecurrentForecaster, create_model


@pytest.mark.parametrize(("name", "cls"), [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_stack_matches_fused_multilayer_cell(name: str, cls: type[nn.RNNBase]) -> None:
    """Separate per-layer cells with nn.Dropout between them compute what
    ``cls(num_layers=N, dropout=p)`` computes (checked at p=0, where both are deterministic)."""
    torch.manual_seed(0)
    model = create_model(name, n_features=3, seq_len=5, horizon=2, hidden_size=6, num_layers=3)
    assert isinstance(model, RecurrentForecaster)
    fused = cls(input_size=3, hidden_size=6, num_layers=3, batch_first=True)
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(fused, f"{kind}_l{i}").copy_(getattr(layer, f"{kind}_l0"))
    x = torch.randn(4, 5, 3)
    with torch.no_grad():
        expected = model.head(fused(x)[0][:, -1, :])
        torch.testing.assert_close(model(x), expected)


def test_single_layer_still_has_head_dropout() -> None:
    torch.manual_seed(0)
    model = create_model("lstm", n_features=1, seq_len=4, horizon=1, dropout=0.5, num_layers=1)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 and drops[0] is model.head_dropout
    x = torch.randn(8, 4, 1)
    with torch.no_grad():
        assert not torch.equal(model.train()(x), model(x))
