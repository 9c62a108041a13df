"""Composite regularizers ``a+b``: params keyed by part, validation per part, hook order,
merged model_kwargs / metrics / tensor_sparsity, predict from at most one part."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from synprune.errors import FieldError
from synprune.regularizers import (
    REGULARIZERS,
    CompositeRegularizer,
    Regularizer,
    create_regularizer,
    is_composite,
    list_regularizers,
    parts,
    register_regularizer,
    regularizer_fields,
)

CALLS: list[tuple[str, str, int]] = []


class Recorder(Regularizer):
    """Appends (name, hook, step) to CALLS; settled after ``settle_at`` steps."""

    def __init__(self, *, settle_at: int = 0) -> None:
        self.settle_at, self.steps = settle_at, 0

    def attach(self, model: nn.Module, total_steps: int, optimizer: Any = None) -> None:
        CALLS.append((self.name, "attach", total_steps))

    def after_optimizer_step(self, step: int) -> None:
        self.steps = step
        CALLS.append((self.name, "step", step))

    def settled(self) -> bool:
        return self.steps >= self.settle_at

    def metrics(self) -> dict[str, float]:
        return {"steps": float(self.steps), f"{self.name}_only": 1.0}

    def tensor_sparsity(self) -> dict[str, float]:
        return {"w": 0.25 if self.name == "rec_a" else 0.5}

    def params(self) -> dict[str, Any]:
        return {"settle_at": self.settle_at}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]


class Predictor(Recorder):
    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 2), 7.0)


@pytest.fixture
def recorders() -> Iterator[None]:
    register_regularizer("rec_a")(type("RecA", (Recorder,), {}))
    register_regularizer("rec_b")(type("RecB", (Recorder,), {}))
    register_regularizer("pred")(Predictor)
    CALLS.clear()
    yield
    for n in ("rec_a", "rec_b", "pred"):
        REGULARIZERS.unregister(n)


def test_params_keyed_by_part_and_round_trip() -> None:
    reg = create_regularizer("synaptic+dropout", synaptic={"final_sparsity": 0.6},
                             dropout={"p": 0.3})  # fmt: skip
    assert isinstance(reg, CompositeRegularizer) and reg.name == "synaptic+dropout"
    assert list(reg.parts) == ["synaptic", "dropout"]
    assert reg.model_kwargs() == {"dropout": 0.3}  # synaptic sets nothing
    assert reg.params()["dropout"] == {"p": 0.3}
    assert reg.params()["synaptic"]["final_sparsity"] == 0.6
    assert create_regularizer("synaptic+dropout", **reg.params()).params() == reg.params()
    default = create_regularizer("synaptic+dropout")  # a missing part takes its defaults
    assert default.params()["dropout"] == {"p": 0.3}


def test_names_helpers_and_fields() -> None:
    assert "synaptic+dropout" not in list_regularizers()
    assert is_composite("synaptic+dropout") and not is_composite("synaptic")
    assert parts("mc_dropout+synaptic") == ["mc_dropout", "synaptic"]
    assert parts("dropout") == ["dropout"]
    fields = regularizer_fields("synaptic+dropout")
    assert fields["dropout"] == {"p": 0.3} == regularizer_fields("dropout")
    assert fields["synaptic"]["max_tensor_sparsity"] == 1.0
    assert fields["synaptic"]["score"] == "magnitude"
    assert fields["synaptic"]["early_stop_during_schedule"] is False
    for bad in ("synaptic+bogus", "synaptic+synaptic", "synaptic+", "+dropout", "", "l2"):
        with pytest.raises(FieldError) as info:
            parts(bad)
        assert (info.value.field, info.value.value) == ("regularizer", bad)
        with pytest.raises(FieldError, match="regularizer="):
            create_regularizer(bad)
    with pytest.raises(ValueError, match=r"may not contain '\+'"):
        register_regularizer("a+b")(Recorder)


def test_each_part_validated_by_its_constructor_with_a_prefix() -> None:
    with pytest.raises(FieldError) as info:
        create_regularizer("synaptic+dropout", dropout={"p": 1.2})
    err = info.value
    assert (err.field, err.value, err.prefix) == ("p", 1.2, "dropout.")
    assert str(err) == "dropout.p=1.2 is invalid; allowed: a number in [0, 1)"
    assert str(err.with_prefix("configs/x.toml: regularizers.")).startswith(
        "configs/x.toml: regularizers.dropout.p=1.2 is invalid"
    )
    with pytest.raises(FieldError, match=r"^synaptic\.wobble=1 is invalid; allowed: a field"):
        create_regularizer("synaptic+dropout", synaptic={"wobble": 1})
    with pytest.raises(FieldError, match=r"mc_dropout=\{.*allowed: a part of 'synaptic\+drop"):
        create_regularizer("synaptic+dropout", mc_dropout={"p": 0.1})
    with pytest.raises(FieldError, match=r"^dropout=0\.3 is invalid; allowed: a table"):
        create_regularizer("synaptic+dropout", dropout=0.3)


def test_conflicting_model_kwargs_refused() -> None:
    with pytest.raises(FieldError, match=r"'dropout' differently \(here none sets 0\.0 and dr"):
        create_regularizer("none+dropout")
    # issue 20.15: mc_dropout IS dropout (plus MC prediction): the pair is refused, whatever p
    for p in (0.1, 0.2):
        with pytest.raises(FieldError, match="would train exactly like mc_dropout alone"):
            create_regularizer("dropout+mc_dropout", dropout={"p": 0.2}, mc_dropout={"p": p})


def test_hooks_in_name_order_and_merged_results(recorders: None) -> None:
    reg = create_regularizer("rec_b+rec_a", rec_b={"settle_at": 3}, rec_a={"settle_at": 1})
    model = nn.Linear(3, 2)
    reg.attach(model, total_steps=5)
    for step in (1, 2, 3):
        assert reg.settled() == (step > 3)  # all parts settled: rec_b needs 3 steps
        reg.after_optimizer_step(step)
    assert reg.settled()
    assert CALLS == [
        ("rec_b", "attach", 5), ("rec_a", "attach", 5),
        ("rec_b", "step", 1), ("rec_a", "step", 1),
        ("rec_b", "step", 2), ("rec_a", "step", 2),
        ("rec_b", "step", 3), ("rec_a", "step", 3),
    ]  # fmt: skip
    assert reg.metrics() == {
        "rec_b.steps": 3.0, "rec_b_only": 1.0, "rec_a.steps": 3.0, "rec_a_only": 1.0,
    }  # fmt: skip
    assert reg.tensor_sparsity() == {"w": 0.5}  # the largest fraction of any part
    assert reg.state_dict() == {"rec_b": {"steps": 3}, "rec_a": {"steps": 3}}
    x = torch.randn(4, 3)
    assert torch.equal(reg.predict(model, x), model.eval()(x).detach())  # default predict
    other = create_regularizer("rec_b+rec_a")
    other.load_state_dict(reg.state_dict())
    assert other.state_dict() == reg.state_dict()
    with pytest.raises(ValueError, match="expected"):
        other.load_state_dict({"rec_b": {"steps": 1}})


def test_at_most_one_part_overrides_predict(recorders: None) -> None:
    reg = create_regularizer("rec_a+pred")
    x = torch.randn(4, 3)
    assert torch.equal(reg.predict(nn.Linear(3, 2), x), torch.full((4, 2), 7.0))
    with pytest.raises(FieldError, match=r"at most one overrides predict \(here: mc_dropout, p"):
        create_regularizer("mc_dropout+pred")


def test_synaptic_plus_dropout_trains(tiny_forecaster: type) -> None:
    reg = create_regularizer("synaptic+dropout", synaptic={"final_sparsity": 0.6,
                             "prune_every": 2}, dropout={"p": 0.3})  # fmt: skip
    torch.manual_seed(0)
    model = tiny_forecaster(**reg.model_kwargs())
    assert model.drop.p == 0.3
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    reg.attach(model, total_steps=20, optimizer=opt)
    for step in range(1, 21):
        opt.zero_grad()
        model(torch.randn(8, 6, 3)).pow(2).mean().backward()
        opt.step()
        reg.after_optimizer_step(step)
    pruner = reg.parts["synaptic"].pruner
    assert reg.metrics() == {
        "sparsity": math.floor(0.6 * pruner.num_prunable) / pruner.num_prunable
    }
    assert reg.tensor_sparsity() == pruner.tensor_sparsity() and reg.settled()
    state = copy.deepcopy(reg.state_dict())
    assert set(state) == {"synaptic", "dropout"} and state["dropout"] == {}
