"""A sweep whose trials each run on 2 data-parallel Ray Train workers logs one run per trial."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.distributed]

CONFIG = """
experiment = "ddp-sweep"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "synaptic"]
seq_len = [8]
seed = [0]
[train]
epochs = 3
batch_size = 64
patience = 0
[models.lstm]
hidden_size = 8
num_layers = 1
[regularizers.synaptic]
final_sparsity = 0.5
start_frac = 0.0
end_frac = 0.5
prune_every = 2
[resources]
cpu = 1
workers = 2
"""


def test_sweep_with_two_workers_per_trial(tmp_path: Path) -> None:
    import ray
    from mlflow.tracking import MlflowClient

    from synprune.config.loader import load_config
    from synprune.runtime.sweep import run_sweep
    from synprune.tracking.reader import trial_rows

    path = tmp_path / "ddp.toml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    specs = cfg.specs()
    assert all(s.workers == 2 for s in specs)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    # one driver CPU + two worker CPUs: exactly one distributed trial fits at a time
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_sweep(cfg, uri)
    finally:
        ray.shutdown()
    assert (summary.total, summary.finished, summary.failed) == (2, 2, 0)
    rows = trial_rows(uri, "ddp-sweep")
    assert sorted(r["spec_id"] for r in rows) == sorted(s.spec_id for s in specs)
    client = MlflowClient(uri)
    for row in rows:
        run = client.get_run(row["run_id"])
        assert run.data.params["workers"] == "2"
        history = client.get_metric_history(row["run_id"], "train_loss")
        assert len(history) == 3  # logged once (rank 0), one point per epoch
        sparsity = run.data.metrics["final_sparsity"]
        if run.data.tags["regularizer"] == "synaptic":
            assert sparsity == pytest.approx(0.5, abs=1e-3)
        else:
            assert sparsity == 0.0


TUNE_CONFIG = """
experiment = "ddp-tune"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["dropout"]
seq_len = [8]
[train]
epochs = 2
batch_size = 64
patience = 0
[models.lstm]
hidden_size = 8
num_layers = 1
[resources]
cpu = 1
workers = 2
[tuning]
trials = 2
seeds = [5]
storage = "sqlite:///{storage}"
"""


def test_tune_with_two_workers_per_trial_runs_under_the_sweeps_cap(tmp_path: Path) -> None:
    """Tune trials run through the sweep's executor (Ray Train DDP for workers = 2) under the
    same concurrency cap: with 3 CPUs one trial (1 driver + 2 workers) fits at a time. Without
    the cap Tune would start both trials' 1-CPU drivers and leave one CPU for four workers."""
    import optuna
    import ray

    from synprune.config.loader import load_config
    from synprune.runtime.executor import max_concurrent_trials
    from synprune.runtime.tune import run_tuning

    db = tmp_path / "optuna.db"
    path = tmp_path / "t.toml"
    path.write_text(TUNE_CONFIG.format(storage=db))
    cfg = load_config(path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        assert max_concurrent_trials(cfg.resources, cfg.tuning.max_concurrent) == 1
        doc = run_tuning(cfg, uri)
    finally:
        ray.shutdown()
    study = optuna.load_study(
        study_name="ddp-tune/lstm/synthetic/dropout/L8H1", storage=f"sqlite:///{db}"
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    best = doc["tuned"]["lstm"]["synthetic"]["dropout"]
    assert best["trials"] == 2 and best["objective"] == study.best_value
    # the DDP trials ran: a workers=2 spec of the tuned params gives the recorded objective
    from synprune.experiment.spec import TrialSpec
    from synprune.runtime.executor import execute

    base = cfg.spec_for(
        model="lstm",
        dataset="synthetic",
        regularizer="dropout",
        seq_len=8,
        horizon=1,
        seed=5,
    )
    spec = TrialSpec.from_dict(
        {**base.to_dict(), "regularizer": {"name": "dropout", "params": best["params"]}}
    )
    assert spec.workers == 2
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        (again,) = execute([spec])
    finally:
        ray.shutdown()
    assert any("workers=2" in n for n in again.notes)
    assert again.val_loss == pytest.approx(best["objective"], rel=1e-6)
