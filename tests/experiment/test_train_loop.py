"""The stopping rules of THE training loop (equal / fixed / per_arm), min_epochs, and the
optimizer and loss hooks, on a problem whose validation loss is known in shape.

The problem: a linear model (4 weights, from 0) fit by AdamW to ``y = 2 * sum(x)`` while the
validation targets are ``y = c * sum(x)``. With a small learning rate the weights climb
steadily towards 2, so the validation loss falls until they pass ``c`` and rises after: ``c``
sets the epoch of the best validation loss (about 19 for c = 1.2, about 9 for c = 0.6).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from synprune.datasets import WindowedData
from synprune.errors import FieldError
from synprune.experiment.resolve import default_min_epochs
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.train import FitResult, fit, should_stop, validation_loss
from synprune.experiment.trial import group_by_training
from synprune.regularizers import Regularizer, create_regularizer

EPOCHS, MIN_EPOCHS, PATIENCE = 30, 15, 3
SYNAPTIC = {"final_sparsity": 0.5, "start_frac": 0.0, "end_frac": 0.5, "prune_every": 1}


class Linear4(nn.Module):
    def __init__(self, init: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 1, bias=False)
        nn.init.constant_(self.fc.weight, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1, :])


def windows(c: float) -> WindowedData:
    g = torch.Generator().manual_seed(0)
    xt, xv = torch.randn(80, 2, 4, generator=g), torch.randn(40, 2, 4, generator=g)
    yt = 2.0 * xt[:, -1, :].sum(1, keepdim=True)
    yv = c * xv[:, -1, :].sum(1, keepdim=True)
    z = torch.zeros(1)
    return WindowedData(
        x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xv, y_test=yv,
        target_mean=0.0, target_std=1.0, naive_val=z, naive_test=z, n_features=4,
    )  # fmt: skip


def run(
    name: str, stopping: str, c: float = 1.2, min_epochs: int | None = MIN_EPOCHS, **train: object
) -> tuple[FitResult, nn.Module, Regularizer, WindowedData]:
    reg = create_regularizer(name, **(SYNAPTIC if name == "synaptic" else {}))
    spec = TrainSpec(
        **{"epochs": EPOCHS, "batch_size": 8, "lr": 0.01, "patience": PATIENCE, **train},  # type: ignore[arg-type]
        stopping=stopping,
        min_epochs=min_epochs,
    )
    model, data = Linear4(), windows(c)
    return fit(model, reg, data, spec, seed=0), model, reg, data


def eligible(fitted: FitResult, name: str) -> list[int]:
    """Epochs at whose end the regularizer was settled: synaptic at its final sparsity."""
    if name == "none":
        return [int(h["epoch"]) for h in fitted.history]
    return [int(h["epoch"]) for h in fitted.history if h["sparsity"] >= 0.5]


def best_of(fitted: FitResult, epochs: list[int]) -> int:
    vals = {e: fitted.history[e - 1]["val_loss"] for e in epochs}
    return min(epochs, key=lambda e: (vals[e], e))


def assert_restored(fitted: FitResult, model: nn.Module, data: WindowedData) -> None:
    """The model holds exactly the best epoch's weights."""
    restored = validation_loss(model, None, data, 64)
    assert restored == pytest.approx(fitted.history[fitted.best_epoch - 1]["val_loss"], rel=1e-9)


# -- the rule itself, by hand ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("stopping", "epoch", "best", "bad", "expected"),
    [
        ("equal", 15, 3, 12, False),  # e <= M: never
        ("equal", 17, 3, 14, False),  # bad epochs in (15, 17]: 2 < 3
        ("equal", 18, 3, 15, True),  # (15, 18]: 3
        ("equal", 18, 16, 2, False),  # (16, 18]: 2
        ("equal", 19, 16, 3, True),
        ("equal", 25, None, 0, False),  # no eligible checkpoint yet: never
        ("fixed", 29, 1, 28, False),
        ("per_arm", 4, 1, 3, True),  # the old rule: 3 non-improving eligible epochs
        ("per_arm", 17, 16, 1, False),
    ],
)
def test_should_stop_by_hand(
    stopping: str, epoch: int, best: int | None, bad: int, expected: bool
) -> None:
    got = should_stop(
        stopping, epoch=epoch, best_epoch=best, bad_epochs=bad, min_epochs=15, patience=3
    )
    assert got is expected
    assert not should_stop(
        stopping, epoch=epoch, best_epoch=best, bad_epochs=bad, min_epochs=15, patience=0
    )


# -- equal: one rule for every arm -----------------------------------------------------------
@pytest.mark.parametrize("name", ["none", "synaptic"])
def test_equal_runs_min_epochs_and_restores_its_own_best_eligible_epoch(name: str) -> None:
    fitted, model, _, data = run(name, "equal")
    ok = eligible(fitted, name)
    assert fitted.epochs_run >= MIN_EPOCHS + PATIENCE
    assert fitted.best_epoch == best_of(fitted, ok)
    # it stopped at the first epoch with PATIENCE bad epochs after max(M, best)
    assert fitted.epochs_run == max(MIN_EPOCHS, fitted.best_epoch) + PATIENCE < EPOCHS
    assert fitted.stopped_early
    assert_restored(fitted, model, data)
    if name == "none":  # validation loss falls until a late epoch, past min_epochs
        vals = [h["val_loss"] for h in fitted.history]
        assert fitted.best_epoch > MIN_EPOCHS
        assert vals[: fitted.best_epoch] == sorted(vals[: fitted.best_epoch], reverse=True)
    else:  # settled at epoch 15 (end_frac 0.5 of 30): earlier epochs are never restored
        assert min(ok) == 15 and fitted.best_epoch >= 15


def test_equal_waits_for_min_epochs_where_per_arm_stops_early() -> None:
    """c = 0.6: the best epoch comes early. per_arm (the old rule) stops PATIENCE epochs after
    it; equal trains through min_epochs + PATIENCE; both restore the same (early) best
    epoch, and the histories agree epoch for epoch (same seed, same random numbers)."""
    old, _, _, _ = run("none", "per_arm", c=0.6)
    new, model, _, data = run("none", "equal", c=0.6)
    assert old.best_epoch == new.best_epoch < MIN_EPOCHS - PATIENCE
    assert old.epochs_run == old.best_epoch + PATIENCE
    assert new.epochs_run == MIN_EPOCHS + PATIENCE
    assert new.history[: old.epochs_run] == [
        {**h, "epoch_seconds": n["epoch_seconds"]}
        for h, n in zip(old.history, new.history, strict=False)
    ]
    assert_restored(new, model, data)


def test_equal_never_stops_before_the_first_eligible_epoch() -> None:
    """min_epochs below the schedule's end (e.g. given by hand): no stop before a checkpoint
    at final sparsity exists, and then patience counts from it."""
    fitted, _, _, _ = run("synaptic", "equal", min_epochs=0)
    assert min(eligible(fitted, "synaptic")) == 15
    assert fitted.best_epoch >= 15
    assert fitted.epochs_run == fitted.best_epoch + PATIENCE


# -- fixed and per_arm -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["none", "synaptic"])
def test_fixed_never_stops_early(name: str) -> None:
    fitted, model, _, data = run(name, "fixed", patience=1)
    assert fitted.epochs_run == EPOCHS and not fitted.stopped_early
    assert fitted.best_epoch == best_of(fitted, eligible(fitted, name)) < EPOCHS
    assert_restored(fitted, model, data)


def test_per_arm_is_the_old_rule_and_ignores_min_epochs() -> None:
    """Patience counted from the start over eligible epochs: synaptic waits for its schedule
    (eligible from 15), none does not."""
    for name in ("none", "synaptic"):
        a, _, _, _ = run(name, "per_arm", c=0.6, min_epochs=MIN_EPOCHS)
        b, _, _, _ = run(name, "per_arm", c=0.6, min_epochs=0)
        assert (a.epochs_run, a.best_epoch) == (b.epochs_run, b.best_epoch)
        assert a.epochs_run == a.best_epoch + PATIENCE
        assert a.best_epoch == best_of(a, eligible(a, name))
    none, _, _, _ = run("none", "per_arm", c=0.6)
    synaptic, _, _, _ = run("synaptic", "per_arm", c=0.6)
    assert none.epochs_run < MIN_EPOCHS <= synaptic.best_epoch < synaptic.epochs_run


def test_min_epochs_none_resolves_from_the_regularizer() -> None:
    """fit alone: min_epochs unset = ceil(settle_fraction * epochs) = 15 for synaptic."""
    fitted, _, _, _ = run("synaptic", "equal", min_epochs=None)
    assert fitted.epochs_run == max(15, fitted.best_epoch) + PATIENCE


# -- optimizer and loss hooks in the loop ------------------------------------------------------
def test_loop_applies_weight_decay_and_l1() -> None:
    _, m0, _, _ = run("none", "fixed", min_epochs=0, epochs=3)
    wd = create_regularizer("weight_decay", weight_decay=0.5)
    spec = TrainSpec(epochs=3, batch_size=8, lr=0.01, stopping="fixed", min_epochs=0)
    m1 = Linear4()
    fit(m1, wd, windows(1.2), spec, seed=0)
    l1 = create_regularizer("l1", l1=1.0)
    m2 = Linear4()
    fitted = fit(m2, l1, windows(1.2), spec, seed=0)
    w0, w1, w2 = (m.fc.weight.detach().abs().sum() for m in (m0, m1, m2))
    assert w1 < w0 and w2 < w0  # both pull the weights towards zero
    assert fitted.history[-1]["l1_norm"] == pytest.approx(float(w2))  # logged each epoch
    # train_loss is the data loss alone: with weights that hardly move (lr 1e-9) from 0.5,
    # the l1 run logs none's train loss, not it plus the penalty 1.0 * 4 * 0.5 = 2
    tiny = dataclasses.replace(spec, epochs=1, lr=1e-9)
    losses = []
    for name in ("none", "l1"):
        reg = create_regularizer(name, **({"l1": 1.0} if name == "l1" else {}))
        losses.append(fit(Linear4(0.5), reg, windows(1.2), tiny, seed=0).history[0])
    assert losses[1]["l1_norm"] == pytest.approx(2.0)
    assert losses[1]["train_loss"] == pytest.approx(losses[0]["train_loss"], abs=1e-6)


# -- the spec resolves min_epochs; train.weight_decay is refused ------------------------------
def _trial(reg: str, params: dict | None = None, **train: object) -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 8}),
        regularizer=ComponentSpec(reg, params or {}),
        seq_len=8,
        train=TrainSpec(**train),  # type: ignore[arg-type]
    )


def test_trial_spec_resolves_min_epochs() -> None:
    assert default_min_epochs(0.8, 20) == 16 and default_min_epochs(0.0, 20) == 0
    assert default_min_epochs(0.81, 20) == 17 and default_min_epochs(1.0, 7) == 7
    syn = _trial("synaptic")  # end_frac 0.8 of 20 epochs
    assert syn.train.min_epochs == 16 and syn.to_dict()["train"]["min_epochs"] == 16
    assert _trial("none").train.min_epochs == 0
    assert _trial("synaptic", {"early_stop_during_schedule": True}).train.min_epochs == 0
    assert _trial("dropout+synaptic", {"synaptic": {"end_frac": 0.5}}).train.min_epochs == 10
    assert _trial("synaptic", min_epochs=4).train.min_epochs == 4  # given: kept
    # --set re-resolves a derived value, keeps a given one
    assert syn.with_overrides(["train.epochs=10"]).train.min_epochs == 8
    assert syn.with_overrides(["regularizer.end_frac=0.5"]).train.min_epochs == 10
    assert syn.with_overrides(["train.min_epochs=8"]).train.min_epochs == 8
    kept = _trial("synaptic", min_epochs=4).with_overrides(["train.epochs=10"])
    assert kept.train.min_epochs == 4
    round_trip = TrialSpec.from_dict(syn.to_dict())
    assert round_trip == syn and round_trip.spec_id == syn.spec_id
    flat = syn.flat_params()
    assert flat["train.stopping"] == "equal" and flat["train.min_epochs"] == 16


def test_min_epochs_above_epochs_and_train_weight_decay_refused() -> None:
    with pytest.raises(FieldError, match=r"^train\.min_epochs=21 is invalid; .*\[0, epochs=20\]"):
        TrainSpec(min_epochs=21)
    with pytest.raises(FieldError, match=r"stopping='early' is invalid; allowed: equal, fixed"):
        TrainSpec(stopping="early")
    pointer = r"--regularizer weight_decay --set regularizer\.weight_decay=0\.01.*synaptic\+wei"
    with pytest.raises(FieldError, match=r"^train\.weight_decay=0\.1 is invalid; .*" + pointer):
        TrainSpec.from_mapping({"weight_decay": 0.1})
    with pytest.raises(FieldError, match=pointer):
        _trial("none").with_overrides(["train.weight_decay=0.1"])


def test_weight_decay_and_l1_never_share_training_with_none() -> None:
    base = _trial("none")
    specs = [
        base,
        dataclasses.replace(base, regularizer=ComponentSpec("weight_decay")),
        dataclasses.replace(base, regularizer=ComponentSpec("l1")),
    ]
    assert [len(g) for g in group_by_training(specs)] == [1, 1, 1]
