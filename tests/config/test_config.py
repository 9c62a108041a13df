"""Sweep config files: shipped configs expand and validate; bad ones are refused with the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synprune.cli.main import main
from synprune.config.loader import load_config
from synprune.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

TINY = """
experiment = "tiny"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "synaptic"]
seq_len = [8, 16]
seed = [0, 1, 2]
[train]
epochs = 2
[models.lstm]
hidden_size = 8
[regularizers.synaptic]
final_sparsity = 0.7
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_configs_expand_and_build() -> None:
    sizes = {
        "smoke": 32,
        "paper": 3 * 4 * 4 * 6 * 10,
        "ltsf": 2 * 2 * 4 * 2 * 4 * 3,
        "study": (3 * 3 * 2 * 3 - 5) * 21,  # Air Quality x PatchTST: 1 window x 1 seed
        "study-full": 3 * 4 * 6 * 10 * 21,
    }
    for name, n in sizes.items():
        cfg = load_config(REPO / "configs" / f"{name}.toml")
        specs = cfg.specs()
        assert len(specs) == n
        assert len({s.spec_id for s in specs}) == n  # every grid point distinct
        assert cfg.experiment == name
    smoke = load_config(REPO / "configs" / "smoke.toml")
    assert {s.regularizer.name for s in smoke.specs()} == {
        "none",
        "dropout",
        "mc_dropout",
        "synaptic",
    }
    smoke.check_models(smoke.specs(), {"synthetic": 3, "aapl": 5})
    assert set(smoke.grid["dataset"]) == {"synthetic", "aapl"}  # offline: generated + shipped
    paper = load_config(REPO / "configs" / "paper.toml")
    assert paper.train.epochs == 20 and paper.train.patience == 3
    assert paper.train.batch_size == 64  # the paper's code
    assert paper.regularizers["dropout"]["p"] == 0.3
    assert paper.regularizers["mc_dropout"]["p"] == 0.3
    assert sorted(paper.grid["seq_len"]) == [1, 3, 7, 14, 30, 60]
    assert len(paper.grid["seed"]) == 10


def test_study_configs_have_the_designed_arms() -> None:
    """Equal stopping and matched budgets: 4 configurations per tuned family (issue 17)."""
    from collections import Counter

    study = load_config(REPO / "configs" / "study.toml")
    specs = study.specs()
    arms = {s.arm for s in specs}
    expected = {"none"}
    expected |= {f"{r}[p={p}]" for r in ("dropout", "mc_dropout") for p in (0.1, 0.2, 0.3, 0.5)}
    expected |= {
        f"synaptic[final_sparsity={f},score={sc}]"
        for f in (0.4, 0.8)
        for sc in ("magnitude", "lamp")
    }
    expected |= {f"weight_decay[weight_decay={w}]" for w in (0.01, 0.1, 1.0, 10.0)}
    expected |= {f"l1[l1={v:g}]" for v in (1e-7, 1e-6, 1e-5, 1e-4)}
    assert arms == expected
    per_family = Counter(s.regularizer.name for s in specs if s.seed == 0 and s.seq_len == 14)
    configs = {f: n // 9 for f, n in per_family.items()}  # 9 (model, dataset) cells at L14 s0
    assert configs == {"none": 1, **dict.fromkeys(
        ("dropout", "mc_dropout", "synaptic", "weight_decay", "l1"), 4
    )}  # fmt: skip
    assert {(s.train.stopping, s.train.min_epochs) for s in specs} == {("equal", 16)}
    by_arm = {s.arm: s for s in specs}
    syn = by_arm["synaptic[final_sparsity=0.8,score=lamp]"].regularizer.params
    assert syn["early_stop_during_schedule"] is False and syn["end_frac"] == 0.8
    per_cell = Counter((s.dataset, s.model.name, s.seq_len, s.seed) for s in specs)
    assert set(per_cell.values()) == {len(expected)} == {21}  # every block keeps every arm
    aq_patchtst = {(c[2], c[3]) for c in per_cell if c[:2] == ("air_quality", "patchtst")}
    assert aq_patchtst == {(14, 0)}  # the [[grid.cut]] of the costly cell
    full = load_config(REPO / "configs" / "study-full.toml")
    full_specs = full.specs()
    assert {s.arm for s in full_specs} == expected
    assert {(s.train.stopping, s.train.min_epochs) for s in full_specs} == {("equal", 16)}
    assert set(full.grid["dataset"]) == {"bitcoin", "aapl", "air_quality", "retail"}
    assert {1, 7, 14, 30, 60} <= set(full.grid["seq_len"]) and len(full.grid["seed"]) == 10


def test_grid_expansion_applies_tables(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, TINY))
    specs = cfg.specs()
    assert len(specs) == 2 * 2 * 3
    syn = [s for s in specs if s.regularizer.name == "synaptic"]
    assert all(s.regularizer.params["final_sparsity"] == 0.7 for s in syn)
    assert all(s.model.params["hidden_size"] == 8 and s.train.epochs == 2 for s in specs)
    assert [s.seed for s in specs[:4]] == [0, 0, 0, 0]  # seed outermost
    assert cfg.specs()[0].spec_id == specs[0].spec_id  # deterministic


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("[train]", "[train]\nbogus = 1"),
            "[train].bogus=1 is invalid; allowed: a train field: epochs, batch_size",
        ),
        (("experiment", "colour = 'red'\nexperiment"), "unknown key colour"),
        (
            ("final_sparsity = 0.7", "final_sparsity = 1.2"),
            "[regularizers.synaptic].final_sparsity=1.2 is invalid; allowed: a number in [0, 1)",
        ),
        (
            ("final_sparsity = 0.7", "final_sparsity = 0.7\nwobble = 2"),
            "[regularizers.synaptic].wobble=2 is invalid; allowed: a field of regularizer "
            "'synaptic': early_stop_during_schedule, end_frac, final_sparsity,",
        ),
        (
            ("seq_len = [8, 16]", "seq_len = [8, 0]"),
            "[grid].seq_len=0 is invalid; allowed: an integer in [1, 100000]",
        ),
        (("seq_len = [8, 16]", "seq_len = [8, 8]"), "[grid].seq_len lists the value 8 twice"),
        (
            ('model = ["lstm"]', 'model = ["lstm", "transformer9"]'),
            "[grid].model='transformer9' is invalid; allowed: a registered model: gru, lstm, "
            "patchtst, rnn",
        ),
        (('dataset = ["synthetic"]', 'dataset = ["nope"]'), "[grid].dataset='nope' is invalid"),
        (
            ('regularizer = ["none", "synaptic"]', 'regularizer = ["none", "l2"]'),
            "[grid].regularizer='l2' is invalid; allowed: a registered regularizer",
        ),
        (("epochs = 2", "epochs = 0"), "[train].epochs=0 is invalid"),
        (
            ("hidden_size = 8", "hidden_sise = 8"),
            "[models.lstm].hidden_sise=8 is invalid; allowed: a field of model 'lstm': "
            "hidden_size, num_layers, revin",
        ),
        (("hidden_size = 8", "hidden_size = 0"), "[models.lstm].hidden_size=0 is invalid"),
        (("[train]", "[resources]\ncpu = 0\n[train]"), "[resources].cpu=0 is invalid"),
        (
            ("[train]", "[resources]\nworkers = 0\n[train]"),
            "[resources].workers=0 is invalid; allowed: an integer in [1, 1024]",
        ),
        (("[train]", "[sweep]\nmax_failures = -1\n[train]"), "[sweep].max_failures=-1"),
        (
            ("[train]", "[tuning.space.synaptic]\nfinal_sparsity = [0.5, 1.5]\n[train]"),
            "[tuning.space.synaptic].final_sparsity=1.5 is invalid",
        ),
        (
            ("[train]", "[tuning]\nseq_len = 0\n[train]"),
            "[tuning].seq_len=0 is invalid; allowed: an integer in [1, 100000]",
        ),
        (
            ("[train]", "[tuning]\nseeds = [1, -1]\n[train]"),
            "[tuning].seeds: seed=-1 is invalid",
        ),
        (("[train]", "[tuning]\nepochs = 0\n[train]"), "[tuning].epochs=0 is invalid"),
        (
            ("[models.lstm]", "[models.gru]\nhidden_size = -3\n[models.lstm]"),
            "for seq_len=8: [models.gru].hidden_size=-3 is invalid",
        ),
        (
            ('experiment = "tiny"', 'experiment = "tiny"\nplugins = ["no_such_mod_xyz"]'),
            "plugins[0]='no_such_mod_xyz' cannot be imported",
        ),
    ],
)
def test_bad_configs_name_file_and_key(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    text = TINY.replace(edit[0], edit[1], 1)
    assert text != TINY
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)  # every value is checked at load, before anything runs
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg
    assert len(msg.splitlines()) == 1


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "experiment = [unclosed"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_cli_refuses_bad_config_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, TINY.replace("final_sparsity = 0.7", "final_sparsity = 1.2"))
    db = tmp_path / "store" / "mlflow.db"
    uri = f"sqlite:///{db}"
    for verb in ("sweep", "tune"):
        rc = main([verb, "--config", str(bad), "--tracking-uri", uri])
        err = capsys.readouterr().err
        assert rc == 2
        assert f"{bad}: [regularizers.synaptic].final_sparsity=1.2 is invalid" in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists()  # nothing was written to the store


def test_tuned_file_overrides_per_model_and_dataset(tmp_path: Path) -> None:
    tuned = {
        "tuned": {
            "lstm": {
                "synthetic": {
                    "synaptic": {
                        "params": {"final_sparsity": 0.55, "start_frac": 0.2, "end_frac": 0.6},
                        "objective": 0.1,
                    }
                }
            }
        }
    }
    (tmp_path / "t.json").write_text(json.dumps(tuned))
    cfg = load_config(write(tmp_path, 'tuned = "t.json"\n' + TINY))
    syn = [s for s in cfg.specs() if s.regularizer.name == "synaptic"]
    assert {s.regularizer.params["final_sparsity"] for s in syn} == {0.55}
    assert {s.regularizer.params["end_frac"] for s in syn} == {0.6}
    bad = {"tuned": {"lstm": {"synthetic": {"synaptic": {"params": {"final_sparsity": 2}}}}}}
    (tmp_path / "t.json").write_text(json.dumps(bad))
    with pytest.raises(
        ConfigError,
        match=r"t\.json: tuned\.lstm\.synthetic\.synaptic\.params\."
        r"final_sparsity=2 is invalid",
    ):
        load_config(tmp_path / "x.toml")


def test_tune_starts_without_the_tuned_file_and_sweep_asks_for_it(tmp_path: Path) -> None:
    """Only `sweep` needs the tuned file (`tune` writes it)."""
    cfg = load_config(write(tmp_path, 'tuned = "tuned/t.json"\n' + TINY))
    assert cfg.tuned_path == (tmp_path / "tuned" / "t.json").resolve() and cfg.tuned == {}
    base = cfg.spec_for(
        model="lstm", dataset="synthetic", regularizer="synaptic", seq_len=8, horizon=1, seed=0
    )
    assert base.regularizer.params["final_sparsity"] == 0.7  # tune's base spec: the tables
    with pytest.raises(
        ConfigError, match=r"file not found; run `synprune tune --config .*x\.toml` first"
    ):
        cfg.specs()


def test_tuning_section_defaults_and_space(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            TINY + "\n[tuning]\ntrials = 3\nseeds = [5]\n[tuning.space.dropout]\np = [0.1, 0.2]\n",
        )
    )
    t = cfg.tuning
    assert t.trials == 3 and t.seeds == (5,)
    assert t.space["dropout"]["p"].low == 0.1 and t.space["dropout"]["p"].kind == "float"
    assert t.space["synaptic"]["prune_every"].kind == "int"
    assert t.space["synaptic"]["schedule"].choices == ("ease_in", "ease_out")
