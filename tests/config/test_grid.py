"""[grid] swept fields, extra arms and composites (issue 12): counts, arm labels, refusals."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from synprune.config.loader import SweepConfig, load_config
from synprune.errors import ConfigError

HEAD = """
experiment = "g"
[grid]
model = ["lstm", "rnn"]
dataset = ["synthetic"]
seq_len = [8]
seed = [0, 1]
"""
TABLES = """
[train]
epochs = 2
[regularizers.synaptic]
final_sparsity = 0.7
prune_every = 3
[regularizers.dropout]
p = 0.3
"""


def load(tmp_path: Path, grid: str, tables: str = TABLES, name: str = "g.toml") -> SweepConfig:
    p = tmp_path / name
    p.write_text(HEAD + grid + tables)
    return load_config(p)


def refused(tmp_path: Path, grid: str, tables: str = TABLES) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, grid, tables)
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'g.toml'}: ") and len(msg.splitlines()) == 1, msg
    return msg


def test_swept_fields_multiply_only_their_regularizer(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'regularizer = ["none", "dropout", "synaptic"]\n'
        "regularizers.dropout.p = [0.1, 0.5]\n"
        "regularizers.synaptic.final_sparsity = [0.2, 0.4, 0.6]\n"
        'regularizers.synaptic.schedule = ["ease_in", "ease_out"]\n',
    )
    specs = cfg.specs()
    # per (model, seed): none 1 + dropout 2 + synaptic 3 x 2
    assert len(specs) == 2 * 2 * (1 + 2 + 6)
    counts = Counter(s.arm for s in specs)
    assert counts["none"] == 4  # none is not repeated
    assert counts["dropout[p=0.1]"] == 4 and counts["dropout[p=0.5]"] == 4
    assert counts["synaptic[final_sparsity=0.4,schedule=ease_out]"] == 4
    assert len(counts) == 1 + 2 + 6
    s = next(s for s in specs if s.arm == "synaptic[final_sparsity=0.4,schedule=ease_out]")
    assert s.regularizer.params["final_sparsity"] == 0.4
    assert s.regularizer.params["prune_every"] == 3  # the table still applies
    assert s.swept == ("regularizer.final_sparsity", "regularizer.schedule")
    assert len({x.spec_id for x in specs}) == len(specs)


def test_nested_toml_tables_are_the_same_grid(tmp_path: Path) -> None:
    dotted = load(
        tmp_path,
        'regularizer = ["none", "synaptic"]\nregularizers.synaptic.final_sparsity = [0.1, 0.3]\n',
        name="a.toml",
    )
    nested = load(
        tmp_path,
        'regularizer = ["none", "synaptic"]\n'
        "[grid.regularizers.synaptic]\nfinal_sparsity = [0.1, 0.3]\n",
        name="b.toml",
    )
    a = [(s.spec_id, s.arm) for s in dotted.specs()]
    b = [(s.spec_id, s.arm) for s in nested.specs()]
    assert a == b and len(a) == 2 * 2 * 3
    assert dotted.fingerprint == nested.fingerprint


def test_model_and_train_sweeps_label_every_arm(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'regularizer = ["none", "dropout"]\n'
        "models.lstm.hidden_size = [8, 16]\n"
        "train.lr = [0.001, 0.0003]\n",
    )
    specs = cfg.specs()
    # lstm 2 sizes + rnn 1, x 2 lr x 2 regularizers x 2 seeds
    assert len(specs) == (2 + 1) * 2 * 2 * 2
    arms = {s.arm for s in specs if s.model.name == "lstm"}
    assert "none[model.hidden_size=8,train.lr=0.0003]" in arms
    assert "dropout[model.hidden_size=16,train.lr=0.001]" in arms
    assert {s.arm for s in specs if s.model.name == "rnn"} == {
        f"{r}[train.lr={lr}]" for r in ("none", "dropout") for lr in (0.001, 0.0003)
    }
    assert {s.model.params["hidden_size"] for s in specs if s.model.name == "lstm"} == {8, 16}


def test_extra_arms_cross_only_the_fixed_axes(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'regularizer = ["none", "synaptic"]\n'
        "regularizers.synaptic.final_sparsity = [0.2, 0.4]\n"
        "[[grid.extra]]\n"
        'regularizer = "synaptic"\n'
        'schedule = "ease_out"\n'
        "final_sparsity = 0.8\n"
        "[[grid.extra]]\n"
        'regularizer = "dropout"\n'
        "p = [0.1, 0.2]\n",
    )
    specs = cfg.specs()
    counts = Counter(s.arm for s in specs)
    assert counts == {
        arm: 4
        for arm in (
            "none",
            "synaptic[final_sparsity=0.2]",
            "synaptic[final_sparsity=0.4]",
            "synaptic[final_sparsity=0.8,schedule=ease_out]",
            "dropout[p=0.1]",
            "dropout[p=0.2]",
        )
    }
    extra = next(s for s in specs if s.arm.startswith("synaptic[final_sparsity=0.8"))
    assert extra.regularizer.params["schedule"] == "ease_out"
    assert extra.regularizer.params["prune_every"] == 3  # tables apply to extra arms too


def test_the_same_trial_twice_is_refused(tmp_path: Path) -> None:
    msg = refused(
        tmp_path,
        'regularizer = ["synaptic"]\n'
        "regularizers.synaptic.final_sparsity = [0.2, 0.7]\n"
        '[[grid.extra]]\nregularizer = "synaptic"\nprune_every = 3\n',
    )
    assert "same trial twice" in msg
    assert "synaptic[final_sparsity=0.7]" in msg and "synaptic[prune_every=3]" in msg


def test_composite_takes_part_tables_but_not_part_sweeps(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'regularizer = ["synaptic", "synaptic+dropout"]\n'
        "regularizers.synaptic.final_sparsity = [0.2, 0.4]\n",
        TABLES + '[regularizers."synaptic+dropout".dropout]\np = 0.1\n',
    )
    specs = cfg.specs()
    combo = [s for s in specs if s.regularizer.name == "synaptic+dropout"]
    assert len(combo) == 4 and {s.arm for s in combo} == {"synaptic+dropout"}
    params = combo[0].regularizer.params
    assert params["synaptic"]["final_sparsity"] == 0.7  # [regularizers.synaptic]
    assert params["synaptic"]["prune_every"] == 3
    assert params["dropout"]["p"] == 0.1  # the composite's own table over [regularizers.dropout]
    swept = load(
        tmp_path,
        'regularizer = ["synaptic+dropout"]\n'
        'regularizers."synaptic+dropout".synaptic.final_sparsity = [0.3, 0.5]\n',
    )
    arms = Counter(s.arm for s in swept.specs())
    assert arms == {
        "synaptic+dropout[synaptic.final_sparsity=0.3]": 4,
        "synaptic+dropout[synaptic.final_sparsity=0.5]": 4,
    }


def test_composite_errors_name_the_part_key(tmp_path: Path) -> None:
    msg = refused(
        tmp_path,
        'regularizer = ["synaptic+dropout"]\n',
        TABLES + '[regularizers."synaptic+dropout".synaptic]\nfinal_sparsity = 1.5\n',
    )
    assert '[regularizers."synaptic+dropout"].synaptic.final_sparsity=1.5 is invalid' in msg
    msg = refused(
        tmp_path,
        'regularizer = ["synaptic+dropout"]\n'
        'regularizers."synaptic+dropout".dropout.p = [0.3, 1.0]\n',
    )
    assert '[grid].regularizers."synaptic+dropout".dropout.p=1.0 is invalid' in msg


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        (
            'regularizer = ["synaptic"]\nregularizers.synaptic.final_sparsityy = [0.1]\n',
            "[grid].regularizers.synaptic.final_sparsityy=0.1 is invalid; allowed: a field of "
            "regularizer 'synaptic': early_stop_during_schedule, end_frac, final_sparsity",
        ),
        (
            'regularizer = ["synaptic"]\nregularizers.synaptic.final_sparsity = [0.1, 1.1]\n',
            "[grid].regularizers.synaptic.final_sparsity=1.1 is invalid; allowed: a number in "
            "[0, 1)",
        ),
        (
            'regularizer = ["none"]\nregularizers.synaptic.final_sparsity = [0.1]\n',
            "[grid].regularizers.synaptic sweeps a regularizer that is not on the "
            "[grid].regularizer axis",
        ),
        (
            'regularizer = ["none"]\nmodels.gru.hidden_size = [4]\n',
            "[grid].models.gru sweeps a model that is not on the [grid].model axis",
        ),
        (
            'regularizer = ["none"]\nmodels.lstm.hidden_size = [4, 0]\n',
            "for seq_len=8, horizon=1: [grid].models.lstm.hidden_size=0 is invalid",
        ),
        (
            'regularizer = ["none"]\nmodels.lstm.hidden_sise = [4]\n',
            "[grid].models.lstm.hidden_sise=4 is invalid; allowed: a field of model 'lstm'",
        ),
        (
            'regularizer = ["none"]\ntrain.lr = [0.1, -1]\n',
            "[grid].train.lr=-1 is invalid; allowed: a number in (0, 10]",
        ),
        (
            'regularizer = ["none"]\ntrain.lrr = [0.1]\n',
            "[grid].train.lrr=0.1 is invalid; allowed: a train field",
        ),
        (
            'regularizer = ["synaptic"]\nregularizers.synaptic.final_sparsity = []\n',
            "[grid].regularizers.synaptic.final_sparsity is empty",
        ),
        (
            'regularizer = ["none"]\n[[grid.extra]]\nregularizer = "dropout"\np = 2.0\n',
            "[grid.extra][0].p=2.0 is invalid; allowed: a number in [0, 1)",
        ),
        (
            'regularizer = ["none"]\n[[grid.extra]]\nregularizer = "l2"\np = 0.1\n',
            "[grid.extra][0].regularizer='l2' is invalid; allowed: a registered regularizer",
        ),
        ('regularizer = ["none"]\n[[grid.extra]]\np = 0.1\n', "[grid.extra][0].regularizer is"),
        (
            'regularizer = ["synaptic"]\nregularizers.synaptic.start_frac = [0.1, 0.85]\n',
            "with [grid].regularizers.synaptic.start_frac=0.85: [regularizers.synaptic]."
            "end_frac=0.8 is invalid; allowed: a number in (0.85, 1]",
        ),
        (
            'regularizer = ["none"]\ncolour = ["red"]\n',
            "unknown key [grid].colour; allowed: cut, dataset, extra, horizon, model, models",
        ),
    ],
)
def test_bad_sweeps_name_file_key_and_allowed(tmp_path: Path, grid: str, expected: str) -> None:
    msg = refused(tmp_path, grid)
    assert expected in msg, msg


def test_swept_fields_do_not_change_spec_id_but_change_the_fingerprint(tmp_path: Path) -> None:
    fixed = load(tmp_path, 'regularizer = ["synaptic"]\n', name="a.toml")
    swept = load(
        tmp_path,
        'regularizer = ["synaptic"]\nregularizers.synaptic.final_sparsity = [0.7]\n',
        name="b.toml",
    )
    a, b = fixed.specs(), swept.specs()
    assert [s.spec_id for s in a] == [s.spec_id for s in b]  # same trials ...
    assert {s.arm for s in a} == {"synaptic"}
    assert {s.arm for s in b} == {"synaptic[final_sparsity=0.7]"}  # ... other labels
    assert fixed.fingerprint != swept.fingerprint
    assert (
        fixed.fingerprint
        == load(tmp_path, 'regularizer = ["synaptic"]\n', name="c.toml").fingerprint
    )
    assert len(fixed.fingerprint) == 16
    more = load(tmp_path, 'regularizer = ["synaptic", "none"]\n', name="d.toml")
    assert more.fingerprint != fixed.fingerprint


def test_swept_fields_win_over_the_tuned_file(tmp_path: Path) -> None:
    tuned = '{"tuned": {"lstm": {"synthetic": {"synaptic": {"params": '
    tuned += '{"final_sparsity": 0.55, "prune_every": 7}}}}}}'
    (tmp_path / "t.json").write_text(tuned)
    p = tmp_path / "g.toml"
    p.write_text(
        'tuned = "t.json"\n'
        + HEAD
        + 'regularizer = ["synaptic"]\nregularizers.synaptic.final_sparsity = [0.2]\n'
        + TABLES
    )
    specs = load_config(p).specs()
    lstm = [s.regularizer.params for s in specs if s.model.name == "lstm"]
    rnn = [s.regularizer.params for s in specs if s.model.name == "rnn"]
    assert {(x["final_sparsity"], x["prune_every"]) for x in lstm} == {(0.2, 7)}
    assert {(x["final_sparsity"], x["prune_every"]) for x in rnn} == {(0.2, 3)}
