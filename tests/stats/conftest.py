"""Helpers for the stats tests: MLflow stores written by the project's real writer
(``synprune.tracking.writer.Tracker`` + ``trial_record``), never by hand-inserted rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Trial:
    """One trial to write: its block, arm, seed, outcome and any spec overrides."""

    dataset: str
    arm: str  # regularizer name[field=value,...]: the spec's regularizer and its params
    seed: int
    test_mae: float = float("nan")
    val_loss: float = float("nan")
    naive_mae: float = 10.0
    model: str = "lstm"
    seq_len: int = 14
    error: str = ""  # non-empty: a failed trial
    train: dict[str, Any] = field(default_factory=dict)
    arm_tag: bool = True  # False: no arm tag, as in stores written before arms existed


def _regularizer(arm: str) -> tuple[str, dict[str, Any]]:
    from synprune.stats.arms import as_number, parse_arm

    a = parse_arm(arm)
    return a.family, {k: as_number(v) if as_number(v) is not None else v for k, v in a.fields}


def record(t: Trial, parent_run_id: str = "") -> Any:
    """The ``RunRecord`` the sweep's driver builds for ``t`` (``trial_record`` of its result)."""
    from synprune.experiment.results import TrialResult
    from synprune.experiment.spec import TrialSpec
    from synprune.tracking.writer import trial_record

    name, params = _regularizer(t.arm)
    spec = TrialSpec.from_dict(
        {
            "dataset": t.dataset,
            "model": {"name": t.model, "params": {"hidden_size": 8}},
            "regularizer": {"name": name, "params": params},
            "seq_len": t.seq_len,
            "seed": t.seed,
            "train": {"epochs": 3, **t.train},
        }
    )
    if t.error:
        result = TrialResult.failed(spec, t.error)
    else:
        result = TrialResult(
            spec=spec,
            test_mae=t.test_mae,
            test_rmse=1.2 * t.test_mae,
            test_mse=(1.2 * t.test_mae) ** 2,
            naive_mae=t.naive_mae,
            val_loss=t.val_loss,
            epochs_run=3,
            best_epoch=2,
        )
    rec = trial_record(result, parent_run_id)
    if t.arm_tag:
        rec.tags["arm"] = t.arm
    else:
        rec.tags.pop("arm", None)
    return rec


def write_store(
    uri: str, experiment: str, trials: Iterable[Trial], parent_run_id: str = ""
) -> list[str]:
    """Write each trial as the sweep's driver would; returns the run ids in order."""
    from synprune.tracking.writer import Tracker

    tracker = Tracker(uri, experiment, spool=False)
    ids = []
    for t in trials:
        rec = record(t, parent_run_id)
        assert tracker.write(rec) == "written"
        ids.append(str(rec.partial_run_id))
    return ids


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
