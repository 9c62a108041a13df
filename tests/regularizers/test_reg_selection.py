"""Prunable tensors are chosen by module type; include/exclude patterns; deduplication."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synprune.regularizers import SynapticPruning, select_prunable

LSTM = [
    f"lstm.weight_{kind}_l{layer}{suffix}"
    for layer in (0, 1)
    for suffix in ("", "_reverse")
    for kind in ("ih", "hh", "hr")
]
EXPECTED = [
    *LSTM,
    "gru.weight_ih_l0", "gru.weight_hh_l0",
    "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1",
    "mha.in_proj_weight", "mha.out_proj.weight",
    "mha_sep.q_proj_weight", "mha_sep.k_proj_weight", "mha_sep.v_proj_weight",
    "mha_sep.out_proj.weight",
    "conv1.weight", "conv2.weight",
    "head.weight",
]  # fmt: skip


def names(model: nn.Module, **kw: object) -> list[str]:
    return [n for n, _ in select_prunable(model, **kw)]  # type: ignore[arg-type]


def test_zoo_selects_exactly_the_weights_by_type(zoo: nn.Module) -> None:
    got = names(zoo)
    assert sorted(got) == sorted(EXPECTED)
    assert len(got) == len(set(got))  # out_proj (a Linear inside MHA) counted once
    order = [n for n, _ in zoo.named_parameters()]
    assert got == [n for n in order if n in set(got)]  # named_parameters order
    for n in got:  # never biases, norms, embeddings or positional parameters
        assert "bias" not in n and not n.startswith(("emb", "pos", "ln", "bn"))


def test_pruner_counts_every_selected_weight_once(zoo: nn.Module) -> None:
    pr = SynapticPruning(zoo, 0.5, start_step=0, end_step=1)
    params = dict(zoo.named_parameters())
    assert pr.num_prunable == sum(params[n].numel() for n in EXPECTED)
    assert set(pr.masks) == set(EXPECTED)
    assert all(pr.masks[n].shape == params[n].shape for n in EXPECTED)


def test_names_do_not_matter_only_types() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight_ih_l0 = nn.Parameter(torch.randn(4, 4))  # RNN-like name, not an RNN
            self.linear_weight = nn.Parameter(torch.randn(4, 4))
            self.linear = nn.LayerNorm(4)  # "linear" by name, a norm by type
            self.proj = nn.Linear(4, 4)

    assert names(Custom()) == ["proj.weight"]


def test_shared_parameters_deduplicated() -> None:
    a, b = nn.Linear(5, 5), nn.Linear(5, 5)
    b.weight = a.weight  # tied
    model = nn.Sequential(a, nn.ReLU(), b)
    assert names(model) == ["0.weight"]
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1)
    assert pr.num_prunable == 25


def test_include_adds_and_exclude_removes(zoo: nn.Module) -> None:
    got = names(zoo, include=["emb.weight"], exclude="lstm.*")
    assert "emb.weight" in got
    assert not any(n.startswith("lstm.") for n in got)
    assert set(got) == (set(EXPECTED) - set(LSTM)) | {"emb.weight"}
    # regex patterns ("re:" prefix, full match); exclude wins over include
    got = names(zoo, include=r"re:rnn\.bias_ih_l\d", exclude=[r"re:rnn\.bias_ih_l1"])
    assert "rnn.bias_ih_l0" in got and "rnn.bias_ih_l1" not in got


def test_pattern_matching_nothing_is_an_error(zoo: nn.Module) -> None:
    with pytest.raises(ValueError, match="include='nope' is invalid; allowed: a pattern"):
        select_prunable(zoo, include="nope")
    with pytest.raises(ValueError, match="exclude"):
        select_prunable(zoo, exclude=["re:(unclosed"])


def test_excluding_everything_names_the_allowed_types(zoo: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"nothing to prune.*nn\.Linear.*LSTM"):
        select_prunable(zoo, exclude="*")
