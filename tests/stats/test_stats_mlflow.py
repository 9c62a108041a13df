"""Round trip through a real SQLite MLflow store laid out as docs/ARCHITECTURE.md "MLflow layout".

The round trip from a store written by a real sweep is in
tests/runtime/test_sweep_ray.py::test_sweep_end_to_end_then_idempotent (ray-marked).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from synprune.cli.main import main

EXPERIMENT = "stats-roundtrip"
ARMS = {"none": 1.0, "dropout": 0.97, "synaptic": 0.93}
FILES = {"ranking.csv", "friedman.csv", "nemenyi.csv", "wilcoxon_holm.csv", "cd_diagram.png",
         "report.md"}  # fmt: skip


def _log_trial(client, exp_id, parent_id, spec, status, mae, start):  # type: ignore[no-untyped-def]
    from mlflow.entities import Metric, Param

    ds, model, seq_len, arm, seed = spec
    tags = {
        "mlflow.parentRunId": parent_id,
        "spec_id": f"{ds}-{model}-{seq_len}-{arm}-{seed}",
        "model": model, "dataset": ds, "regularizer": arm, "seq_len": str(seq_len),
        "horizon": "1", "seed": str(seed), "status": status, "git_sha": "abc123",
    }  # fmt: skip
    run = client.create_run(exp_id, start_time=start, tags=tags, run_name=tags["spec_id"])
    metrics = [Metric("val_loss", 1.0 / (e + 1), start, e) for e in range(3)]
    if status == "finished":
        final = {"test_mae": mae, "test_rmse": 1.2 * mae, "naive_mae": 10.0, "epochs_run": 3.0}
        metrics += [Metric(k, v, start, 3) for k, v in final.items()]
    params = [Param("model.hidden_size", "16"), Param("regularizer.name", arm)]
    client.log_batch(run.info.run_id, metrics=metrics, params=params)
    client.set_terminated(run.info.run_id, "FINISHED" if status == "finished" else "FAILED")
    return run.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with one sweep: parent run, 24 finished trials, a failure, a rerun."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp_id, run_name="sweep", tags={"status": "finished"})
    pid = parent.info.run_id
    grid = itertools.product(("aapl", "bitcoin"), ("lstm", "gru"), (14,), ARMS, (0, 1))
    for i, spec in enumerate(grid):
        mae = 8.0 * ARMS[spec[3]] + 0.01 * i
        start = 1_000_000 + 1000 * i
        if spec[:2] == ("bitcoin", "gru") and spec[3] == "synaptic" and spec[4] == 1:
            # an earlier attempt with a wrong value; the rerun (same spec_id, later) must win
            _log_trial(client, exp_id, pid, spec, "finished", 99.0, start - 500)
        _log_trial(client, exp_id, pid, spec, "finished", mae, start)
    # a failed trial of an extra block: that block is incomplete
    _log_trial(client, exp_id, pid, ("etth1", "lstm", 14, "none", 0), "failed", 0.0, 9_000_000)
    _log_trial(client, exp_id, pid, ("etth1", "lstm", 14, "dropout", 0), "finished", 5.0, 9_000_001)
    # an Optuna tuning run (runtime/tune.py tags run_kind=tune): not a benchmark trial
    tid = _log_trial(client, exp_id, pid, ("aapl", "lstm", 14, "none", 0), "finished", 0.1, 5)
    client.set_tag(tid, "run_kind", "tune")
    client.set_terminated(pid)
    return uri


def test_round_trip_and_stats_run_artifacts(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    out = tmp_path / "out"
    argv = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", store, "--out", str(out)]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} >= FILES
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 26  # 24 + etth1 x 2; the parent and the tune run are not trials
    assert trials.status.value_counts().to_dict() == {"finished": 25, "failed": 1}
    rerun = trials[trials.spec_id == "bitcoin-gru-14-synaptic-1"]
    assert len(rerun) == 1 and rerun.test_mae.iloc[0] < 50  # latest run kept, not the 99.0
    report = (out / "report.md").read_text()
    assert "1 rerun(s) of the same spec_id: kept the latest" in report
    assert "1 run(s) with run_kind tune ignored" in report
    assert "dataset=etth1 model=lstm seq_len=14 horizon=1 | none, synaptic |" in report
    assert f"--experiment {EXPERIMENT} --tracking-uri {store}" in report
    ranking = pd.read_csv(out / "ranking.csv")
    assert ranking["regularizer"].tolist() == ["synaptic", "dropout", "none"]
    assert ranking["n_blocks"].iloc[0] == 4

    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name(EXPERIMENT)
    stats_runs = client.search_runs([exp.experiment_id], "tags.`synprune.kind` = 'stats'")
    assert len(stats_runs) == 1
    srun = stats_runs[0]
    assert srun.info.run_name == "stats" and "spec_id" not in srun.data.tags
    assert srun.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(srun.info.run_id)} >= FILES
    assert srun.data.metrics["n_blocks"] == 4 and srun.data.params["metric"] == "test_mae"
    assert "logged MLflow run 'stats'" in capsys.readouterr().out

    # a second pass reads the same trials: the stats run is never taken for a trial
    out2 = tmp_path / "out2"
    argv2 = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", store, "--out", str(out2)]
    assert main([*argv2, "--no-log", "--api-read"]) == 0
    cols = ["spec_id", "dataset", "model", "regularizer", "seed", "test_mae", "naive_mae"]
    key = ["spec_id"]
    fast = trials[cols].sort_values(key).reset_index(drop=True)
    api = pd.read_csv(out2 / "trials.csv")[cols].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(fast, api)  # SQL fast path == MlflowClient.search_runs
    assert len(client.search_runs([exp.experiment_id], "tags.`synprune.kind` = 'stats'")) == 1


def test_unknown_experiment_and_metric(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = ["stats", "--tracking-uri", store, "--out", str(tmp_path / "o"), "--no-log"]
    assert main([*base, "--experiment", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no MLflow experiment named 'nope'" in err and EXPERIMENT in err
    assert main([*base, "--experiment", EXPERIMENT, "--metric", "test_smape"]) == 2
    err = capsys.readouterr().err
    assert "unknown --metric 'test_smape'" in err and "naive_mae, test_mae, test_rmse" in err
    assert main([*base, "--experiment", EXPERIMENT, "--metric", "test_rmse"]) == 0
    assert "naive_rmse not available" in (tmp_path / "o" / "report.md").read_text()
