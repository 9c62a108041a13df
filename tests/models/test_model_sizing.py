"""Architectures too large for memory are refused on the meta device, naming the field."""

from __future__ import annotations

import pytest
import torch

from synprune.errors import FieldError
from synprune.models import create_model, list_models, model_fields
from synprune.models.registry import get_model_factory
from synprune.models.sizing import (
    BYTES_PER_PARAMETER,
    ENV_LIMIT,
    check_fits,
    format_bytes,
    memory_limit_bytes,
    meta_parameter_count,
)


def lstm_params(c: int, h: int, layers: int, horizon: int) -> int:
    """Hand count: per layer 4h(in + h) weights + 8h biases; head h*H + H; RevIN 2C."""
    per = [4 * h * ((c if i == 0 else h) + h) + 8 * h for i in range(layers)]
    return sum(per) + h * horizon + horizon + 2 * c


def test_meta_count_equals_the_real_model_and_the_hand_count() -> None:
    kw = {"n_features": 3, "seq_len": 5, "horizon": 2, "dropout": 0.0, "hidden_size": 7}
    n = meta_parameter_count(get_model_factory("lstm"), kw)
    real = create_model("lstm", **kw)
    assert n == sum(p.numel() for p in real.parameters()) == lstm_params(3, 7, 2, 2)


def test_huge_hidden_size_is_refused_naming_the_field() -> None:
    with pytest.raises(FieldError) as info:
        create_model("lstm", n_features=1, seq_len=4, horizon=1, hidden_size=10_000_000)
    err = info.value
    assert (err.field, err.value) == ("hidden_size", 10_000_000)
    n = lstm_params(1, 10_000_000, 2, 1)
    assert f"{n:.1e} parameters" in err.allowed
    assert f"~{format_bytes(n * BYTES_PER_PARAMETER)} for weights" in err.allowed
    assert format_bytes(n * BYTES_PER_PARAMETER) == "19.2 PB"  # 1.2e15 parameters
    assert str(err).startswith("hidden_size=10000000 is invalid; allowed: a size whose model")


def test_the_responsible_field_is_named_among_several_given() -> None:
    # num_layers=3 alone is harmless; d_model=8192 * d_ff=200000 is what does not fit
    arch = {"num_layers": 3, "d_model": 8192, "n_heads": 8, "d_ff": 200_000}
    with pytest.raises(FieldError) as info:
        create_model("patchtst", n_features=1, seq_len=16, horizon=1, **arch)
    assert info.value.field in {"d_ff", "d_model"}


def test_explicit_limit_and_environment_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    factory = get_model_factory("gru")
    runtime = {"n_features": 2, "seq_len": 3, "horizon": 1, "dropout": 0.0}
    arch = {"hidden_size": 100, "num_layers": 1}  # default 64 x 2 layers
    n = check_fits("gru", factory, runtime, arch, model_fields("gru"))
    assert n == 3 * 100 * (2 + 100) + 6 * 100 + 100 + 1 + 4  # GRU gates, biases, head, RevIN
    assert check_fits("gru", factory, runtime, arch, model_fields("gru"), limit=n * 16) == n
    with pytest.raises(FieldError, match="hidden_size=100 is invalid") as info:
        check_fits("gru", factory, runtime, arch, model_fields("gru"), limit=n * 16 - 1)
    assert f"limit {format_bytes(n * 16 - 1)})" in info.value.allowed
    # no given field whose default is smaller: the model itself is named
    with pytest.raises(FieldError, match="model='gru' is invalid; allowed: an architecture"):
        check_fits("gru", factory, runtime, {"hidden_size": 8}, model_fields("gru"), limit=10)
    assert [format_bytes(x) for x in (999, 1000, 1536, 2.5e9)] == [
        "999 B", "1.0 KB", "1.5 KB", "2.5 GB",
    ]  # fmt: skip

    monkeypatch.setenv(ENV_LIMIT, "1000")
    assert memory_limit_bytes() == 1000
    with pytest.raises(FieldError, match="hidden_size"):
        create_model("gru", **runtime, hidden_size=100)
    monkeypatch.setenv(ENV_LIMIT, "lots")
    with pytest.raises(FieldError, match=ENV_LIMIT):
        memory_limit_bytes()
    monkeypatch.delenv(ENV_LIMIT)
    assert memory_limit_bytes() > 2**28  # physical memory (or cgroup limit) of this machine


@pytest.mark.parametrize("name", list_models())
def test_meta_check_leaves_seeded_initialisation_unchanged(name: str) -> None:
    """The meta build draws no random numbers: create_model under a seed gives the weights a
    plain construction under the same seed gives."""
    kw = {"n_features": 2, "seq_len": 6, "horizon": 2, "dropout": 0.1}
    torch.manual_seed(3)
    a = create_model(name, **kw)
    torch.manual_seed(3)
    b = get_model_factory(name)(**kw)
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), n
