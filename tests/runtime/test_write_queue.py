"""The sweep driver's write path off Tune's loop (``runtime.write_queue``) and how training
groups are cut into Tune trials (``runtime.sweep.batches``); real SQLite stores, no Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrialSpec
from synprune.runtime.sweep import batches
from synprune.runtime.write_queue import WriteQueue
from synprune.tracking.reader import trial_rows
from synprune.tracking.writer import Tracker, trial_record


def _spec(seq_len: int = 8, seed: int = 0, reg: str = "none") -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 4}),
        regularizer=ComponentSpec(reg, {}),
        seq_len=seq_len,
        seed=seed,
    )


def _failed(spec: TrialSpec, why: str = "boom") -> TrialResult:
    return TrialResult.failed(spec, f"RuntimeError: {why}")


def test_batches_keep_cells_together_and_give_each_slot_about_eight() -> None:
    a = [[_spec(8, seed)] for seed in range(10)]
    b = [[_spec(12, seed)] for seed in range(10)]
    interleaved = [g for pair in zip(a, b, strict=True) for g in pair]
    cut = batches(interleaved, slots=1)  # 20 groups / (8 x 1 slot): at most 3 per batch
    assert [len(x) for x in cut] == [3, 3, 3, 1, 3, 3, 3, 1]
    assert all(len({g[0].seq_len for g in x}) == 1 for x in cut)  # one cell per batch
    assert [g[0].seed for x in cut[:4] for g in x] == list(range(10))  # grid order kept
    assert [len(x) for x in batches(interleaved, slots=2)] == [2] * 10  # ceil(20 / 16)
    assert [len(x) for x in batches(a[:6], slots=2)] == [1] * 6
    assert batches([], slots=2) == []


def test_records_are_written_in_order_by_the_writer_thread(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    tracker = Tracker(uri, "wq")
    writer = WriteQueue(tracker, maxsize=2)  # puts wait while 2 records are queued
    specs = [_spec(seed=s) for s in range(5)]
    for spec in specs:
        writer.put(trial_record(_failed(spec)))
    assert writer.close(timeout=120)
    assert writer.outcomes == {"written": 5} and writer.unrecorded == 0
    rows = trial_rows(uri, "wq", status="failed")
    assert sorted(r["spec_id"] for r in rows) == sorted(s.spec_id for s in specs)
    assert writer.busy_seconds > 0


def test_a_write_that_fails_past_the_spool_stops_the_writer_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """The store refuses the run and the spool folder cannot be made (a file is in its way,
    as a full disk or a read-only folder would refuse it): nothing is lost silently."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    tracker = Tracker(uri, "wq")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert tracker.spool is not None
    tracker.spool.dir = blocker / "spool"
    tracker.experiment_id = "424242"  # no such experiment: the store refuses every run
    reasons: list[str] = []
    writer = WriteQueue(tracker, on_failure=reasons.append)
    done = _spec(seed=0)
    writer.put(trial_record(_failed(done)))
    assert writer.close(timeout=120)
    assert writer.unrecorded == 1 and writer.unrecorded_with("failed") == 1
    assert len(reasons) == 1 and reasons[0] == writer.error
    assert writer.error.startswith(("NotADirectoryError", "FileExistsError")), writer.error
    writer.put(trial_record(_failed(_spec(seed=1))))  # after the failure: counted, not queued
    assert writer.unrecorded == 2
    with pytest.raises(Exception):  # noqa: B017 - the store really refuses the experiment
        tracker.client.get_experiment("424242")
