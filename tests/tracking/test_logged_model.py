"""Each trial's trained model is an MLflow 3 logged model that loads with torch alone and
predicts what the trial predicted (real tiny trials on the ``synthetic`` dataset)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from synprune.datasets import load_dataset, prepare_windows
from synprune.experiment.evaluate import error_metrics
from synprune.experiment.model_state import decode_model_state
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial
from synprune.tracking.logged_model import model_name
from synprune.tracking.reader import trial_rows
from synprune.tracking.writer import Tracker, trial_record


def _spec(regularizer: str, params: dict[str, object]) -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 6}),
        regularizer=ComponentSpec(regularizer, params),
        seq_len=8,
        train=TrainSpec(epochs=3),
    )


def _test_mae(model: torch.nn.Module, spec: TrialSpec) -> float:
    """MAE in original units on the trial's test windows, from the loaded model."""
    w = prepare_windows(load_dataset("synthetic"), spec.seq_len, spec.horizon)
    with torch.no_grad():
        y_hat = model(w.x_test)
    orig = (y_hat.double() * w.target_std + w.target_mean, w.y_test.double() * w.target_std)
    return error_metrics(orig[0], orig[1] + w.target_mean)["mae"]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"


def test_logged_model_loads_and_predicts_as_the_trial(uri: str, tmp_path: Path) -> None:
    spec = _spec("synaptic", {"final_sparsity": 0.6})
    res = run_trial(spec)
    payload = decode_model_state(res.model_state)
    assert payload["masks"] and payload["tensor_sparsity"] == pytest.approx(res.tensor_sparsity)
    tr = Tracker(uri, "exp")
    assert tr.write(trial_record(res)) == "written"
    row = trial_rows(uri, "exp")[0]
    client = MlflowClient(uri)
    (logged,) = client.search_logged_models([tr.experiment_id])
    assert logged.source_run_id == row["run_id"] and logged.status == LoggedModelStatus.READY
    assert logged.tags["spec_id"] == res.spec_id
    assert logged.name == "lstm-synthetic-synaptic-L8-H1-s0"  # its run's name
    assert logged.tags["mlflow.note.content"].startswith("test MAE **")
    assert {m.key for m in logged.metrics} >= {"test_mae", "naive_mae", "ratio_to_naive"}
    run = client.get_run(row["run_id"])
    assert [o.model_id for o in run.outputs.model_outputs] == [logged.model_id]
    with mlflow.tracking._tracking_service.utils._use_tracking_uri(uri):
        by_id = mlflow.pytorch.load_model(f"models:/{logged.model_id}")
        by_run = mlflow.pytorch.load_model(f"runs:/{row['run_id']}/{logged.name}")
        info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
        model_uri = f"models:/{logged.model_id}"
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path)))
    # the same predictions as the trial's model: its test MAE, to float32 precision
    assert _test_mae(by_id, spec) == pytest.approx(res.test_mae, rel=1e-5)
    assert _test_mae(by_run, spec) == pytest.approx(res.test_mae, rel=1e-5)
    meta = info.metadata
    assert meta["final_sparsity"] == pytest.approx(res.final_sparsity)
    assert meta["target_std"] == pytest.approx(payload["target_std"])
    masks = torch.load(next(local.rglob("masks.pt")), weights_only=True)
    for name, mask in masks["masks"].items():
        kept = payload["state_dict"][name] != 0
        assert torch.equal(mask, kept)
        assert 1 - mask.float().mean().item() == pytest.approx(res.tensor_sparsity[name])


def test_mc_dropout_model_predicts_the_mean_of_stochastic_passes(uri: str) -> None:
    spec = _spec("mc_dropout", {"p": 0.2, "samples": 50})
    res = run_trial(spec)
    tr = Tracker(uri, "exp")
    tr.write(trial_record(res))
    (logged,) = MlflowClient(uri).search_logged_models([tr.experiment_id])
    with mlflow.tracking._tracking_service.utils._use_tracking_uri(uri):
        model = mlflow.pytorch.load_model(f"models:/{logged.model_id}")
        meta = mlflow.models.get_model_info(f"models:/{logged.model_id}").metadata
    assert meta["prediction"] == "mean of 50 MC-dropout passes"
    x = torch.randn(4, 8, decode_model_state(res.model_state)["n_features"])
    assert not np.allclose(model(x).detach().numpy(), model(x).detach().numpy())  # stochastic
    # averages of 50 passes: close to the trial's own (equally stochastic) test MAE
    assert _test_mae(model, spec) == pytest.approx(res.test_mae, rel=0.05)


def test_model_names_are_run_names_mlflow_accepts() -> None:
    assert model_name("gru-aapl-synaptic[final_sparsity=0.5]-L14-H1-s0") == (
        "gru-aapl-synaptic[final_sparsity=0_5]-L14-H1-s0"
    )
    assert model_name("a/b:c%d'e\"f") == "a_b_c_d_e_f"


def test_failed_trials_and_unbuildable_models_log_no_model(uri: str) -> None:
    spec = _spec("synaptic", {"final_sparsity": 0.6})
    res = run_trial(spec)
    res.model_state = res.model_state[:-40] + "A" * 40  # corrupt payload
    tr = Tracker(uri, "exp")
    assert tr.write(trial_record(res)) == "written"  # the run is fine without its model
    run = MlflowClient(uri).get_run(trial_rows(uri, "exp")[0]["run_id"])
    assert run.data.tags["status"] == "finished" and "model_error" in run.data.tags
    assert MlflowClient(uri).search_logged_models([tr.experiment_id]) == []


def test_a_second_trial_of_one_architecture_reuses_the_export_with_its_own_weights(
    uri: str,
) -> None:
    """torch.export runs once per architecture; each logged model still predicts as its own
    trial (none and dropout[p] share a program: dropout computes nothing in eval mode)."""
    from synprune.tracking.logged_model import EXPORTS

    specs = [
        _spec("synaptic", {"final_sparsity": 0.6}),
        _spec("none", {}),
        _spec("dropout", {"p": 0.3}),
    ]
    results = [run_trial(s) for s in specs]
    tr = Tracker(uri, "exp")
    before = dict(EXPORTS)
    for res in results:
        assert tr.write(trial_record(res)) == "written"
    assert EXPORTS["fresh"] - before["fresh"] <= 1  # 0 if an earlier test exported it
    assert EXPORTS["reused"] - before["reused"] >= 2
    logged = {
        m.tags["spec_id"]: m for m in MlflowClient(uri).search_logged_models([tr.experiment_id])
    }
    with mlflow.tracking._tracking_service.utils._use_tracking_uri(uri):
        for spec, res in zip(specs, results, strict=True):
            model = mlflow.pytorch.load_model(f"models:/{logged[res.spec_id].model_id}")
            assert _test_mae(model, spec) == pytest.approx(res.test_mae, rel=1e-5), spec.arm
    assert len({r.test_mae for r in results}) == 3  # three different models


class _Scaled(torch.nn.Module):
    """``k`` changes the computation but not the repr, the modules or the parameter shapes."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((3,), 0.5))
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum(-1) * self.k


def test_a_cached_program_that_computes_otherwise_is_never_used() -> None:
    from synprune.tracking import logged_model as lm

    x = torch.randn(2, 4, 3)
    one, two = _Scaled(1.0).eval(), _Scaled(2.0).eval()
    key = lm._arch_key(two, x)
    assert key == lm._arch_key(one, x)  # the key cannot tell them apart ...
    lm._PROGRAMS[key] = torch.export.export(one, (x,))
    try:
        assert lm._cached_program(two, x) == (key, None)  # ... the numeric check can
        assert key not in lm._PROGRAMS
        lm._PROGRAMS[key] = torch.export.export(one, (x,))
        other = _Scaled(1.0).eval()
        with torch.no_grad():
            other.w.copy_(torch.tensor([1.0, -2.0, 3.0]))
        found, program = lm._cached_program(other, x)
        assert found == key and program is not None
        assert torch.allclose(program.module()(x), (x * other.w).sum(-1))  # its own weights
    finally:
        lm._PROGRAMS.pop(key, None)
