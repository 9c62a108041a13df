"""Data protocols (leak_free, paper, m4): hand-computed windows and scalers, what each split can
see (test values perturbed: nothing before them moves), the paper protocol's early stopping on
the test rows, the spec's protocol defaults, and the config key."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from synprune.cli.main import main
from synprune.config.loader import load_config
from synprune.datasets import SeriesData, load_dataset, prepare_windows
from synprune.datasets.windows import PROTOCOLS, split_layout, window_starts
from synprune.errors import ConfigError, DataError, FieldError
from synprune.experiment import spec as spec_module
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial


def _series(target: np.ndarray, split: tuple[int, int]) -> SeriesData:
    values = np.stack([target, np.arange(target.size, dtype=np.float64) % 3], axis=1)
    return SeriesData(
        name="hand", values=values.astype(np.float32), columns=("y", "c"), timestamps=None,
        split=split, source="<hand>",
    )  # fmt: skip


def _sc(rows: list[float], mean: float, std: float) -> torch.Tensor:
    return (torch.tensor(rows, dtype=torch.float64) - mean) / std


def test_protocol_names_agree() -> None:
    assert PROTOCOLS == spec_module.PROTOCOLS == ("leak_free", "paper", "m4")


def test_paper_hand_example() -> None:
    # 10 rows, target 0..9, split (6, 8): paper = train targets [0, 8), val = test = [8, 10),
    # scaler on all 10 rows: mean 4.5, population std sqrt(8.25)
    w = prepare_windows(_series(np.arange(10.0), (6, 8)), seq_len=3, horizon=2, protocol="paper")
    mean, std = 4.5, math.sqrt(8.25)
    assert w.target_mean == pytest.approx(mean) and w.target_std == pytest.approx(std)
    # train targets [3,4], [4,5], [5,6], [6,7] (the leak-free val rows 6, 7 become training)
    assert w.y_train.shape == (4, 2)
    torch.testing.assert_close(
        w.y_train.double(), torch.stack([_sc([i, i + 1], mean, std) for i in (3, 4, 5, 6)])
    )
    torch.testing.assert_close(w.x_test[:, :, 0].double(), _sc([5, 6, 7], mean, std)[None])
    torch.testing.assert_close(w.y_test.double(), _sc([8, 9], mean, std)[None])
    # early stopping reads the very rows that are reported as test
    assert w.x_val is w.x_test and w.y_val is w.y_test and w.naive_val is w.naive_test
    assert torch.equal(w.naive_test, torch.tensor([[7.0, 7.0]]))


def test_paper_test_rows_are_the_leak_free_test_rows() -> None:
    target = np.random.default_rng(3).normal(size=200).cumsum() + 50
    data = _series(target, (140, 160))
    lf = prepare_windows(data, 7, 1)
    pp = prepare_windows(data, 7, 1, "paper")
    assert torch.equal(lf.test_rows, pp.test_rows)
    # the same targets in original units, though scaled with different statistics
    torch.testing.assert_close(
        lf.y_test * lf.target_std + lf.target_mean, pp.y_test * pp.target_std + pp.target_mean
    )
    assert pp.target_mean == pytest.approx(float(target.astype(np.float32).mean()), rel=1e-5)
    assert lf.target_mean == pytest.approx(float(target[:140].astype(np.float32).mean()), rel=1e-5)
    assert len(pp.y_train) == len(lf.y_train) + 20  # val rows [140, 160) trained on


def test_layouts() -> None:
    assert split_layout(100, (70, 80)).scaler == (0, 70)
    paper = split_layout(100, (70, 80), "paper")
    assert (paper.train, paper.val, paper.test, paper.scaler) == (
        (0, 80), (80, 100), (80, 100), (0, 100),
    )  # fmt: skip
    assert split_layout(100, (70, 80), "m4") == split_layout(100, (70, 80))
    # m4 on the M4 layout (n_train 20, H 4): one val and one test origin
    assert window_starts(24, (16, 20), 5, 4, "m4") == {
        "train": (0, 8), "val": (11, 12), "test": (15, 16),
    }  # fmt: skip
    with pytest.raises(ConfigError, match="protocol must be one of leak_free, paper, m4"):
        split_layout(10, (6, 8), "paperish")


def test_m4_hand_example() -> None:
    # n_train 20 then 4 test points: split (16, 20), seq_len 5, horizon 4
    target = np.array([float(i * i % 11) for i in range(24)])
    w = prepare_windows(_series(target, (16, 20)), seq_len=5, horizon=4, protocol="m4")
    mean, std = float(target[:16].mean()), float(target[:16].std())  # scaler: rows [0, 16)
    assert w.target_mean == pytest.approx(mean) and w.target_std == pytest.approx(std)
    assert len(w.x_test) == 1 and len(w.x_val) == 1 and len(w.x_train) == 8
    rows = target.tolist()
    torch.testing.assert_close(w.x_test[0, :, 0].double(), _sc(rows[15:20], mean, std))
    torch.testing.assert_close(w.y_test[0].double(), _sc(rows[20:24], mean, std))
    torch.testing.assert_close(w.x_val[0, :, 0].double(), _sc(rows[11:16], mean, std))
    torch.testing.assert_close(w.y_val[0].double(), _sc(rows[16:20], mean, std))
    torch.testing.assert_close(w.y_train[-1].double(), _sc(rows[12:16], mean, std))
    assert torch.equal(w.naive_test, torch.full((1, 4), rows[19], dtype=torch.float32))
    with pytest.raises(DataError, match=r"protocol m4 .* horizon must be its 4 rows, got 3"):
        prepare_windows(_series(target, (16, 20)), seq_len=5, horizon=3, protocol="m4")


@pytest.mark.parametrize("protocol", ["leak_free", "m4"])
def test_test_values_never_reach_training_validation_or_scaler(protocol: str) -> None:
    target = np.random.default_rng(0).normal(size=120).cumsum() + 10
    a, b = 96, 108  # the M4 layout: val = [96, 108), test = [108, 120) (H = 12)
    horizon = 12 if protocol == "m4" else 3
    base = prepare_windows(_series(target, (a, b)), 16, horizon, protocol)
    bumped = target.copy()
    bumped[b:] += 1e4  # every test value changed
    other = prepare_windows(_series(bumped, (a, b)), 16, horizon, protocol)
    for name in ("x_train", "y_train", "x_val", "y_val", "naive_val"):
        assert torch.equal(getattr(base, name), getattr(other, name)), name
    # the (first) test origin's inputs are training points; under leak_free later test windows
    # roll forward over earlier test points (rolling origin), under m4 there is no later one
    assert len(base.x_test) == (1 if protocol == "m4" else 120 - b - horizon + 1)
    assert torch.equal(base.x_test[0], other.x_test[0])
    assert torch.equal(base.naive_test[0], other.naive_test[0])
    assert (base.target_mean, base.target_std) == (other.target_mean, other.target_std)
    assert not torch.equal(base.y_test, other.y_test)  # the test targets did change
    # and the validation values never reach training or the scaler
    bumped_val = target.copy()
    bumped_val[a:b] -= 1e4
    third = prepare_windows(_series(bumped_val, (a, b)), 16, horizon, protocol)
    assert torch.equal(base.x_train, third.x_train) and torch.equal(base.y_train, third.y_train)
    assert (base.target_mean, base.target_std) == (third.target_mean, third.target_std)


def test_paper_scaler_sees_the_test_values() -> None:
    """The paper's leak, shown: its scaler moves when only test values change."""
    target = np.random.default_rng(1).normal(size=120).cumsum()
    bumped = target.copy()
    bumped[100:] += 50
    p1 = prepare_windows(_series(target, (80, 100)), 8, 1, "paper")
    p2 = prepare_windows(_series(bumped, (80, 100)), 8, 1, "paper")
    assert p1.target_mean != p2.target_mean and not torch.equal(p1.x_train, p2.x_train)


def _spec(**kw: object) -> TrialSpec:
    base: dict = dict(
        dataset="synthetic", model="lstm", regularizer="none", seq_len=12,
        train=TrainSpec(epochs=4, patience=0, batch_size=64),
    )  # fmt: skip
    return TrialSpec(**{**base, **kw})


def test_paper_trial_early_stops_on_its_test_rows() -> None:
    spec = _spec(
        protocol="paper",
        model=ComponentSpec("lstm", {"hidden_size": 8}),
        train=TrainSpec(epochs=4, stopping="per_arm", patience=1),
    )
    res = run_trial(spec)
    # the restored model's validation loss (scaled MSE) is its test MSE (original units)
    # divided by the scaler's variance: the same rows drove early stopping and the score
    w = prepare_windows(load_dataset("synthetic"), 12, 1, "paper")
    assert res.val_loss * w.target_std**2 == pytest.approx(res.test_mse, rel=1e-4)
    best = [h for h in res.history if h["epoch"] == res.best_epoch]
    assert best and best[0]["val_loss"] == pytest.approx(res.val_loss, rel=1e-5)
    # under leak_free the two differ (disjoint rows)
    lf = run_trial(_spec(model=ComponentSpec("lstm", {"hidden_size": 8})))
    w2 = prepare_windows(load_dataset("synthetic"), 12, 1)
    assert lf.val_loss * w2.target_std**2 != pytest.approx(lf.test_mse, rel=1e-2)


def test_spec_protocol_defaults_and_model_params() -> None:
    assert _spec().protocol == "leak_free"
    paper = _spec(protocol="paper")
    assert paper.model.params["num_layers"] == 1 and paper.model.params["revin"] is False
    tst = _spec(protocol="paper", model="patchtst")
    assert tst.model.params["num_layers"] == 1 and tst.model.params["revin"] is False
    explicit = _spec(protocol="paper", model=ComponentSpec("lstm", {"num_layers": 2}))
    assert explicit.model.params["num_layers"] == 2 and explicit.model.params["revin"] is False
    # --set protocol=paper re-resolves the protocol's model defaults, and back
    flipped = _spec().with_overrides(["protocol=paper"])
    assert dict(flipped.model.params) == dict(paper.model.params)
    back = flipped.with_overrides(["protocol=leak_free"])
    assert dict(back.model.params) == dict(_spec().model.params)
    assert back.model.params["num_layers"] == 2 and back.model.params["revin"] is True
    assert paper.spec_id != _spec().spec_id and paper.to_dict()["protocol"] == "paper"
    with pytest.raises(FieldError, match="protocol='m4' is invalid; allowed: leak_free or paper"):
        _spec(protocol="m4")
    with pytest.raises(FieldError, match="protocol='x' is invalid; allowed: leak_free, paper, m4"):
        _spec(protocol="x")


def test_train_cli_protocol_paper(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["train", "--protocol", "paper", "--model", "rnn", "--dataset", "aapl",
         "--regularizer", "none", "--seq-len", "7", "--epochs", "1", "--quiet", "--json",
         "--set", "model.hidden_size=4"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["protocol"] == "paper" and out["spec"]["protocol"] == "paper"
    assert out["spec"]["model"]["params"] == {"hidden_size": 4, "num_layers": 1, "revin": False}


_CONFIG = """
experiment = "p"
{top}
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout"]
seq_len = [8]
seed = [0, 1]
"""


def test_config_protocol_key(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(_CONFIG.format(top='protocol = "paper"'))
    specs = load_config(path).specs()
    assert len(specs) == 4 and {s.protocol for s in specs} == {"paper"}
    assert {s.model.params["num_layers"] for s in specs} == {1}
    path.write_text(_CONFIG.format(top=""))
    assert {s.protocol for s in load_config(path).specs()} == {"leak_free"}
    path.write_text(_CONFIG.format(top='protocol = "leaky"'))
    with pytest.raises(ConfigError, match=r"p.toml: protocol='leaky' is invalid; allowed: leak_"):
        load_config(path)
    path.write_text(_CONFIG.format(top='protocol = "m4"'))
    with pytest.raises(ConfigError, match=r"p.toml: for dataset=synthetic: protocol='m4'"):
        load_config(path)


def test_paper_protocol_config() -> None:
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "paper-protocol.toml")
    specs = cfg.specs()
    # (48 blocks + PatchTST x Air Quality's 2 windows) x 4 arms x 3 seeds
    assert len(specs) == (48 + 2) * 4 * 3 == len({s.spec_id for s in specs})
    assert {s.protocol for s in specs} == {"paper"} and cfg.protocol == "paper"
    assert {s.model.params["num_layers"] for s in specs} == {1}
    assert {s.model.params["revin"] for s in specs} == {False}
    assert {s.arm for s in specs} == {"none", "dropout", "mc_dropout", "synaptic"}
    assert {s.dataset for s in specs} == {"bitcoin", "aapl", "air_quality"}
    assert {s.model.name for s in specs} == {"rnn", "lstm", "patchtst"}
    assert sorted({s.seq_len for s in specs}) == [1, 3, 7, 14, 30, 60]
    assert {s.train.stopping for s in specs} == {"per_arm"}
    syn = [s for s in specs if s.regularizer.name == "synaptic"]
    assert {s.regularizer.params["early_stop_during_schedule"] for s in syn} == {True}
    assert {s.regularizer.params["final_sparsity"] for s in syn} == {0.8}
