"""`synprune stats --experiment` on SQLite stores written by the real writer (Tracker): arms,
failed trials, selection on validation loss, configurations never averaged as seeds (issue 11
promise 5), stores from before the arm tag, one stats run per identical input, and a missing
store that is never created."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import Trial, write_store

from synprune.cli.main import main

ARMS = {
    "none": 1.0,
    "dropout[p=0.1]": 0.97,
    "dropout[p=0.3]": 0.99,
    "synaptic[final_sparsity=0.5]": 0.93,
    "synaptic[final_sparsity=0.8]": 0.95,
}
NAIVE = {"aapl": 10.0, "bitcoin": 9000.0}
# validation losses chosen so that selection differs per block (aapl: p=0.3 and 0.8 win)
VAL = {
    ("aapl", "dropout[p=0.1]"): 0.30, ("aapl", "dropout[p=0.3]"): 0.20,
    ("bitcoin", "dropout[p=0.1]"): 0.20, ("bitcoin", "dropout[p=0.3]"): 0.30,
    ("aapl", "synaptic[final_sparsity=0.5]"): 0.25, ("aapl", "synaptic[final_sparsity=0.8]"): 0.15,
    ("bitcoin", "synaptic[final_sparsity=0.5]"): 0.15,
    ("bitcoin", "synaptic[final_sparsity=0.8]"): 0.25,
}  # fmt: skip
ERROR = "RuntimeError: every weight of lstm.weight_hh_l0 masked\n  File 'train.py', line 9"


def stats(*argv: object) -> int:
    return main(["stats", *map(str, argv)])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store, several experiments (creating a store costs seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    trials = []
    for ds, (arm, eff), seed in itertools.product(NAIVE, ARMS.items(), (0, 1)):
        if (ds, arm, seed) == ("aapl", "synaptic[final_sparsity=0.8]", 1):
            trials.append(Trial(ds, arm, seed, error=ERROR))
            continue
        mae = NAIVE[ds] * (0.9 * eff + 0.001 * seed)
        trials.append(Trial(ds, arm, seed, mae, VAL.get((ds, arm), 0.5), naive_mae=NAIVE[ds]))
    # a block whose every trial failed
    trials += [Trial("etth1", "none", 0, error="ValueError: NaN loss"),
               Trial("etth1", "dropout[p=0.1]", 0, error="ValueError: NaN loss")]  # fmt: skip
    write_store(uri, "arms", trials)
    ok = {"none": 10.0, "dropout[p=0.1]": 9.0, "synaptic[final_sparsity=0.5]": 8.0}
    grid = list(itertools.product(ok.items(), (0, 1)))
    # 'mixed': seed 1 of none ran 5 epochs instead of 3 under the same arm tag
    write_store(uri, "mixed", [
        Trial("aapl", arm, s, v + s, 0.1, train={"epochs": 5} if (arm, s) == ("none", 1) else {})
        for (arm, v), s in grid
    ])  # fmt: skip
    # 'old': written before the arm tag; one configuration per regularizer
    write_store(uri, "old", [Trial("aapl", arm, s, v + s, 0.1, arm_tag=False)
                             for (arm, v), s in grid])  # fmt: skip
    # 'old-swept': before the arm tag, dropout p swept: two configurations per cell
    write_store(uri, "old-swept", [Trial("aapl", f"dropout[p={p}]", s, 9.0, 0.1, arm_tag=False)
                                   for s, p in ((0, 0.1), (1, 0.3))])  # fmt: skip
    # 'negative': a trial reported a negative MAE
    write_store(uri, "negative", [Trial("aapl", "none", 0, -1.5, 0.1),
                                  Trial("aapl", "dropout[p=0.1]", 0, 2.0, 0.1)])  # fmt: skip
    return uri


def test_arms_ranked_failures_listed_and_one_stats_run_per_input(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    base = ["--experiment", "arms", "--tracking-uri", store]
    assert stats(*base, "--out", tmp_path / "a") == 0
    out = capsys.readouterr().out
    assert "2 blocks x 5 arms" in out and "logged MLflow run 'stats'" in out
    ranking = pd.read_csv(tmp_path / "a" / "ranking.csv")
    assert set(ranking["arm"]) == set(ARMS)
    assert ranking.set_index("arm").loc["dropout[p=0.3]", "regularizer"] == "dropout"
    trials = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert trials.status.value_counts().to_dict() == {"finished": 19, "failed": 3}
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| aapl | lstm | 14 | 1 | synaptic[final_sparsity=0.8] | 1 |" in report
    assert "failed | RuntimeError: every weight of lstm.weight_hh_l0 masked |" in report
    assert "File 'train.py'" not in report  # the error's first line only
    failed_blocks = report.split("Wholly failed blocks")[1].split("Finished rows")[0]
    assert "| etth1 | lstm | 14 | 1 | 2 |" in failed_blocks
    assert (tmp_path / "a" / "sensitivity.png").stat().st_size > 0
    cells = pd.read_csv(tmp_path / "a" / "cells.csv")
    one = cells[(cells.dataset == "aapl") & (cells.arm == "synaptic[final_sparsity=0.8]")]
    assert one.n_seeds.item() == 1 and one.ci95.isna().item()

    # the identical input again (another --out): no second stats run
    assert stats(*base, "--out", tmp_path / "b") == 0
    assert "identical stats run" in capsys.readouterr().out
    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name("arms").experiment_id
    found = client.search_runs([exp], "tags.`synprune.kind` = 'stats'")
    assert len(found) == 1 and len(found[0].data.tags["stats_input_sha256"]) == 64
    assert found[0].data.metrics["avg_rank.dropout_p_0.1_"] > 0  # [ and = made MLflow-safe
    # different options are a different input
    assert stats(*base, "--out", tmp_path / "c", "--alpha", "0.1") == 0
    assert len(client.search_runs([exp], "tags.`synprune.kind` = 'stats'")) == 2


def test_select_on_val_loss_from_the_store(store: str, tmp_path: Path) -> None:
    out = tmp_path / "sel"
    argv = ["--experiment", "arms", "--tracking-uri", store, "--out", out, "--no-log"]
    assert stats(*argv, "--select-on", "val_loss") == 0
    sel = pd.read_csv(out / "selection.csv").set_index(["dataset", "regularizer"])
    assert sel.loc[("aapl", "dropout"), "selected_arm"] == "dropout[p=0.3]"
    assert sel.loc[("bitcoin", "dropout"), "selected_arm"] == "dropout[p=0.1]"
    assert sel.loc[("aapl", "synaptic"), "selected_arm"] == "synaptic[final_sparsity=0.8]"
    assert sel.loc[("aapl", "synaptic"), "n_seeds"] == 1  # its failed seed is no candidate
    assert sel.loc[("aapl", "dropout"), "mean_val_loss"] == pytest.approx(0.20)
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["regularizer"]) == {"none", "dropout", "synaptic"}


def test_sql_fast_path_equals_mlflow_api(store: str, tmp_path: Path) -> None:
    base = ["--experiment", "arms", "--tracking-uri", store, "--no-log"]
    assert stats(*base, "--out", tmp_path / "f") == 0
    assert stats(*base, "--out", tmp_path / "a", "--api-read") == 0
    fast, api = (pd.read_csv(tmp_path / d / "trials.csv").sort_values("run_id") for d in "fa")
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), api.reset_index(drop=True))
    assert fast["config_id"].nunique() == 5 + 5 + 2  # one per (dataset, arm): seeds share it
    # the frozen trials.csv reproduces the analysis, failures included
    assert stats("--from-csv", tmp_path / "f" / "trials.csv", "--out", tmp_path / "csv") == 0
    for name in ("ranking.csv", "failures.csv", "cells.csv"):
        want, got = (pd.read_csv(tmp_path / d / name) for d in ("f", "csv"))
        pd.testing.assert_frame_equal(want, got)


@pytest.mark.parametrize("api", [False, True])
def test_cell_mixing_configurations_is_refused(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture, api: bool
) -> None:
    out = tmp_path / "out"
    argv = ["--experiment", "mixed", "--tracking-uri", store, "--out", out]
    assert stats(*argv, *(["--api-read"] if api else [])) == 2
    err = capsys.readouterr().err
    assert "cell dataset=aapl model=lstm seq_len=14 horizon=1 arm=none holds runs of 2 " in err
    assert re.search(r"train\.epochs=(3 vs 5|5 vs 3)", err)
    assert len(re.findall(r"config [0-9a-f]{12} \([0-9a-f]{32}\)", err)) == 2  # run ids
    assert not out.exists()


def test_store_before_arm_tag(store: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--tracking-uri", store, "--no-log"]
    assert stats("--experiment", "old", *argv, "--out", tmp_path / "o") == 0
    ranking = pd.read_csv(tmp_path / "o" / "ranking.csv")
    assert ranking["arm"].tolist() == ["synaptic", "dropout", "none"]
    assert "without an 'arm' tag" in (tmp_path / "o" / "report.md").read_text()
    # the fallback never merges swept configurations: the old sweep of dropout p is refused
    capsys.readouterr()
    assert stats("--experiment", "old-swept", *argv, "--out", tmp_path / "s") == 2
    err = capsys.readouterr().err
    assert "arm=dropout holds runs of 2 different configurations" in err
    assert re.search(r"regularizer\.params\.p=(0\.1 vs 0\.3|0\.3 vs 0\.1)", err)


def test_negative_error_metric_refused(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["--experiment", "negative", "--tracking-uri", store, "--out", tmp_path / "n"]
    assert stats(*argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"test_mae = -1\.5 at run [0-9a-f]{32} \(dataset=aapl .*arm=none", err)
    assert "is negative" in err and not (tmp_path / "n").exists()


def test_missing_store_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "nowhere" / "mlflow.db"
    out = tmp_path / "out"
    assert stats("--experiment", "x", "--tracking-uri", f"sqlite:///{db}", "--out", out) == 2
    err = capsys.readouterr().err
    assert f"no MLflow store at sqlite:///{db}" in err and "does not exist" in err
    assert not db.parent.exists() and not out.exists()
    # the default store (./synprune-runs/mlflow.db) is not created either
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert stats("--experiment", "x", "--out", "out2") == 2
    assert "no MLflow store at sqlite:///./synprune-runs/mlflow.db" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a folder store (file: URI) that does not exist
    assert stats("--experiment", "x", "--tracking-uri", tmp_path / "mlruns", "--out", out) == 2
    assert "the folder" in capsys.readouterr().err and not (tmp_path / "mlruns").exists()
