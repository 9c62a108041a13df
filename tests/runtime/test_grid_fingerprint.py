"""Issue 11 promise 5: one experiment name, two different grids -> refused before any trial
(the experiment carries the grid's fingerprint); --allow-grid-change adds the second grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from synprune.cli.main import main
from synprune.config.loader import load_config
from synprune.tracking.schema import GRID_TAG
from synprune.tracking.writer import Tracker

GRID = """
experiment = "fp"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none"]
seq_len = [8]
seed = {seeds}
[train]
epochs = 2
"""


def config(tmp_path: Path, seeds: str) -> Path:
    p = tmp_path / f"fp-{len(seeds)}.toml"
    p.write_text(GRID.format(seeds=seeds))
    return p


def test_the_experiment_takes_the_first_grid_and_refuses_another(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    first, second = load_config(config(tmp_path, "[0]")), load_config(config(tmp_path, "[0, 1]"))
    assert first.fingerprint != second.fingerprint
    tracker = Tracker(uri, "fp")
    tracker.claim_grid(first.fingerprint, str(first.path))
    tracker.claim_grid(first.fingerprint, str(first.path))  # the same grid again: fine
    with pytest.raises(Exception) as info:
        tracker.claim_grid(second.fingerprint, str(second.path))
    msg = str(info.value)
    assert first.fingerprint in msg and second.fingerprint in msg and "--allow-grid-change" in msg
    held = tracker.client.get_experiment(tracker.experiment_id).tags[GRID_TAG]
    assert held == first.fingerprint  # the refusal changed nothing
    tracker.claim_grid(second.fingerprint, str(second.path), allow_change=True)
    assert tracker.client.get_experiment(tracker.experiment_id).tags[GRID_TAG] == second.fingerprint


def test_sweep_refuses_a_second_grid_before_ray_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    first = load_config(config(tmp_path, "[0]"))
    Tracker(uri, "fp").claim_grid(first.fingerprint, str(first.path))
    rc = main(["sweep", "--config", str(config(tmp_path, "[0, 1]")), "--tracking-uri", uri])
    ours = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("synprune")]
    assert rc == 2 and len(ours) == 1 and "holds the runs of another grid" in ours[0], ours
    assert not list((tmp_path / "store").glob("ray*"))  # no Ray results: nothing ran
    assert Tracker(uri, "fp").search("tags.run_kind = 'trial'") == []
