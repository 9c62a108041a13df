"""TrialSpec: validation at the boundary, resolved architecture, canonical identity, arms,
overrides."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from synprune.errors import ConfigError, FieldError
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.models import list_models
from synprune.regularizers import list_regularizers


def _spec(**kw: object) -> TrialSpec:
    base: dict[str, object] = {
        "dataset": "synthetic",
        "model": ComponentSpec("lstm", {"hidden_size": 16}),
        "regularizer": ComponentSpec("synaptic", {"final_sparsity": 0.5}),
        "seq_len": 8,
    }
    base.update(kw)
    return TrialSpec(**base)  # type: ignore[arg-type]


def _walk(obj: Any, path: str = "") -> list[str]:
    """Paths of every None in a nested dict / list."""
    if obj is None:
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _walk(v, f"{path}.{k}")]
    if isinstance(obj, list | tuple):
        return [p for i, v in enumerate(obj) for p in _walk(v, f"{path}[{i}]")]
    return []


def test_spec_id_is_stable_and_fills_defaults() -> None:
    a = _spec()
    b = _spec()
    assert a.spec_id == b.spec_id and len(a.spec_id) == 16
    # spelling out a default gives the same trial, hence the same id
    c = _spec(regularizer=ComponentSpec("synaptic", dict(a.regularizer.params)))
    assert c.spec_id == a.spec_id
    d = _spec(model=ComponentSpec("lstm", dict(a.model.params)))
    assert d.spec_id == a.spec_id
    assert _spec(seed=1).spec_id != a.spec_id
    assert "prune_every" in a.regularizer.params  # resolved defaults are part of the identity


@pytest.mark.parametrize("model", list_models())
@pytest.mark.parametrize("seq_len", [1, 14, 96])
def test_no_none_anywhere_for_every_model_and_regularizer(model: str, seq_len: int) -> None:
    regs = [*list_regularizers(), "synaptic+dropout"]
    for reg in regs:
        s = TrialSpec(dataset="synthetic", model=model, regularizer=reg, seq_len=seq_len)
        assert _walk(s.to_dict()) == [], (model, reg)
        assert [k for k, v in s.flat_params().items() if v is None] == [], (model, reg)
        assert TrialSpec.from_dict(s.to_dict()) == s


def test_resolved_architecture_is_recorded() -> None:
    """PatchTST's seq_len-dependent defaults (default_arch) are in the spec, not None."""
    p14 = TrialSpec(dataset="synthetic", model="patchtst", regularizer="none", seq_len=14)
    assert p14.model.params["patch_len"] == 4 and p14.model.params["stride"] == 2
    assert p14.model.params["d_model"] == 64 and p14.model.params["revin"] is True
    p96 = TrialSpec(dataset="synthetic", model="patchtst", regularizer="none", seq_len=96)
    assert p96.model.params["patch_len"] == 16 and p96.model.params["n_heads"] == 16
    r1 = TrialSpec(dataset="synthetic", model="rnn", regularizer="none", seq_len=1)
    assert r1.model.params == {"hidden_size": 64, "num_layers": 2, "revin": False}
    # an explicit value stays explicit
    given = ComponentSpec("patchtst", {"patch_len": 2})
    assert TrialSpec("synthetic", given, ComponentSpec("none"), 14).model.params["stride"] == 1


def test_round_trips_through_dict_and_pickle() -> None:
    a = _spec(horizon=3, train=TrainSpec(epochs=2, lr=0.01), swept=("train.lr",))
    assert TrialSpec.from_dict(a.to_dict()) == a
    b = pickle.loads(pickle.dumps(a))
    assert b == a and b.spec_id == a.spec_id and b.arm == a.arm
    flat = a.flat_params()
    assert flat["train.lr"] == 0.01 and flat["regularizer.name"] == "synaptic"
    assert flat["model.params.hidden_size"] == 16
    assert flat["arm"] == "synaptic[train.lr=0.01]" and "swept" not in flat


def test_spec_is_frozen() -> None:
    a = _spec()
    with pytest.raises(AttributeError):
        a.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.model.params["hidden_size"] = 3  # type: ignore[index]


def test_train_defaults_follow_the_paper_code() -> None:
    t = TrainSpec()
    assert (t.batch_size, t.epochs, t.patience, t.lr) == (64, 20, 3, 1e-3)


def test_arm_labels_and_identity() -> None:
    a = _spec()
    assert a.arm == "synaptic" and a.swept == ()
    b = _spec(swept=["regularizer.schedule", "regularizer.final_sparsity"])
    assert b.swept == ("regularizer.final_sparsity", "regularizer.schedule")  # sorted
    assert b.arm == "synaptic[final_sparsity=0.5,schedule=ease_in]"
    assert b.spec_id == a.spec_id  # the label is not the identity
    assert b != a  # but the specs differ (the label travels with the spec)
    c = _spec(
        regularizer=ComponentSpec("dropout", {"p": 0.1}),
        train=TrainSpec(lr=3e-4),
        swept=["regularizer.p", "model.hidden_size", "train.lr"],
    )
    assert c.arm == "dropout[model.hidden_size=16,p=0.1,train.lr=0.0003]"
    assert _spec(regularizer=ComponentSpec("none")).arm == "none"
    with pytest.raises(FieldError, match=r"swept='regularizer\.nope' is invalid"):
        _spec(swept=["regularizer.nope"])
    with pytest.raises(FieldError, match="swept"):
        _spec(swept="train.lr")


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


def test_new_seq_len_re_resolves_the_architecture() -> None:
    a = TrialSpec(dataset="synthetic", model="patchtst", regularizer="none", seq_len=14)
    b = a.with_overrides(["seq_len=60"])
    assert b.model.params["patch_len"] == 15 and b.model.params["stride"] == 7
    c = a.with_overrides(["seq_len=60", "model.patch_len=4"])
    assert c.model.params["patch_len"] == 4 and c.model.params["stride"] == 2


def test_composite_spec_and_part_overrides() -> None:
    a = _spec(regularizer=ComponentSpec("synaptic+dropout"))
    assert set(a.regularizer.params) == {"synaptic", "dropout"}
    b = a.with_overrides(["regularizer.synaptic.final_sparsity=0.5", "regularizer.dropout.p=0.3"])
    assert b.regularizer.params["synaptic"]["final_sparsity"] == 0.5
    assert b.regularizer.params["dropout"]["p"] == 0.3
    s = _spec(
        regularizer=ComponentSpec("synaptic+dropout", {"synaptic": {"final_sparsity": 0.4}}),
        swept=["regularizer.synaptic.final_sparsity"],
    )
    assert s.arm == "synaptic+dropout[synaptic.final_sparsity=0.4]"
    with pytest.raises(FieldError, match=r"regularizer\.synaptic\.final_sparsity=1\.2"):
        a.with_overrides(["regularizer.synaptic.final_sparsity=1.2"])


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["regularizer.final_sparsity=1.2"], r"^regularizer\.final_sparsity=1\.2 is invalid"),
        (["train.lr=-1"], r"^train\.lr=-1 is invalid; allowed: a number in \(0, 10\]"),
        (["train.epochs=0"], r"^train\.epochs=0 is invalid"),
        (["train.bogus=1"], r"^train\.bogus=1 is invalid; allowed: a train field: epochs"),
        (["model.bogus=1"], r"^model\.bogus=1 is invalid; allowed: a field of model 'lstm'"),
        (["regularizer.bogus=1"], r"^regularizer\.bogus=1 is invalid; allowed: .*final_spars"),
        (["nonsense=1"], "nonsense"),
        (["seq_len=0"], r"^seq_len=0 is invalid; allowed: an integer in \[1, 100000\]"),
        (["novalue"], "key=value"),
    ],
)
def test_bad_overrides_name_the_field(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        _spec().with_overrides(overrides)


@pytest.mark.parametrize(
    ("kw", "needle", "prefix"),
    [
        ({"dataset": "nope"}, "dataset='nope'.*bitcoin", ""),
        ({"model": ComponentSpec("transformerxl")}, "model='transformerxl'.*lstm", ""),
        ({"regularizer": ComponentSpec("l2")}, "regularizer='l2'.*synaptic", ""),
        ({"dataset": "csv:/tmp/x.csv"}, "target", ""),
        ({"horizon": 0}, "horizon", ""),
        ({"seed": -1}, "seed", ""),
        ({"workers": 0}, "workers", ""),
        ({"model": ComponentSpec("lstm", {"hidden_size": 0})}, "hidden_size=0", "model."),
        (
            {"model": ComponentSpec("patchtst", {"patch_len": 9})},
            r"patch_len=9.*\[1, 8\]",
            "model.",
        ),
        ({"regularizer": ComponentSpec("dropout", {"p": 1.5})}, r"p=1\.5", "regularizer."),
    ],
)
def test_bad_specs_are_refused_with_the_field_and_its_place(
    kw: dict[str, object], needle: str, prefix: str
) -> None:
    with pytest.raises(FieldError, match=needle) as info:
        _spec(**kw)
    assert info.value.prefix == prefix


def test_from_dict_refuses_unknown_fields() -> None:
    d = _spec().to_dict()
    d["colour"] = "red"
    with pytest.raises(ConfigError, match="colour"):
        TrialSpec.from_dict(d)
