"""The one training loop and a whole trial, on real (small) data, no Ray, no MLflow."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest
import torch
from builders import train_argv

from synprune.cli.main import main
from synprune.datasets import load_dataset, prepare_windows
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.train import fit, validation_loss
from synprune.experiment.trial import (
    build,
    evaluate_group,
    group_by_training,
    run_trial,
    run_trial_group,
)


def _spec(reg: ComponentSpec | None = None, **train: object) -> TrialSpec:
    t = {"epochs": 4, "batch_size": 64, "patience": 0, **train}
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 16}),
        regularizer=reg or ComponentSpec("none"),
        seq_len=12,
        horizon=2,
        train=TrainSpec(**t),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def test_same_seed_same_result_other_seed_differs(synthetic) -> None:
    a = run_trial(_spec(), synthetic)
    b = run_trial(_spec(), synthetic)
    c = run_trial(dataclasses.replace(_spec(), seed=1), synthetic)
    assert a.test_mae == b.test_mae and a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert c.test_mae != a.test_mae
    assert a.status == "finished" and a.epochs_run == 4 and math.isfinite(a.test_mae)


def test_best_weights_are_restored(synthetic) -> None:
    # a large learning rate makes validation loss bounce, so the best epoch is not the last
    spec = _spec(epochs=8, lr=0.05, patience=0)
    windows = prepare_windows(synthetic, spec.seq_len, spec.horizon)
    model, reg = build(spec, windows)
    fitted = fit(model, reg, windows, spec.train, seed=spec.seed)
    vals = [h["val_loss"] for h in fitted.history]
    assert fitted.best_epoch == int(np.argmin(vals)) + 1
    assert fitted.best_epoch < fitted.epochs_run, "setup should make the last epoch not the best"
    # the model now holds exactly the best epoch's weights
    assert validation_loss(model, reg, windows, 64, torch.device("cpu")) == pytest.approx(
        min(vals), rel=1e-6
    )


def test_early_stopping_stops_after_patience(synthetic) -> None:
    res = run_trial(_spec(epochs=30, lr=0.05, patience=1), synthetic)
    assert res.epochs_run < 30
    assert res.epochs_run == res.best_epoch + 1


def test_test_period_changes_neither_scaling_nor_training(synthetic) -> None:
    """Leakage guard: perturbing the test period leaves training bit-identical."""
    _, val_end = synthetic.split
    values = synthetic.values.copy()
    values[val_end:] = values[val_end:] * 3.0 + 5.0
    tampered = dataclasses.replace(synthetic, values=values)
    a = run_trial(_spec(), synthetic)
    b = run_trial(_spec(), tampered)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert [h["val_loss"] for h in a.history] == [h["val_loss"] for h in b.history]
    assert a.test_mae != b.test_mae  # the test split itself did change


def test_naive_mae_is_persistence_on_the_test_windows(synthetic) -> None:
    spec = _spec()
    res = run_trial(spec, synthetic)
    _, val_end = synthetic.split
    y = synthetic.values[:, 0].astype(np.float64)
    # targets of test windows: rows val_end .. T-1, each window predicts H=2 rows
    errs = []
    for t in range(val_end, len(y) - spec.horizon + 1):
        errs.extend(abs(y[t : t + spec.horizon] - y[t - 1]))
    assert res.naive_mae == pytest.approx(float(np.mean(errs)), rel=1e-5)


def test_synaptic_trial_reaches_its_sparsity(synthetic) -> None:
    reg = ComponentSpec(
        "synaptic", {"final_sparsity": 0.6, "start_frac": 0.0, "end_frac": 0.5, "prune_every": 1}
    )
    res = run_trial(_spec(reg), synthetic)
    assert res.final_sparsity == pytest.approx(0.6, abs=1e-3)
    assert [h["sparsity"] for h in res.history] == sorted(h["sparsity"] for h in res.history)


def test_cli_train_json_on_a_real_dataset(shared_data_dir, capsys) -> None:
    extra = ["--epochs", "2", "--json", "--quiet", "--set", "model.hidden_size=8"]
    rc = main(train_argv("bitcoin", "synaptic", 7, *extra))
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "test_mae",
        "test_rmse",
        "test_mse",
        "naive_mae",
        "val_loss",
        "epochs_run",
        "final_sparsity",
        "train_seconds",
        "spec",
        "snaive_mae",
        "linear_mae",
        "smape",
        "mase",
    ):
        assert key in out, key
    assert "predictions" not in out  # stored with the run, too large for the console
    assert out["season"] == 7  # bitcoin: daily, every day of the week
    assert out["spec"]["model"]["params"]["hidden_size"] == 8
    assert out["naive_mae"] > 0 and out["test_mae"] > 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--set", "regularizer.final_sparsity=1.2"], "final_sparsity"),
        (["--seq-len", "0"], "seq_len"),
        (["--set", "train.nope=1"], "train.nope"),
    ],
)
def test_cli_train_refuses_bad_input_with_one_line(argv, needle, capsys) -> None:
    base = train_argv("synthetic", "synaptic", 8, "--quiet")
    # later flags win in argparse, so --seq-len 0 overrides the base value
    rc = main(base + argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert needle in err and len(err.splitlines()) == 1


def test_early_stopping_waits_for_the_pruning_schedule(synthetic) -> None:
    """With patience 1 and a bouncing validation loss, a synaptic trial still ends at its final
    sparsity: epochs before the schedule completes are never restored as "best"."""
    reg = ComponentSpec(
        "synaptic", {"final_sparsity": 0.7, "start_frac": 0.0, "end_frac": 0.5, "prune_every": 1}
    )
    res = run_trial(_spec(reg, epochs=10, lr=0.05, patience=1), synthetic)
    assert res.final_sparsity == pytest.approx(0.7, abs=1e-3)
    settled = [h["epoch"] for h in res.history if h["sparsity"] >= 0.7 - 1e-3]
    assert res.best_epoch >= min(settled)
    assert res.epochs_run >= 5  # half of 10 epochs is the schedule; no stop before it ends


# -- arms that train identically share one training run (issue 12 item 6) -----------------------
def _arm(reg: ComponentSpec, seed: int = 0) -> TrialSpec:
    return dataclasses.replace(_spec(reg, epochs=3, patience=1, lr=0.02), seed=seed)


def test_dropout_and_mc_dropout_share_training_and_match_separate_runs(synthetic) -> None:
    dropout = _arm(ComponentSpec("dropout", {"p": 0.3}))
    mc = _arm(ComponentSpec("mc_dropout", {"p": 0.3, "samples": 4}))
    others = [
        _arm(ComponentSpec("dropout", {"p": 0.3}), seed=1),  # other seed: other training
        _arm(ComponentSpec("dropout", {"p": 0.2})),  # other p: other model
        _arm(ComponentSpec("synaptic", {"final_sparsity": 0.5})),  # trains with its own hooks
    ]
    groups = group_by_training([dropout, *others, mc])
    assert [[s.spec_id for s in g] for g in groups] == [
        [dropout.spec_id, mc.spec_id],
        *[[s.spec_id] for s in others],
    ]
    shared_dropout, shared_mc = run_trial_group([dropout, mc], synthetic)
    alone_dropout = run_trial(dropout, synthetic)
    alone_mc = run_trial(mc, synthetic)
    for shared, alone in ((shared_dropout, alone_dropout), (shared_mc, alone_mc)):
        assert _scores(shared) == _scores(alone)  # exactly: bit for bit
        assert _losses(shared) == _losses(alone)
        assert shared.spec_id == alone.spec_id and alone.shares_training_with == ""
    assert shared_dropout.metrics()["train_seconds"] == shared_mc.metrics()["train_seconds"]
    assert shared_dropout.shares_training_with == mc.spec_id
    assert shared_mc.shares_training_with == dropout.spec_id
    # one model, two ways of predicting: same training, different scores
    assert _losses(shared_dropout) == _losses(shared_mc)
    assert shared_dropout.test_mae != shared_mc.test_mae
    # the dropout arm's best_val_loss is its best epoch's deterministic validation loss
    assert shared_dropout.val_loss == min(h["val_loss"] for h in shared_dropout.history)
    with pytest.raises(ValueError, match="do not train identically"):
        run_trial_group([dropout, others[0]], synthetic)


def _scores(result) -> dict[str, float]:
    return {k: v for k, v in result.metrics().items() if k != "train_seconds"}


def _losses(result) -> list[tuple[float, float]]:
    return [(h["train_loss"], h["val_loss"]) for h in result.history]


# -- what the loop reports (issues 10/13) ---------------------------------------------------------
def test_result_reports_restored_tensor_sparsity_and_training_wall_clock(synthetic) -> None:
    reg = ComponentSpec(
        "synaptic", {"final_sparsity": 0.6, "start_frac": 0.0, "end_frac": 0.5, "prune_every": 1}
    )
    before = time.time() * 1000
    res = run_trial(_spec(reg), synthetic)
    after = time.time() * 1000
    assert before <= res.start_time_ms <= res.end_time_ms <= after
    assert abs((res.end_time_ms - res.start_time_ms) / 1000 - res.train_seconds) < 0.05
    assert len([h["val_loss"] for h in res.history]) == res.epochs_run  # no extra point
    assert "best_val_loss" in res.metrics() and "val_loss" not in res.metrics()
    assert res.tensor_sparsity and all(0.0 <= v <= 1.0 for v in res.tensor_sparsity.values())
    plain = run_trial(_spec(), synthetic)
    assert plain.tensor_sparsity == {} and plain.final_sparsity == 0.0


def test_early_stop_during_schedule_reports_the_realised_sparsity_of_the_restored_weights(
    synthetic,
) -> None:
    """With ``early_stop_during_schedule=true`` every epoch counts, so the restored best epoch
    can be one whose pruning had not reached its target: report what the weights hold."""
    params = {"final_sparsity": 0.8, "start_frac": 0.0, "end_frac": 1.0, "prune_every": 1}
    reg = ComponentSpec("synaptic", {**params, "early_stop_during_schedule": True})
    spec = _spec(reg, epochs=12, lr=0.05, patience=2, stopping="per_arm")
    windows = prepare_windows(synthetic, spec.seq_len, spec.horizon)
    model, regularizer = build(spec, windows)
    fitted = fit(model, regularizer, windows, spec.train, seed=spec.seed)
    at_best = fitted.history[fitted.best_epoch - 1]["sparsity"]
    assert fitted.best_epoch < fitted.epochs_run and at_best < 0.8, fitted.history
    assert fitted.restored_metrics["sparsity"] == pytest.approx(at_best)
    # count the zeros the restored weights really hold in the pruned tensors
    weights = dict(model.named_parameters())
    zeros = sum(int((weights[n] == 0).sum()) for n in fitted.restored_tensor_sparsity)
    total = sum(weights[n].numel() for n in fitted.restored_tensor_sparsity)
    assert zeros / total == pytest.approx(at_best, abs=1e-9)
    (res,) = evaluate_group([spec], model, regularizer, windows, fitted, torch.device("cpu"), [])
    assert res.final_sparsity == pytest.approx(at_best)


# -- synprune demo checks its arguments before it trains (promise 11) ---------------------------
@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--final-sparsity", "1.5"], "--final-sparsity 1.5 is invalid; allowed: a number"),
        (["--epochs", "0"], "--epochs 0 is invalid; allowed: an integer in [1, 10000]"),
        (["--seq-len", "0"], "--seq-len 0 is invalid"),
        (["--seed", "-1"], "--seed -1 is invalid"),
        (["--seq-len", "900"], "too short for seq_len 900"),
    ],
)
def test_demo_refuses_bad_arguments_before_training(argv, needle, capsys) -> None:
    rc = main(["demo", *argv])
    out = capsys.readouterr()
    assert rc == 2 and "training" not in out.out, out
    err = out.err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
