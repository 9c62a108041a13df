"""Every bad configuration raises FieldError (a ValueError) naming the argument, its value and
the allowed range."""

from __future__ import annotations

from typing import Any

import pytest
from torch import nn

from synprune.errors import FieldError
from synprune.regularizers import SynapticPruning, create_regularizer, cubic_sparsity

GOOD: dict[str, Any] = {"final_sparsity": 0.5, "start_step": 0, "end_step": 10}

PRUNER_BAD = [
    ({"final_sparsity": 1.2}, r"final_sparsity=1\.2 is invalid; allowed: a number in \[0, 1\)"),
    ({"final_sparsity": 1.0}, "final_sparsity"),
    ({"final_sparsity": -0.1}, "final_sparsity"),
    ({"final_sparsity": float("nan")}, "final_sparsity"),
    ({"final_sparsity": "0.5"}, "final_sparsity"),
    ({"initial_sparsity": 0.6}, r"initial_sparsity.*\[0, 0\.5\]"),
    ({"initial_sparsity": -0.1}, "initial_sparsity"),
    ({"start_step": 10, "end_step": 10}, "end_step.*start_step"),
    ({"start_step": 20, "end_step": 10}, "end_step.*start_step"),
    ({"start_step": -1}, r"start_step.*>= 0"),
    ({"start_step": 1.5}, "start_step"),
    ({"prune_every": 0}, r"prune_every.*>= 1"),
    ({"prune_every": True}, "prune_every"),
    ({"schedule": "linear"}, r"schedule.*ease_in.*ease_out"),
    ({"max_tensor_sparsity": 0.0}, r"max_tensor_sparsity=0\.0 .*\(0, 1\]"),
    ({"max_tensor_sparsity": 1.5}, "max_tensor_sparsity"),
    ({"score": "snip"}, r"score='snip' is invalid; allowed: one of magnitude, lamp"),
]


@pytest.mark.parametrize(("override", "match"), PRUNER_BAD)
def test_pruner_bad_config(override: dict[str, Any], match: str) -> None:
    with pytest.raises(FieldError, match=match) as info:
        SynapticPruning(nn.Linear(3, 3), **{**GOOD, **override})
    field = next(iter(override)) if len(override) == 1 else "end_step"
    assert info.value.field == field and repr(info.value.value) == repr(override[field])


def test_nothing_to_prune_names_the_module_types() -> None:
    model = nn.Sequential(nn.LayerNorm(4), nn.Embedding(5, 4))
    with pytest.raises(ValueError, match=r"nothing to prune.*nn\.Linear.*Conv1d.*LSTM"):
        SynapticPruning(model, **GOOD)


def test_model_must_be_a_module() -> None:
    with pytest.raises(FieldError, match="model='not a model' is invalid; allowed: a torch"):
        SynapticPruning("not a model", **GOOD)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 0.1, 1.0, 0, 10), "final_sparsity"),
        ((5, 0.6, 0.5, 0, 10), "initial_sparsity"),
        ((5, 0.0, 0.5, 10, 5), "end_step"),
        ((5, 0.0, 0.5, -3, 5), "start_step"),
        (("5", 0.0, 0.5, 0, 10), "step"),
    ],
)
def test_schedule_bad_args(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cubic_sparsity(*args)
    with pytest.raises(ValueError, match="schedule"):
        cubic_sparsity(5, 0.0, 0.5, 0, 10, schedule="cosine")


REG_BAD = [
    ("dropout", {"p": 1.0}, r"^p=1\.0 is invalid; allowed: a number in \[0, 1\)$"),
    ("dropout", {"p": -0.1}, "p=-0.1 "),
    ("mc_dropout", {"p": 0.0}, r"^p=0\.0 is invalid; allowed: a number in \(0, 1\)$"),
    ("mc_dropout", {"samples": 0}, r"samples=0 is invalid; allowed: an integer in \[1, 10000\]"),
    ("mc_dropout", {"samples": 10**8}, r"samples=100000000 .* in \[1, 10000\]"),
    ("mc_dropout", {"samples": 2.5}, "samples"),
    ("synaptic", {"final_sparsity": 1.2}, "final_sparsity"),
    ("synaptic", {"initial_sparsity": 0.9}, "initial_sparsity"),
    ("synaptic", {"start_frac": 1.0}, r"start_frac.*\[0, 1\)"),
    ("synaptic", {"start_frac": 0.5, "end_frac": 0.5}, r"end_frac.*\(0\.5, 1\]"),
    ("synaptic", {"end_frac": 1.5}, "end_frac"),
    ("synaptic", {"prune_every": 0}, "prune_every"),
    ("synaptic", {"schedule": "linear"}, "schedule"),
    ("synaptic", {"final_sparsity": 0.6, "max_tensor_sparsity": 0.5}, r"\[0\.6, 1\]"),
    ("synaptic", {"score": "random"}, "score='random'"),
    ("synaptic", {"early_stop_during_schedule": 1}, "early_stop_during_schedule=1 .*true or"),
    ("synaptic", {"wobble": 2}, r"wobble=2 is invalid; allowed: a field of .*final_sparsity"),
    ("dropout", {"samples": 3}, r"samples=3 is invalid; allowed: a field of regularizer 'dr"),
]


@pytest.mark.parametrize(("name", "params", "match"), REG_BAD)
def test_regularizer_bad_params(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(FieldError, match=match) as info:
        create_regularizer(name, **params)
    assert info.value.field in params and info.value.value == params[info.value.field]
    prefixed = info.value.with_prefix(f"configs/x.toml: regularizers.{name}.")
    assert str(prefixed).startswith(f"configs/x.toml: regularizers.{name}.{info.value.field}=")


def test_unknown_regularizer_lists_the_registered_ones() -> None:
    with pytest.raises(FieldError, match=r"regularizer='l2'.*mc_dropout.*none.*synaptic"):
        create_regularizer("l2")


def test_synaptic_attach_rejects_bad_total_steps() -> None:
    reg = create_regularizer("synaptic")
    with pytest.raises(ValueError, match="total_steps"):
        reg.attach(nn.Linear(3, 3), total_steps=0)
