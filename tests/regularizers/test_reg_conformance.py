"""Every registered regularizer, and composites of them, pass the same contract; MC dropout
averages T passes."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from torch import nn

from synprune.regularizers import (
    Regularizer,
    create_regularizer,
    list_regularizers,
    register_regularizer,
    regularizer_fields,
)
from synprune.regularizers.synaptic_regularizer import SynapticRegularizer

STEPS = 20


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    else:
        assert a == b


def train(reg: Regularizer, model: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    g = torch.Generator().manual_seed(0)
    for step in range(1, steps + 1):
        x, y = torch.randn(8, 6, 3, generator=g), torch.randn(8, 2, generator=g)
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        penalty = reg.loss_penalty()  # as the training loop: after the forward pass
        assert penalty is None or (penalty.dim() == 0 and penalty.requires_grad)
        (loss if penalty is None else loss + penalty).backward()
        opt.step()
        reg.after_optimizer_step(step)


def test_builtins_registered() -> None:
    assert set(list_regularizers()) >= {
        *("none", "dropout", "mc_dropout", "synaptic", "weight_decay", "l1")
    }


def test_duplicate_registration_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_regularizer("dropout")(Regularizer)


#: every registered regularizer, plus composites (parts' hooks in name order)
CONFORMING = [
    *list_regularizers(),
    *("synaptic+dropout", "mc_dropout+synaptic", "dropout+synaptic"),
    *("synaptic+l1", "dropout+weight_decay", "synaptic+weight_decay", "l1+weight_decay"),
]


@pytest.mark.parametrize("name", CONFORMING)
def test_conformance(name: str, tiny_forecaster: type) -> None:
    reg = create_regularizer(name)
    assert isinstance(reg, Regularizer) and reg.name == name
    kwargs = reg.model_kwargs()
    assert set(kwargs) <= {"dropout"}  # the only model argument a built-in sets
    assert isinstance(kwargs.get("dropout", 0.0), float) and 0.0 <= kwargs.get("dropout", 0) < 1
    assert create_regularizer(name, **reg.params()).params() == reg.params()  # spec round trip
    fields = regularizer_fields(name)  # the config keys: the params' shape, without building
    if "+" in name:
        assert set(fields) == set(reg.params()) == set(name.split("+"))
        assert all(set(fields[p]) == set(reg.params()[p]) for p in fields)
    else:
        assert set(fields) == set(reg.params())
    opt_kwargs = reg.optimizer_kwargs()
    assert set(opt_kwargs) <= {"weight_decay"}  # the only optimizer argument a built-in sets
    assert 0.0 <= opt_kwargs.get("weight_decay", 0.0) <= 100
    assert 0.0 <= reg.settle_fraction() <= 1.0
    torch.manual_seed(0)
    model = tiny_forecaster(**kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, **opt_kwargs)
    reg.attach(model, total_steps=STEPS, optimizer=opt)
    train(reg, model, opt, STEPS)
    metrics = reg.metrics()
    assert all(isinstance(k, str) and isinstance(v, float) for k, v in metrics.items())
    sparsity = reg.tensor_sparsity()
    assert all(isinstance(k, str) and 0.0 <= v <= 1.0 for k, v in sparsity.items())
    assert set(sparsity) <= {n for n, _ in model.named_parameters()}
    assert isinstance(reg.settled(), bool)
    x = torch.randn(5, 6, 3)
    model.train()
    y = reg.predict(model, x)
    assert y.shape == (5, 2) and torch.isfinite(y).all() and not y.requires_grad
    assert model.training  # predict restores the mode

    model2 = copy.deepcopy(model)
    reg2 = create_regularizer(name, **reg.params())
    reg2.attach(model2, total_steps=STEPS, optimizer=torch.optim.Adam(model2.parameters()))
    reg2.load_state_dict(copy.deepcopy(reg.state_dict()))
    assert_same(reg2.state_dict(), reg.state_dict())
    assert reg2.metrics() == metrics and reg2.tensor_sparsity() == sparsity
    assert reg2.settled() == reg.settled()
    # repr names the class and every constructor keyword with its value (params round trip)
    text = repr(reg)
    assert text.startswith(type(reg).__name__ + "(") and text.endswith(")")
    for key, value in reg.params().items():
        assert f"{key}={value!r}" in text, (key, text)


def test_synaptic_reaches_final_sparsity_and_resumes(tiny_forecaster: type) -> None:
    reg = create_regularizer("synaptic", final_sparsity=0.6, prune_every=3)
    assert reg.model_kwargs() == {}  # sets nothing: the model's default dropout=0.0 applies
    model = tiny_forecaster()
    opt = torch.optim.Adam(model.parameters())
    reg.attach(model, total_steps=STEPS, optimizer=opt)
    assert isinstance(reg, SynapticRegularizer) and reg.pruner is not None
    assert (reg.pruner.start_step, reg.pruner.end_step) == (2, 16)
    train(reg, model, opt, STEPS)
    n = reg.pruner.num_prunable
    assert reg.metrics() == {"sparsity": math.floor(0.6 * n) / n}
    # state loaded before attach is applied by attach
    reg2 = create_regularizer("synaptic", final_sparsity=0.6, prune_every=3)
    reg2.load_state_dict(reg.state_dict())
    reg2.attach(copy.deepcopy(model), total_steps=STEPS)
    assert reg2.metrics() == reg.metrics() and reg2.pruner.current_step == STEPS
    with pytest.raises(RuntimeError, match="step"):
        reg2.after_optimizer_step(1)  # out of sync with the pruner's counter


@pytest.mark.parametrize("total", [1, 2, 3, 7, 10, 100, 12345])
def test_synaptic_step_bounds_valid_for_any_total(total: int) -> None:
    for start_frac, end_frac in [(0.1, 0.8), (0.0, 1.0), (0.9, 0.95), (0.5, 0.51)]:
        reg = SynapticRegularizer(start_frac=start_frac, end_frac=end_frac)
        start, end = reg.step_bounds(total)
        assert 0 <= start < end <= total


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(torch.relu(self.bn(self.fc(x)))))


def test_mc_dropout_is_mean_of_t_passes_with_only_dropout_in_train_mode() -> None:
    torch.manual_seed(0)
    net, x, T = Net(), torch.randn(6, 4), 7
    reg = create_regularizer("mc_dropout", p=0.5, samples=T)
    net.train()
    net.bn.eval()  # a mixed mode, to check each module's mode is restored
    bn_stats = (net.bn.running_mean.clone(), net.bn.running_var.clone())
    torch.manual_seed(42)
    got = reg.predict(net, x)
    assert net.training and not net.bn.training and net.drop.training and net.fc.training
    assert torch.equal(net.bn.running_mean, bn_stats[0])  # norm layers did not update
    assert torch.equal(net.bn.running_var, bn_stats[1])

    manual = copy.deepcopy(net).eval()
    manual.drop.train()
    with torch.no_grad():
        torch.manual_seed(42)
        passes = torch.stack([manual(x) for _ in range(T)])
        torch.manual_seed(42)
        single = manual(x)
        deterministic = manual.eval()(x)
    torch.testing.assert_close(got, passes.mean(0), rtol=0, atol=1e-6)
    assert not torch.allclose(got, single)  # not one pass
    assert not torch.allclose(got, deterministic)  # dropout was really active
    assert passes.std(0).max() > 0


def test_plain_predict_is_deterministic_eval_pass() -> None:
    torch.manual_seed(0)
    net, x = Net().train(), torch.randn(6, 4)
    for name in ("none", "dropout", "synaptic", "synaptic+dropout"):
        y1, y2 = create_regularizer(name).predict(net, x), create_regularizer(name).predict(net, x)
        assert torch.equal(y1, y2) and net.training
