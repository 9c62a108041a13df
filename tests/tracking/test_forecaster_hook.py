"""``Regularizer.forecaster``: the logged model is the module the trial's regularizer makes of
its trained model, so tracking builds MC dropout (alone or in a composite) without knowing it
by name, and that module predicts what ``predict`` predicted."""

from __future__ import annotations

import torch
from torch import nn

from synprune.experiment.model_state import decode_model_state
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial
from synprune.regularizers import create_regularizer
from synprune.regularizers.mc_dropout import MCDropoutForecaster
from synprune.tracking.logged_model import forecaster


class Net(nn.Module):
    """x [B, L, C] -> [B, 2] through a dropout module (p = 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.lstm(x)[0][:, -1]))


def test_default_forecaster_is_the_model_in_eval_mode_predicting_as_predict() -> None:
    torch.manual_seed(0)
    model, x = Net().train(), torch.randn(5, 4, 3)
    reg = create_regularizer("dropout", p=0.5)
    want = reg.predict(model, x)
    f = reg.forecaster(model)
    assert f is model and not model.training and not model.drop.training
    assert torch.equal(f(x), want)


def test_mc_dropout_forecaster_draws_what_predict_draws() -> None:
    torch.manual_seed(0)
    model, x = Net(), torch.randn(5, 4, 3)
    one = create_regularizer("mc_dropout", p=0.5, samples=1)
    torch.manual_seed(1)
    want = one.predict(model, x)  # one stochastic pass
    f = one.forecaster(model)
    assert isinstance(f, MCDropoutForecaster) and f.prediction == "mean of 1 MC-dropout passes"
    assert model.drop.training and not model.lstm.training and not model.head.training
    torch.manual_seed(1)
    assert torch.equal(f(x), want)  # the same masks: the same numbers
    eval_out = model.eval()(x)
    assert not torch.allclose(want, eval_out)  # the dropout was sampled

    many = create_regularizer("mc_dropout", p=0.5, samples=400).forecaster(Net())
    inner = many.model  # type: ignore[union-attr]
    torch.manual_seed(2)
    mean = many(x)
    inner.drop.eval()
    # the mean of 400 inverted-dropout passes approaches the no-dropout head on the mean
    # feature (linear head: E[head(drop(h))] = head(h)); 400 passes: within ~0.1
    assert torch.allclose(mean, inner(x), atol=0.15)


def test_tracking_rebuilds_composite_mc_dropout_through_the_hook() -> None:
    """``synaptic+mc_dropout``: the MC samples come from the part, not from tracking."""
    spec = TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 4}),
        regularizer=ComponentSpec(
            "synaptic+mc_dropout",
            {"synaptic": {"final_sparsity": 0.5}, "mc_dropout": {"p": 0.2, "samples": 7}},
        ),
        seq_len=8,
        train=TrainSpec(epochs=2),
    )
    res = run_trial(spec)
    assert res.status == "finished"
    payload = decode_model_state(res.model_state)
    as_dict = spec.to_dict()  # what a RunRecord carries
    f = forecaster(as_dict, payload)
    assert isinstance(f, MCDropoutForecaster) and f.samples == 7
    plain = forecaster({**as_dict, "regularizer": {"name": "synaptic", "params": {}}}, payload)
    assert not isinstance(plain, MCDropoutForecaster) and not plain.training
