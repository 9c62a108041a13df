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
    model = create_model(
        name, n_features=3, seq_len=5, horizon=2, hidden_size=6, num_layers=3, revin=False
    )
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


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_revin_makes_the_forecast_follow_the_target_level(name: str) -> None:
    """With RevIN (the default for seq_len >= 2) a level shift of the window shifts the forecast
    by the same amount; that is what keeps a recurrent model sane when the test period leaves
    the training range. Without RevIN it does not."""
    torch.manual_seed(0)
    x = torch.randn(6, 8, 2)
    shifted = x.clone()
    shifted[..., 0] += 50.0
    with_revin = create_model(name, n_features=2, seq_len=8, horizon=3).eval()
    plain = create_model(name, n_features=2, seq_len=8, horizon=3, revin=False).eval()
    assert with_revin.revin is not None and plain.revin is None
    with torch.no_grad():
        torch.testing.assert_close(with_revin(shifted), with_revin(x) + 50.0, rtol=0, atol=1e-3)
        assert (plain(shifted) - plain(x) - 50.0).abs().max() > 1.0


def test_revin_defaults_off_for_a_single_step_window() -> None:
    assert create_model("lstm", n_features=2, seq_len=1, horizon=1).revin is None
    assert create_model("lstm", n_features=2, seq_len=2, horizon=1).revin is not None
