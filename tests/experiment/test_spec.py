"""TrialSpec: validation at the boundary, canonical identity, overrides."""

from __future__ import annotations

import pickle

import pytest

from synprune.errors import ConfigError
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec


def _spec(**kw: object) -> TrialSpec:
    base: dict[str, object] = {
        "dataset": "synthetic",
        "model": ComponentSpec("lstm", {"hidden_size": 16}),
        "regularizer": ComponentSpec("synaptic", {"final_sparsity": 0.5}),
        "seq_len": 8,
    }
    base.update(kw)
    return TrialSpec(**base)  # type: ignore[arg-type]


def test_spec_id_is_stable_and_fills_defaults() -> None:
    a = _spec()
    b = _spec()
    assert a.spec_id == b.spec_id and len(a.spec_id) == 16
    # spelling out a default gives the same trial, hence the same id
    defaults = dict(a.regularizer.params)
    c = _spec(regularizer=ComponentSpec("synaptic", defaults))
    assert c.spec_id == a.spec_id
    assert _spec(seed=1).spec_id != a.spec_id
    assert "prune_every" in a.regularizer.params  # resolved defaults are part of the identity


def test_round_trips_through_dict_and_pickle() -> None:
    a = _spec(horizon=3, train=TrainSpec(epochs=2, lr=0.01))
    assert TrialSpec.from_dict(a.to_dict()) == a
    b = pickle.loads(pickle.dumps(a))
    assert b == a and b.spec_id == a.spec_id
    flat = a.flat_params()
    assert flat["train.lr"] == 0.01 and flat["regularizer.name"] == "synaptic"
    assert flat["model.params.hidden_size"] == 16


def test_spec_is_frozen() -> None:
    a = _spec()
    with pytest.raises(AttributeError):
        a.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.model.params["hidden_size"] = 3  # type: ignore[index]


def test_overrides_apply_and_validate() -> None:
    a = _spec()
    b = a.with_overrides(
        ["train.lr=0.005", "regularizer.final_sparsity=0.9", "model.hidden_size=8", "seed=4"]
    )
    assert b.train.lr == 0.005 and b.seed == 4
    assert b.regularizer.params["final_sparsity"] == 0.9
    assert b.model.params["hidden_size"] == 8
    c = a.with_overrides(["regularizer.name=dropout", "regularizer.p=0.3"])
    assert c.regularizer.name == "dropout" and c.regularizer.params["p"] == 0.3


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["regularizer.final_sparsity=1.2"], "final_sparsity"),
        (["train.lr=-1"], "train.lr"),
        (["train.epochs=0"], "train.epochs"),
        (["train.bogus=1"], "train.bogus"),
        (["model.bogus=1"], "model.bogus"),
        (["nonsense=1"], "nonsense"),
        (["seq_len=0"], "seq_len"),
        (["novalue"], "key=value"),
    ],
)
def test_bad_overrides_name_the_field(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        _spec().with_overrides(overrides)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"dataset": "nope"}, "dataset='nope'.*bitcoin"),
        ({"model": ComponentSpec("transformerxl")}, "model='transformerxl'.*lstm"),
        ({"regularizer": ComponentSpec("l2")}, "regularizer='l2'.*synaptic"),
        ({"dataset": "csv:/tmp/x.csv"}, "target"),
        ({"horizon": 0}, "horizon"),
        ({"seed": -1}, "seed"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_specs_are_refused_with_the_field_name(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        _spec(**kw)


def test_from_dict_refuses_unknown_fields() -> None:
    d = _spec().to_dict()
    d["colour"] = "red"
    with pytest.raises(ConfigError, match="colour"):
        TrialSpec.from_dict(d)
