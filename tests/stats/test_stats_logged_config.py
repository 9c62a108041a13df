"""`synprune stats --experiment`: the primary comparison pre-registered in the config the sweep
logged ([stats] primary), the protocol and stopping rule on the report's first line, a store
without per-window predictions (per-dataset tests skipped, never a crash) and one with them
(per-block Diebold-Mariano tests, frozen beside trials.csv)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import Trial, record, write_store

from synprune.cli.main import main

EXPERIMENT = "stats-primary"
ARMS = {"none": 1.0, "dropout": 0.97, "synaptic": 0.95}


def test_primary_from_the_logged_config(tmp_path: Path, sqlite_uri: str) -> None:
    from synprune.tracking.writer import Tracker

    cfg = tmp_path / "study.toml"
    cfg.write_text('experiment = "stats-primary"\n[stats]\nprimary = ["dropout", "none"]\n'
                   "margin = 0.02\n")  # fmt: skip
    sweep = Tracker(sqlite_uri, EXPERIMENT, spool=False)
    pid = sweep.start_parent("sweep", cfg, {}, {"n_trials": 24})
    grid = itertools.product(("aapl", "bitcoin"), ("lstm", "gru"), ARMS, (0, 1))
    trials = [
        Trial(ds, arm, seed, 8.0 * ARMS[arm] + 0.013 * i, 0.5, model=model)
        for i, (ds, model, arm, seed) in enumerate(grid)
    ]
    write_store(sqlite_uri, EXPERIMENT, trials, pid)
    sweep.end_parent(pid, "finished", {})
    out = tmp_path / "out"
    args = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", sqlite_uri, "--no-log"]
    assert main([*args, "--bootstrap", "100", "--out", str(out)]) == 0
    prim = pd.read_csv(out / "primary.csv").iloc[0]
    assert (prim["a"], prim["b"], prim["margin"], prim["blocks"]) == ("dropout", "none", 0.02, 4)
    assert prim["gmean_ratio"] < 1.0
    report = (out / "report.md").read_text()
    first = report.splitlines()[0]
    assert first == "# synprune stats: test_mae — protocol leak_free; stopping rule equal"
    assert "**Per dataset:** no per-window test predictions in these rows" in report
    assert not (out / "predictions.csv.gz").exists()
    assert "--primary dropout,none --margin 0.02" in report  # the reproduce command pins them
    # --primary on the command line wins over the config
    again = tmp_path / "again"
    assert main([*args, "--primary", "synaptic,none", "--out", str(again)]) == 0
    assert pd.read_csv(again / "primary.csv").iloc[0]["a"] == "synaptic"


def test_dm_from_predictions_stored_with_the_runs(tmp_path: Path, sqlite_uri: str) -> None:
    from synprune.experiment.results import encode_predictions
    from synprune.tracking.writer import Tracker

    rng = np.random.default_rng(3)
    tracker = Tracker(sqlite_uri, EXPERIMENT, spool=False)
    grid = itertools.product(("aapl", "bitcoin"), ARMS, (0, 1))
    target = {ds: rng.normal(10, 1, (20, 1)) for ds in ("aapl", "bitcoin")}
    for i, (ds, arm, seed) in enumerate(grid):
        y = target[ds]
        pred = y + rng.normal(0, {"none": 1.0, "dropout": 0.5, "synaptic": 0.6}[arm], y.shape)
        rec = record(Trial(ds, arm, seed, float(np.abs(y - pred).mean()), 0.5 + 0.01 * i))
        rec.predictions = encode_predictions(
            np.arange(20), target=y, prediction=pred, naive=y + 1, snaive=y + 1, linear=y + 1
        )
        assert tracker.write(rec) == "written"
    out = tmp_path / "out"
    args = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", sqlite_uri, "--no-log"]
    assert main([*args, "--primary", "dropout,none", "--bootstrap", "100", "--out", str(out)]) == 0
    dm = pd.read_csv(out / "dm.csv")
    assert list(dm["dataset"]) == ["aapl", "bitcoin"] and (dm["windows"] == 20).all()
    assert (dm["seeds_a"] == 2).all() and (dm["dm_stat"] < 0).all()  # dropout closer
    report = (out / "report.md").read_text()
    assert "- aapl: `dropout` has the lower test MAE (seed-averaged forecasts) in 1 of 1" in report
    frozen = pd.read_csv(out / "predictions.csv.gz")
    assert len(frozen) == 2 * 2 * 2 * 20 and set(frozen["arm"]) == {"dropout", "none"}
    again = tmp_path / "again"
    rerun = ["stats", "--from-csv", str(out / "trials.csv"), "--primary", "dropout,none"]
    assert main([*rerun, "--bootstrap", "100", "--out", str(again)]) == 0
    assert (again / "dm.csv").read_bytes() == (out / "dm.csv").read_bytes()
    # no --primary and nothing logged: the default pair synaptic vs dropout gets its DM tests
    default = tmp_path / "default"
    assert main([*args, "--bootstrap", "100", "--out", str(default)]) == 0
    dm = pd.read_csv(default / "dm.csv")
    assert set(dm["arm_a"]) == {"synaptic"} and set(dm["arm_b"]) == {"dropout"}
    assert len(dm) == 2 and (dm["windows"] == 20).all()


def test_a_config_primary_of_families_is_skipped_when_arms_are_ranked(
    tmp_path: Path, sqlite_uri: str, capsys: object
) -> None:
    """``[stats] primary`` names families; ``stats`` without --select-on ranks arms, where the
    pair is no treatment: it says so and goes on (a --primary given by hand is refused)."""
    from synprune.tracking.writer import Tracker

    cfg = tmp_path / "study.toml"
    cfg.write_text('experiment = "arms"\n[stats]\nprimary = ["synaptic", "dropout"]\n')
    sweep = Tracker(sqlite_uri, "arms", spool=False)
    pid = sweep.start_parent("sweep", cfg, {}, {"n_trials": 24})
    arms = {"none": 1.0, "dropout[p=0.1]": 0.97, "synaptic[final_sparsity=0.5]": 0.95}
    grid = itertools.product(("aapl", "bitcoin"), arms, (0, 1))
    trials = [
        Trial(ds, arm, seed, 8.0 * arms[arm] + 0.013 * i, 0.5 + 0.01 * i)
        for i, (ds, arm, seed) in enumerate(grid)
    ]
    write_store(sqlite_uri, "arms", trials, pid)
    sweep.end_parent(pid, "finished", {})
    args = ["stats", "--experiment", "arms", "--tracking-uri", sqlite_uri, "--no-log"]
    assert main([*args, "--bootstrap", "100", "--out", str(tmp_path / "arms")]) == 0
    said = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "no primary comparison: [stats] primary synaptic vs dropout names regularizer" in said
    assert not (tmp_path / "arms" / "primary.csv").exists()
    families = tmp_path / "families"
    assert main([*args, "--select-on", "val_loss", "--out", str(families)]) == 0
    assert pd.read_csv(families / "primary.csv").iloc[0]["a"] == "synaptic"
    assert main([*args, "--primary", "synaptic,dropout", "--out", str(tmp_path / "x")]) == 2
