"""Round trip through a real SQLite MLflow store laid out as docs/ARCHITECTURE.md "MLflow layout",
written by the project's own writer (``Tracker`` + ``trial_record``, see conftest.py).

The round trip from a store written by a real sweep is in
tests/runtime/test_sweep_ray.py::test_sweep_end_to_end_then_idempotent (ray-marked).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import Trial, record, write_store

from synprune.cli.main import main

EXPERIMENT = "stats-roundtrip"
ARMS = {"none": 1.0, "dropout": 0.97, "synaptic": 0.93}
FILES = {"ranking.csv", "friedman.csv", "nemenyi.csv", "wilcoxon_holm.csv", "cd_diagram.png",
         "report.md"}  # fmt: skip
#: the trial that failed once and finished when the sweep was resumed
RERUN = Trial("bitcoin", "synaptic", 1, model="gru")
RERUN_ERROR = "RuntimeError: worker died"


def _rerun_spec_id() -> str:
    return record(RERUN).spec_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with one sweep run, 24 finished trials (2 datasets x 2 models x 3 arms x
    2 seeds), one of them finished only on a resume after a failed attempt, an incomplete
    extra block, and a tuning run."""
    from synprune.tracking.writer import RunRecord, Tracker

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    sweep = Tracker(uri, EXPERIMENT, spool=False)
    pid = sweep.start_parent("sweep", None, {}, {"n_trials": 26})
    # the first attempt of RERUN failed (its driver went on; a resumed sweep runs it again)
    write_store(uri, EXPERIMENT, [replace(RERUN, error=RERUN_ERROR)], pid)
    grid = itertools.product(("aapl", "bitcoin"), ("lstm", "gru"), ARMS, (0, 1))
    trials = [
        Trial(ds, arm, seed, 8.0 * ARMS[arm] + 0.01 * i, 0.5, model=model)
        for i, (ds, model, arm, seed) in enumerate(grid)
    ]
    # a failed trial of an extra block: that block is incomplete
    trials += [Trial("etth1", "none", 0, error="ValueError: NaN loss"),
               Trial("etth1", "dropout", 0, 5.0, 0.5)]  # fmt: skip
    write_store(uri, EXPERIMENT, trials, pid)
    sweep.end_parent(pid, "finished", {"n_finished": 25.0})
    # a tuning run as runtime/tune.py's _record_best writes it (there into '<experiment>-tune';
    # here into the sweep's experiment, as in a store where the names meet): not a trial
    tags = {"model": "lstm", "dataset": "aapl", "regularizer": "synaptic", "study": "s",
            "seq_len": "14", "horizon": "1"}  # fmt: skip
    tune = RunRecord(
        kind="tune",
        run_name="tune-lstm-aapl-synaptic",
        status="finished",
        tags=tags,
        params={"lam": "0.01"},
        metrics={"objective": 0.1, "n_trials": 8},
    )
    assert sweep.write(tune) == "written"
    return uri


def test_writer_keeps_one_finished_run_per_spec_id(store: str) -> None:
    """The real writer never stores a second finished run of a spec_id: a resumed driver learns
    the finished ones (``finished_spec_ids``, as runtime/sweep.py does) and drops a duplicate."""
    from mlflow.tracking import MlflowClient

    from synprune.tracking.writer import Tracker

    resumed = Tracker(store, EXPERIMENT, spool=False)
    sid = _rerun_spec_id()
    assert sid in resumed.finished_spec_ids()
    assert resumed.write(record(replace(RERUN, test_mae=99.0))) == "duplicate"
    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([exp.experiment_id], f"tags.spec_id = '{sid}'")
    assert sorted(r.data.tags["status"] for r in runs) == ["failed", "finished"]


def test_round_trip_and_stats_run_artifacts(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    out = tmp_path / "out"
    argv = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", store, "--out", str(out)]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} >= FILES
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 26  # 24 + etth1 x 2; the sweep and the tune run are not trials
    assert trials.status.value_counts().to_dict() == {"finished": 25, "failed": 1}
    rerun = trials[trials.spec_id == _rerun_spec_id()]
    assert rerun.status.tolist() == ["finished"]  # the resumed run, not the failed attempt
    assert rerun.test_mae.iloc[0] == pytest.approx(8.0 * ARMS["synaptic"] + 0.01 * 23)
    report = (out / "report.md").read_text()
    assert "1 rerun(s) of the same spec_id: kept the latest" in report
    assert RERUN_ERROR not in report and "run_kind" not in report  # tune run: no spec_id
    assert "dataset=etth1 model=lstm seq_len=14 horizon=1 | none, synaptic |" in report
    assert f"--experiment {EXPERIMENT} --tracking-uri {store}" in report
    ranking = pd.read_csv(out / "ranking.csv")
    assert ranking["regularizer"].tolist() == ["synaptic", "dropout", "none"]
    assert ranking["n_blocks"].iloc[0] == 4

    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert len(client.search_runs([exp.experiment_id], "tags.run_kind = 'tune'")) == 1
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
    assert f"--experiment 'nope': no such experiment at {store}" in err and EXPERIMENT in err
    assert main([*base, "--experiment", EXPERIMENT, "--metric", "test_smape"]) == 2
    err = capsys.readouterr().err
    assert "unknown --metric 'test_smape'" in err
    # what the writer logs for a finished trial (naive_rmse is NaN here, so not logged)
    logged = "(logged metrics: best_epoch, best_val_loss, epochs_run, final_sparsity, naive_mae, "
    assert logged in err and "test_mae, test_mse, test_rmse, train_seconds)" in err
    assert main([*base, "--experiment", EXPERIMENT, "--metric", "test_rmse"]) == 0
    assert "naive_rmse not available" in (tmp_path / "o" / "report.md").read_text()
