"""MLflow write/read helpers against a real SQLite store (no Ray)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.tracking.reader import trial_rows
from synprune.tracking.uri import resolve_tracking_uri, store_dir
from synprune.tracking.writer import (
    Tracker,
    curves_png,
    trial_record,
)


def spec(seed: int = 0) -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 4}),
        regularizer=ComponentSpec("synaptic", {"final_sparsity": 0.5}),
        seq_len=8,
        seed=seed,
        train=TrainSpec(epochs=3),
    )


def result(seed: int = 0, status: str = "finished") -> TrialResult:
    s = spec(seed)
    if status == "failed":
        return TrialResult.failed(s.to_dict(), s.spec_id, "RuntimeError: boom\n  traceback...")
    hist = [
        {"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.5 / e, "sparsity": 0.1 * e}
        for e in (1, 2, 3)
    ]
    return TrialResult(
        spec=s.to_dict(),
        spec_id=s.spec_id,
        test_mae=0.5,
        test_rmse=0.6,
        test_mse=0.36,
        naive_mae=0.7,
        naive_rmse=0.8,
        val_loss=0.5,
        epochs_run=3,
        best_epoch=3,
        final_sparsity=0.3,
        train_seconds=1.0,
        history=hist,
        notes=["synthetic: seed 0"],
    )


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"


def test_uri_resolution_and_store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == "sqlite:///./synprune-runs/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert store_dir(f"sqlite:///{tmp_path}/a/m.db") == tmp_path / "a"
    assert store_dir("http://h:1").name == "synprune-runs"


def test_trial_run_layout(uri: str) -> None:
    tr = Tracker(uri, "exp")
    res = result()
    assert tr.write(trial_record(res, parent_run_id="", attempts=2)) == "written"
    rows = trial_rows(uri, "exp")
    assert len(rows) == 1
    row = rows[0]
    assert row["spec_id"] == res.spec_id and row["status"] == "finished"
    assert (row["model"], row["dataset"], row["regularizer"]) == ("lstm", "synthetic", "synaptic")
    assert (row["seq_len"], row["horizon"], row["seed"]) == ("8", "1", "0")
    assert row["git_sha"] and row["run_status"] == "FINISHED"
    assert row["test_mae"] == 0.5 and row["val_loss"] == 0.5  # latest val_loss = the best one
    client = MlflowClient(uri)
    run = client.get_run(row["run_id"])
    assert run.data.params["regularizer.params.final_sparsity"] == "0.5"
    assert run.data.params["model.params.hidden_size"] == "4"
    assert run.data.tags["attempts"] == "2"
    hist = client.get_metric_history(row["run_id"], "sparsity")
    assert sorted((m.step, round(m.value, 6)) for m in hist) == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert len(client.get_metric_history(row["run_id"], "train_loss")) == 3
    arts = {a.path for a in client.list_artifacts(row["run_id"])}
    assert {"curves.png", "notes.txt"} <= arts
    # artifacts of a SQLite store live next to it, not in the working directory
    assert run.info.artifact_uri.startswith(store_dir(uri).as_uri())


def test_failed_run_keeps_error(uri: str) -> None:
    tr = Tracker(uri, "exp")
    tr.write(trial_record(result(status="failed")))
    rows = trial_rows(uri, "exp", status="failed")
    assert len(rows) == 1 and rows[0]["error"].startswith("RuntimeError: boom")
    assert rows[0]["run_status"] == "FAILED"
    text = MlflowClient(uri).download_artifacts(rows[0]["run_id"], "error.txt")
    assert "traceback" in Path(text).read_text()
    assert trial_rows(uri, "exp") == []  # not finished


def test_duplicates_are_not_written(uri: str) -> None:
    tr = Tracker(uri, "exp")
    assert tr.write(trial_record(result())) == "written"
    tr2 = Tracker(uri, "exp")  # a later driver
    assert result().spec_id in tr2.finished_spec_ids()
    assert tr2.write(trial_record(result())) == "duplicate"
    assert len(trial_rows(uri, "exp")) == 1


def test_retire_stale_running_runs(uri: str) -> None:
    tr = Tracker(uri, "exp")
    run = tr.client.create_run(
        tr.experiment_id, tags={"run_kind": "trial", "status": "running", "spec_id": "abc"}
    )
    assert tr.retire_stale() == 1
    r = tr.client.get_run(run.info.run_id)
    assert r.info.status == "KILLED" and r.data.tags["status"] == "failed"
    assert "interrupted" in r.data.tags["error"]
    assert tr.retire_stale() == 0


@pytest.mark.slow  # SQLite busy time-outs make it take ~30 s
def test_unwritable_store_spools_then_flushes(uri: str, tmp_path: Path) -> None:
    tr = Tracker(uri, "exp")
    # a real write failure: another process holds SQLite's exclusive lock
    blocker = sqlite3.connect(tmp_path / "runs" / "mlflow.db", timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        assert tr.write(trial_record(result(0))) == "spooled"
        assert tr.write(trial_record(result(1))) == "spooled"  # in cool-down: straight to spool
        assert len(tr.spooled()) == 2
        assert tr.last_error
    finally:
        blocker.rollback()
        blocker.close()
    # spooled finished records count as finished (a resume does not rerun them)
    assert {r.spec_id for r in tr.spooled()} <= tr.finished_spec_ids()
    assert tr.flush(timeout=5) == 0
    assert tr.spooled() == []
    assert sorted(r["seed"] for r in trial_rows(uri, "exp")) == ["0", "1"]
    assert trial_rows(uri, "exp", status="running") == []  # no half-written run left behind


def test_curves_png_is_a_png() -> None:
    png = curves_png(result().history, "title", best_epoch=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
