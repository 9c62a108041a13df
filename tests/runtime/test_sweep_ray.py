"""End-to-end sweep on a real local Ray with a real SQLite MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

CONFIG = """
experiment = "e2e"
[grid]
model = ["lstm", "patchtst"]
dataset = ["synthetic"]
regularizer = ["none", "dropout", "mc_dropout", "synaptic"]
seq_len = [8]
seed = [0, 1]
[train]
epochs = 3
batch_size = 64
[models.lstm]
hidden_size = 4
[models.patchtst]
d_model = 8
n_heads = 2
d_ff = 8
num_layers = 1
[regularizers.dropout]
p = 0.2
[regularizers.mc_dropout]
p = 0.2
samples = 3
[regularizers.synaptic]
final_sparsity = 0.6
start_frac = 0.0
end_frac = 0.5
prune_every = 2
[resources]
cpu = 1
"""


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_sweep_end_to_end_then_idempotent(tmp_path: Path, local_ray: None) -> None:
    from mlflow.tracking import MlflowClient

    from synprune.config.loader import load_config
    from synprune.runtime.sweep import run_sweep
    from synprune.tracking.reader import trial_rows
    from synprune.tracking.schema import SWEEP_RUN_TAG

    path = tmp_path / "e2e.toml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    s = run_sweep(cfg, uri)
    grid = {sp.spec_id: sp for sp in cfg.specs()}
    assert (s.total, s.finished, s.failed, s.skipped) == (16, 16, 0, 0)
    rows = trial_rows(uri, "e2e")
    assert sorted(r["spec_id"] for r in rows) == sorted(grid)  # one finished run per trial
    client = MlflowClient(uri)
    for row in rows:
        sp = grid[row["spec_id"]]
        assert row["model"] == sp.model.name and row["regularizer"] == sp.regularizer.name
        assert row["seed"] == str(sp.seed) and row["seq_len"] == "8" and row["git_sha"]
        for m in (
            "test_mae",
            "test_rmse",
            "test_mse",
            "naive_mae",
            "val_loss",
            "epochs_run",
            "final_sparsity",
            "train_seconds",
        ):
            assert m in row, m
        run = client.get_run(row["run_id"])
        assert run.data.tags[SWEEP_RUN_TAG] == s.parent_run_id
        flat = {k: str(v) for k, v in sp.flat_params().items() if k != "arm"}
        assert run.data.params == flat and run.data.tags["arm"] == sp.arm
        hist = client.get_metric_history(row["run_id"], "val_loss")
        assert len(hist) == row["epochs_run"]  # one point per epoch, no restored extra
        best, best_epoch = run.data.metrics["best_val_loss"], run.data.metrics["best_epoch"]
        if sp.regularizer.name != "mc_dropout":  # MC dropout scores the best epoch its own way
            assert best == {m.step: m.value for m in hist}[int(best_epoch)]
        # dropout and mc_dropout (same p = 0.2) of one seed and model share one training
        if sp.regularizer.name in ("dropout", "mc_dropout"):
            twin = "mc_dropout" if sp.regularizer.name == "dropout" else "dropout"
            other = [o for o in grid.values() if o.regularizer.name == twin
                     and (o.model.name, o.seed) == (sp.model.name, sp.seed)]  # fmt: skip
            assert run.data.tags["shares_training_with"] == other[0].spec_id
        if sp.regularizer.name == "synaptic":
            assert len(client.get_metric_history(row["run_id"], "sparsity")) >= 1
        assert {"curves.png", "notes.txt"} <= {a.path for a in client.list_artifacts(row["run_id"])}
    parent = client.get_run(s.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["status"] == "finished"
    arts = {a.path for a in client.list_artifacts(s.parent_run_id, "config")}
    assert arts == {"config/e2e.toml", "config/grid.json"}

    again = run_sweep(cfg, uri)  # second invocation: zero trials launched
    assert (again.launched, again.finished, again.skipped) == (0, 0, 16)
    assert len(trial_rows(uri, "e2e")) == 16

    # stats round trip on the store this real sweep wrote (issue 6)
    import pandas as pd

    from synprune.cli.main import main

    out = tmp_path / "report"
    assert main(["stats", "--experiment", "e2e", "--tracking-uri", uri, "--out", str(out)]) == 0
    for name in (
        "ranking.csv",
        "friedman.csv",
        "nemenyi.csv",
        "wilcoxon_holm.csv",
        "cd_diagram.png",
        "report.md",
    ):
        assert (out / name).stat().st_size > 0, name
    ranking = pd.read_csv(out / "ranking.csv")
    assert sorted(ranking["regularizer"]) == ["dropout", "mc_dropout", "none", "synaptic"]
    assert set(ranking["n_blocks"]) == {2}  # lstm and patchtst on synthetic, seq_len 8
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 16 and set(trials["seed"]) == {0, 1}
    assert len(trial_rows(uri, "e2e")) == 16  # the stats run is not read back as a trial
