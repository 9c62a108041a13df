"""One conformance test for every registered model (docs/ARCHITECTURE.md, "Models")."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synprune.errors import FieldError
from synprune.models import create_model, list_models, model_fields

# (seq_len, horizon, n_features): a single step, a short window, the paper's standard length.
CASES = [(1, 1, 1), (7, 3, 2), (96, 4, 3)]
BATCH = 4


def _model(name: str, seq_len: int, horizon: int, n_features: int, **kw: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, n_features=n_features, seq_len=seq_len, horizon=horizon, **kw)


def _x(seq_len: int, n_features: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, seq_len, n_features, generator=g)


def test_registered_names() -> None:
    assert set(list_models()) >= {"rnn", "lstm", "gru", "patchtst"}


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("seq_len", "horizon", "n_features"), CASES)
def test_shape_backward_and_eval_determinism(
    name: str, seq_len: int, horizon: int, n_features: int
) -> None:
    model = _model(name, seq_len, horizon, n_features, dropout=0.2)
    x = _x(seq_len, n_features)

    model.train()
    y = model(x)
    assert y.shape == (BATCH, horizon)
    assert y.dtype == torch.float32
    y.pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"

    model.eval()
    with torch.no_grad():
        y1, y2 = model(x), model(x)
    assert torch.isfinite(y1).all()
    assert torch.equal(y1, y2)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("seq_len", "horizon", "n_features"), CASES[:2])
def test_dropout_p_is_honoured(name: str, seq_len: int, horizon: int, n_features: int) -> None:
    x = _x(seq_len, n_features)

    plain = _model(name, seq_len, horizon, n_features, dropout=0.0).train()
    with torch.no_grad():
        assert torch.equal(plain(x), plain(x)), "p=0 must make train mode deterministic"

    p = 0.5
    noisy = _model(name, seq_len, horizon, n_features, dropout=p).train()
    dropouts = [m for m in noisy.modules() if isinstance(m, nn.Dropout)]
    assert dropouts, f"{name} has no nn.Dropout module"
    assert {m.p for m in dropouts} == {p}
    # Every dropout is an nn.Dropout module that MC dropout can switch on: no probability is
    # hidden inside fused recurrent cells or the attention module.
    for m in noisy.modules():
        if isinstance(m, nn.RNNBase | nn.MultiheadAttention):
            assert m.dropout == 0.0
    with torch.no_grad():
        assert not torch.equal(noisy(x), noisy(x)), "p>0 must make train mode stochastic"


@pytest.mark.parametrize("name", list_models())
def test_dropout_module_count(name: str) -> None:
    model = _model(name, 7, 2, 1, dropout=0.1, num_layers=2)
    n = sum(isinstance(m, nn.Dropout) for m in model.modules())
    if name == "patchtst":
        assert n == 1 + 3 * 2 + 1  # positional, (attention, ff inner, ff residual) x 2, head
    else:
        assert n == 2  # between the two layers + before the head


COMMON_BAD = [
    ("n_features", {"n_features": 0}),
    ("seq_len", {"seq_len": 0}),
    ("horizon", {"horizon": -1}),
    ("horizon", {"horizon": 2.5}),
    ("dropout", {"dropout": 1.0}),
    ("dropout", {"dropout": -0.1}),
    ("num_layers", {"num_layers": 0}),
    ("num_layers", {"num_layers": True}),
]
SPECIFIC_BAD = {
    "rnn": [("hidden_size", {"hidden_size": 0})],
    "patchtst": [
        ("patch_len", {"patch_len": 8}),  # > seq_len = 7
        ("patch_len", {"patch_len": 0}),
        ("stride", {"stride": 0}),
        ("stride", {"patch_len": 4, "stride": 5}),  # would skip inputs
        ("n_heads", {"d_model": 30, "n_heads": 4}),
        ("d_model", {"d_model": 0}),
        ("d_ff", {"d_ff": 0}),
        ("norm", {"norm": "group"}),
        ("revin", {"revin": "yes"}),
    ],
}
SPECIFIC_BAD["lstm"] = SPECIFIC_BAD["gru"] = SPECIFIC_BAD["rnn"]


@pytest.mark.parametrize("name", list_models())
def test_bad_arguments_raise_value_error_naming_the_argument(name: str) -> None:
    base = {"n_features": 2, "seq_len": 7, "horizon": 2}
    for arg, bad in COMMON_BAD + SPECIFIC_BAD.get(name, []):
        with pytest.raises(FieldError, match=arg) as info:
            create_model(name, **{**base, **bad})
        assert isinstance(info.value, ValueError)
        assert (info.value.field, info.value.value) == (arg, bad[arg])
        assert str(info.value).startswith(f"{arg}={bad[arg]!r} is invalid; allowed: ")
    with pytest.raises(FieldError, match="no_such_arg=3 is invalid") as info:
        create_model(name, **base, no_such_arg=3)
    assert set(model_fields(name)) <= set(info.value.allowed.split(": ")[1].split(", "))
    with pytest.raises(FieldError, match=f"model='not-{name}'.*gru, lstm, patchtst, rnn"):
        create_model(f"not-{name}", **base)


@pytest.mark.parametrize("name", list_models())
def test_bad_input_shape_raises(name: str) -> None:
    model = _model(name, 7, 2, 2)
    with pytest.raises(ValueError, match="n_features=2"):
        model(torch.randn(BATCH, 7, 3))
    with pytest.raises(ValueError, match="seq_len=7"):
        model(torch.randn(BATCH, 6, 2))


@pytest.mark.parametrize("name", list_models())
def test_channel_zero_is_the_target(name: str) -> None:
    """Channel 0 always drives the forecast. The RNNs read every channel; PatchTST is channel
    independent, so in eval mode (BatchNorm on running statistics) other channels are inert."""
    model = _model(name, 7, 2, 3).eval()
    x = _x(7, 3)
    other, target = x.clone(), x.clone()
    other[:, :, 1:] += torch.randn_like(other[:, :, 1:])
    target[:, :, 0] += torch.randn_like(target[:, :, 0])
    with torch.no_grad():
        y, y_other, y_target = model(x), model(other), model(target)
    assert not torch.allclose(y, y_target)
    if name == "patchtst":
        assert torch.allclose(y, y_other, atol=1e-6)
    else:
        assert not torch.allclose(y, y_other)


@pytest.mark.parametrize("name", list_models())
def test_model_fields_list_the_architecture_arguments(name: str) -> None:
    """The config layer resolves specs from ``model_fields``; its defaults must build."""
    arch = model_fields(name)
    assert arch, f"{name} exposes no architecture arguments"
    assert not {"n_features", "seq_len", "horizon", "dropout", "cell", "self"} & set(arch)
    model = create_model(name, n_features=1, seq_len=5, horizon=1, **arch)
    assert model(torch.randn(2, 5, 1)).shape == (2, 1)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("seq_len", [1, 14, 96])
def test_resolved_arch_rebuilds_the_same_model(name: str, seq_len: int) -> None:
    """``resolved_arch()`` names every architecture field as built (``None`` defaults resolved
    from seq_len); building from it gives the same architecture."""
    model = _model(name, seq_len, 2, 2)
    arch = model.resolved_arch()
    assert set(arch) == set(model_fields(name)) and None not in arch.values()
    again = _model(name, seq_len, 2, 2, **arch)
    assert again.resolved_arch() == arch
    assert [(n, p.shape) for n, p in again.named_parameters()] == [
        (n, p.shape) for n, p in model.named_parameters()
    ]
