"""`synprune tune` on a tiny budget persists its Optuna study and resumes it."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.ray

CONFIG = """
experiment = "tunetiny"
tuned = "tuned.json"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "synaptic", "dropout"]
seq_len = [8]
[train]
epochs = 2
batch_size = 64
[models.lstm]
hidden_size = 4
[tuning]
trials = 2
seeds = [11, 12]
storage = "sqlite:///{storage}"
"""


def test_tune_persists_and_resumes(tmp_path: Path) -> None:
    import ray

    from synprune.config.loader import load_config
    from synprune.runtime.tune import run_tuning
    from synprune.tracking.writer import Tracker

    db = tmp_path / "optuna.db"
    path = tmp_path / "t.toml"
    path.write_text(CONFIG.format(storage=db))
    (tmp_path / "tuned.json").write_text('{"tuned": {}}')
    cfg = load_config(path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    studies = {arm: f"tunetiny/lstm/synthetic/{arm}/L8H1" for arm in ("synaptic", "dropout")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_tuning(cfg, uri)
        counts1 = {
            a: len(optuna.load_study(study_name=s, storage=f"sqlite:///{db}").trials)
            for a, s in studies.items()
        }
        assert counts1 == {"synaptic": 2, "dropout": 2}  # same budget for every arm
        run_tuning(cfg, uri, trials=3)  # continues the same studies (cumulative budget)
    finally:
        ray.shutdown()
    for name in studies.values():
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
        assert len(study.trials) == 3
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    syn = optuna.load_study(study_name=studies["synaptic"], storage=f"sqlite:///{db}")
    for t in syn.trials:  # start < end always holds
        start = t.params["start_frac"]
        assert start + t.params["end_gap"] * (1 - start) > start
    doc = json.loads((tmp_path / "tuned.json").read_text())
    best = doc["tuned"]["lstm"]["synthetic"]
    assert best["synaptic"]["objective"] == pytest.approx(syn.best_value)
    assert best["synaptic"]["params"]["end_frac"] > best["synaptic"]["params"]["start_frac"]
    assert set(best["dropout"]["params"]) == {"p"} and best["dropout"]["trials"] == 3
    # the sweep picks the tuned values up through the config's `tuned` key
    specs = load_config(path).specs()
    p = {s.regularizer.name: dict(s.regularizer.params) for s in specs}
    assert p["dropout"]["p"] == best["dropout"]["params"]["p"]
    assert p["synaptic"]["final_sparsity"] == best["synaptic"]["params"]["final_sparsity"]
    # and logged to MLflow: one tune run per arm per invocation
    runs = Tracker(uri, "tunetiny-tune").search("tags.run_kind = 'tune'")
    assert len(runs) == 4 and {r.data.tags["regularizer"] for r in runs} == {"synaptic", "dropout"}
    assert all("objective" in r.data.metrics for r in runs)
