"""MLflow writer against a real SQLite store (no Ray): run layout, spool, resume rules."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from builders import finished_result, small_spec
from mlflow.tracking import MlflowClient

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrialSpec
from synprune.tracking.curves import curves_png
from synprune.tracking.reader import trial_rows
from synprune.tracking.records import RunRecord
from synprune.tracking.schema import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from synprune.tracking.uri import resolve_tracking_uri, store_dir, unknown_experiment
from synprune.tracking.writer import Tracker, trial_record

T0 = 1_700_000_000_000  # the trial's own start (ms since the epoch)


def spec(seed: int = 0, epochs: int = 3) -> TrialSpec:
    synaptic = ComponentSpec("synaptic", {"final_sparsity": 0.5})
    return small_spec(
        regularizer=synaptic, seed=seed, epochs=epochs, swept=("regularizer.final_sparsity",)
    )


def result(seed: int = 0, status: str = "finished", epochs: int = 3) -> TrialResult:
    s = spec(seed, epochs)
    if status == "failed":
        return TrialResult.failed(s, "RuntimeError: boom\n  traceback...")
    hist = [
        {
            "epoch": float(e),
            "train_loss": 1.0 / e,
            "val_loss": 1.5 / e,
            "sparsity": 0.1 * e,
            "epoch_seconds": 2.0,
        }
        for e in range(1, epochs + 1)
    ]
    return finished_result(
        s,
        final_sparsity=0.1 * epochs,
        tensor_sparsity={"layers.0.weight_ih_l0": 0.25, "head.weight": 0.5},
        start_time_ms=T0,
        end_time_ms=T0 + 2000 * epochs,
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


def test_unknown_experiment_message_names_the_store_and_what_it_has() -> None:
    err = unknown_experiment("x", "sqlite:///s.db", ["b", "a", "b"])
    assert str(err) == "--experiment 'x': no such experiment at sqlite:///s.db (there are: a, b)"
    assert "(there are: none)" in str(unknown_experiment("x", "u", []))
    many = str(unknown_experiment("x", "u", [f"e{i:02d}" for i in range(25)]))
    assert "e19, ... (25 in all))" in many and "e20" not in many


def test_experiments_open_in_the_model_training_view(uri: str) -> None:
    tr = Tracker(uri, "exp")
    client = MlflowClient(uri)
    assert client.get_experiment(tr.experiment_id).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    old = client.create_experiment("older")  # made before the tag existed
    Tracker(uri, "older")
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_trial_run_layout(uri: str) -> None:
    tr = Tracker(uri, "exp")
    sweep = tr.start_parent("sweep-1", None, {}, {"trials": 1})
    res = result()
    assert tr.write(trial_record(res, sweep, attempts=2)) == "written"
    rows = trial_rows(uri, "exp")
    assert len(rows) == 1
    row = rows[0]
    assert row["spec_id"] == res.spec_id and row["status"] == "finished"
    assert (row["model"], row["dataset"], row["regularizer"]) == ("lstm", "synthetic", "synaptic")
    assert (row["seq_len"], row["horizon"], row["seed"]) == ("8", "1", "0")
    assert row["arm"] == "synaptic[final_sparsity=0.5]"
    assert row["git_sha"] and row["run_status"] == "FINISHED"
    assert row["test_mae"] == 0.5 and row["best_val_loss"] == 0.45
    assert row["ratio_to_naive"] == pytest.approx(0.5 / 0.8)
    client = MlflowClient(uri)
    run = client.get_run(row["run_id"])
    tags, params = run.data.tags, run.data.params
    # flat: a trial is a top-level run that names its sweep
    assert "mlflow.parentRunId" not in tags
    assert tags["sweep_run_id"] == sweep and tags["sweep"] == "sweep-1"
    assert run.info.run_name == "lstm-synthetic-synaptic[final_sparsity=0.5]-L8-H1-s0"
    assert tags["attempts"] == "2"
    assert "test MAE **0.5**" in tags["mlflow.note.content"]
    # params: every spec field, none of them "None"
    assert params["regularizer.params.final_sparsity"] == "0.5"
    assert params["model.params.hidden_size"] == "4" and params["train.epochs"] == "3"
    assert "None" not in params.values() and "arm" not in params
    # histories: one point per epoch, the restored best is its own metric
    hist = client.get_metric_history(row["run_id"], "val_loss")
    assert sorted((m.step, m.value) for m in hist) == [(1, 1.5), (2, 0.75), (3, 0.5)]
    sp = client.get_metric_history(row["run_id"], "sparsity")
    assert sorted((m.step, round(m.value, 6)) for m in sp) == [(1, 0.1), (2, 0.2), (3, 0.3)]
    # the run spans the trial's real training time; epochs stamped as they ended
    assert (run.info.start_time, run.info.end_time) == (T0, T0 + 6000)
    assert sorted(m.timestamp for m in hist) == [T0 + 2000, T0 + 4000, T0 + 6000]
    arts = {a.path for a in client.list_artifacts(row["run_id"])}
    assert {"curves.png", "notes.txt"} <= arts
    # artifacts of a SQLite store live next to it, not in the working directory
    assert run.info.artifact_uri.startswith(store_dir(uri).as_uri())


def test_one_epoch_trial_logs_no_one_point_histories(uri: str) -> None:
    tr = Tracker(uri, "exp")
    tr.write(trial_record(result(epochs=1)))
    rid = trial_rows(uri, "exp")[0]["run_id"]
    client = MlflowClient(uri)
    for key in ("train_loss", "val_loss", "sparsity"):
        assert client.get_metric_history(rid, key) == []
    metrics = client.get_run(rid).data.metrics
    assert metrics["best_val_loss"] == 0.45 and metrics["final_sparsity"] == pytest.approx(0.1)
    assert "curves.png" not in {a.path for a in client.list_artifacts(rid)}


def test_tensor_sparsity_final_values_top_histories_and_collapse(
    uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    res = result()
    final = {f"layers.{i}.weight": 0.1 * i for i in range(7)} | {"head.weight": 1.0}
    res.tensor_sparsity = final
    for e, h in enumerate(res.history, 1):  # per-epoch values, as the loop may report them
        h["tensor_sparsity"] = {k: v * e / 3 for k, v in final.items()}
    Tracker(uri, "exp").write(trial_record(res))
    assert "head.weight" in capsys.readouterr().err  # the console warning
    row = trial_rows(uri, "exp")[0]
    client = MlflowClient(uri)
    run = client.get_run(row["run_id"])
    assert run.data.tags["collapsed_tensors"] == "head.weight"
    for name, value in final.items():
        assert run.data.metrics[f"sparsity/{name}"] == pytest.approx(value)
    lengths = {n: len(client.get_metric_history(row["run_id"], f"sparsity/{n}")) for n in final}
    top5 = ["head.weight", "layers.6.weight", "layers.5.weight", "layers.4.weight"]
    top5.append("layers.3.weight")
    assert {n for n, k in lengths.items() if k == 3} == set(top5)
    assert all(k == 1 for n, k in lengths.items() if n not in top5)


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
    assert tr2.finished_seconds == {result().spec_id: 6.0}  # the stored train seconds (ETA)
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


def test_spool_reads_older_records_and_sets_bad_files_aside(uri: str) -> None:
    tr = Tracker(uri, "exp")
    assert tr.spool is not None
    rec = trial_record(result())
    d = json.loads(json.dumps(rec.__dict__))
    d["field_of_a_future_version"] = 1
    for key in ("start_ms", "end_ms", "spec", "model_state"):  # an older version's record
        d.pop(key)
    tr.spool.dir.mkdir(parents=True)
    (tr.spool.dir / "00000000000001-a.json").write_text(json.dumps(d))
    (tr.spool.dir / "00000000000002-b.json").write_text("{not json")
    assert [r.record_id for r in tr.spooled()] == [rec.record_id]
    assert (tr.spool.dir / "00000000000002-b.json.bad").is_file()
    assert tr.flush() == 0 and len(trial_rows(uri, "exp")) == 1
    assert RunRecord.from_json(d).model_state == ""


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
