"""``weight_decay`` (AdamW's decoupled decay, set in one place) and ``l1`` (a penalty on the
prunable weights): hand-computed values, composites, settle fractions and config errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from synprune.errors import FieldError
from synprune.experiment.train import make_optimizer
from synprune.regularizers import (
    CompositeRegularizer,
    L1Regularizer,
    Regularizer,
    WeightDecayRegularizer,
    create_regularizer,
)


def test_weight_decay_is_one_decoupled_adamw_step_by_hand() -> None:
    """Loshchilov & Hutter 2019, Alg. 2: p1 = p0 - lr*wd*p0 - lr * m_hat / (sqrt(v_hat) + eps);
    on the first step m_hat = g and v_hat = g**2."""
    lr, wd, eps = 0.1, 0.2, 1e-8
    w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    opt = make_optimizer([w], lr, create_regularizer("weight_decay", weight_decay=wd))
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == wd
    g = torch.tensor([0.3, -0.4, 0.0], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    p0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    hand = p0 - lr * wd * p0 - lr * g / (g.abs() + eps)
    # [1 - 0.02 - 0.1, -2 + 0.04 + 0.1, 0.5 - 0.01 - 0]
    assert torch.allclose(w.detach(), hand, rtol=0, atol=1e-12)
    assert torch.allclose(hand, torch.tensor([0.88, -1.86, 0.49], dtype=torch.float64))


def test_no_weight_decay_is_exactly_adam() -> None:
    """The loop's AdamW with weight_decay=0 (every regularizer but weight_decay) updates
    bit-for-bit as the Adam the loop used before."""
    finals = []
    for build in (
        lambda ps: make_optimizer(ps, 1e-2, create_regularizer("none")),
        lambda ps: torch.optim.Adam(ps, lr=1e-2),
    ):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
        opt = build(model.parameters())
        g = torch.Generator().manual_seed(1)
        for _ in range(25):
            opt.zero_grad()
            x, y = torch.randn(16, 5, generator=g), torch.randn(16, 2, generator=g)
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        finals.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*finals, strict=True))


def test_l1_penalty_and_gradient_by_hand() -> None:
    """l1 * (|W1| + |W2|) over the Linear weights only: no bias, no LayerNorm."""
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))
        model[0].bias.copy_(torch.tensor([100.0, -100.0]))
        model[2].weight.copy_(torch.tensor([[-0.5, 0.25]]))
        model[2].bias.fill_(7.0)
    reg = create_regularizer("l1", l1=0.01)
    assert isinstance(reg, L1Regularizer)
    reg.attach(model, total_steps=1)
    penalty = reg.loss_penalty()
    assert penalty is not None
    assert penalty.item() == pytest.approx(0.01 * (1 + 2 + 0 + 3 + 0.5 + 0.25))
    assert reg.metrics() == {"l1_norm": pytest.approx(6.75)}
    penalty.backward()
    assert torch.equal(model[0].weight.grad, 0.01 * torch.tensor([[1.0, -1.0], [0.0, 1.0]]))
    assert torch.equal(model[2].weight.grad, 0.01 * torch.tensor([[-1.0, 1.0]]))
    assert model[0].bias.grad is None and model[1].weight.grad is None


def test_l1_covers_exactly_the_prunable_tensors(tiny_forecaster: type) -> None:
    model = tiny_forecaster()
    reg = create_regularizer("l1", l1=1.0)
    reg.attach(model, total_steps=1)
    pruner = create_regularizer("synaptic")
    pruner.attach(model, total_steps=10)
    names = {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "head.weight"}
    assert set(pruner.tensor_sparsity()) == names  # what synaptic may prune
    weights = dict(model.named_parameters())
    hand = sum(float(weights[n].detach().abs().sum()) for n in names)
    assert reg.loss_penalty().item() == pytest.approx(hand, rel=1e-6)


def test_l1_needs_attach() -> None:
    with pytest.raises(RuntimeError, match="attach"):
        create_regularizer("l1").loss_penalty()


def test_composites_merge_penalties_and_optimizer_kwargs(tiny_forecaster: type) -> None:
    model = tiny_forecaster()
    both = create_regularizer("synaptic+l1", l1={"l1": 0.5})
    alone = create_regularizer("l1", l1=0.5)
    both.attach(model, total_steps=10)
    alone.attach(model, total_steps=10)
    assert both.loss_penalty().item() == alone.loss_penalty().item()
    assert create_regularizer("synaptic+dropout").loss_penalty() is None
    wd = create_regularizer("dropout+weight_decay", weight_decay={"weight_decay": 0.05})
    assert wd.optimizer_kwargs() == {"weight_decay": 0.05}
    assert wd.model_kwargs() == {"dropout": 0.3}

    class OtherDecay(Regularizer):  # not a WeightDecayRegularizer: the clash check itself
        def optimizer_kwargs(self) -> dict[str, float]:
            return {"weight_decay": 0.1}

    with pytest.raises(FieldError, match=r"at most one sets optimizer argument 'weight_decay'"):
        CompositeRegularizer({"a": WeightDecayRegularizer(), "b": OtherDecay()})


def test_settle_fractions() -> None:
    assert create_regularizer("none").settle_fraction() == 0.0
    assert create_regularizer("l1").settle_fraction() == 0.0
    assert create_regularizer("synaptic", end_frac=0.7).settle_fraction() == 0.7
    paper = create_regularizer("synaptic", early_stop_during_schedule=True)
    assert paper.settle_fraction() == 0.0
    mixed = create_regularizer("dropout+synaptic", synaptic={"end_frac": 0.6})
    assert mixed.settle_fraction() == 0.6  # the largest part's


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("weight_decay", {"weight_decay": 101}, r"^weight_decay=101 is invalid; .*\[0, 100\]$"),
        ("weight_decay", {"weight_decay": -0.1}, "weight_decay=-0.1"),
        ("weight_decay", {"weight_decay": math.nan}, "weight_decay=nan"),
        ("l1", {"l1": -1e-5}, r"^l1=-1e-05 is invalid; allowed: a number in \[0, 1\]$"),
        ("l1", {"l1": "0.1"}, "l1='0.1'"),
        ("l1", {"p": 0.1}, r"p=0\.1 is invalid; allowed: a field of regularizer 'l1'"),
    ],
)
def test_bad_params(name: str, params: dict, match: str) -> None:
    with pytest.raises(FieldError, match=match):
        create_regularizer(name, **params)
