"""`synprune export`: one row per trial (spec fields, tags, final metrics; failed trials with
their error) from a store written by the real Tracker, as CSV or Parquet."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from synprune.cli.main import main
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.tracking.writer import Tracker, trial_record


def _spec(seed: int, sparsity: float = 0.5) -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("gru", {"hidden_size": 4}),
        regularizer=ComponentSpec("synaptic", {"final_sparsity": sparsity}),
        seq_len=8,
        seed=seed,
        train=TrainSpec(epochs=2, lr=0.003),
        swept=("regularizer.final_sparsity",),
    )


def _finished(spec: TrialSpec, mae: float) -> TrialResult:
    return TrialResult(
        spec=spec, test_mae=mae, test_rmse=mae + 0.1,
        test_mse=(mae + 0.1) ** 2, naive_mae=0.8, naive_rmse=0.9, val_loss=0.3, epochs_run=2,
        best_epoch=2, final_sparsity=0.5, train_seconds=1.5,
        tensor_sparsity={"layers.0.weight_ih_l0": 0.5}, start_time_ms=1_700_000_000_000,
        end_time_ms=1_700_000_001_500,
        history=[{"epoch": 1.0, "val_loss": 0.4}, {"epoch": 2.0, "val_loss": 0.3}],
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str, str]:
    """Two sweeps of one experiment: seeds 0, 1 (1 fails) then seeds 1 (now finishes), 2."""
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    tr = Tracker(uri, "exp", spool=False)
    first = tr.start_parent("sweep-1", None, {}, {})
    shared = dataclasses.replace(_finished(_spec(0), 0.4), shares_training_with="peer")
    tr.write(trial_record(shared, first))
    s1 = _spec(1)
    tr.write(trial_record(TrialResult.failed(s1, "ValueError: bad"), first))
    second = tr.start_parent("sweep-2", None, {}, {})
    tr.write(trial_record(_finished(s1, 0.6), second))
    s2 = _spec(2)
    tr.write(trial_record(TrialResult.failed(s2, "OSError: disk"), second))
    return uri, first, second


def export(uri: str, *args: str) -> int:
    return main(["export", "--tracking-uri", uri, *args])


def test_experiment_to_csv_one_row_per_trial(
    store: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _, _ = store
    out = tmp_path / "out" / "trials.csv"
    assert export(uri, "--experiment", "exp", "--out", str(out)) == 0
    assert f"wrote {out}: 3 trials (1 not finished)" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert list(df["seed"]) == [0, 1, 2]
    ok = df.iloc[0]
    assert ok["status"] == "finished" and ok["run_name"].startswith("gru-synthetic-synaptic[")
    assert ok["arm"] == "synaptic[final_sparsity=0.5]" and ok["sweep"] == "sweep-1"
    assert ok["train.lr"] == 0.003 and ok["model.params.hidden_size"] == 4
    assert ok["regularizer.params.final_sparsity"] == 0.5
    assert ok["test_mae"] == 0.4 and ok["ratio_to_naive"] == pytest.approx(0.5)
    assert ok["best_val_loss"] == 0.3 and ok["epochs_run"] == 2 and ok["train_seconds"] == 1.5
    assert ok["sparsity/layers.0.weight_ih_l0"] == 0.5
    assert ok["attempts"] == 1 and ok["shares_training_with"] == "peer"
    assert ok["start_time"] == "2023-11-14T22:13:20+00:00"
    # the spec that failed in sweep-1 and finished in sweep-2 is one (finished) row
    assert df.iloc[1]["status"] == "finished" and df.iloc[1]["sweep"] == "sweep-2"
    bad = df.iloc[2]
    assert bad["status"] == "failed" and bad["error"] == "OSError: disk"
    assert math.isnan(bad["test_mae"]) and bad["train.lr"] == 0.003  # its spec is there


def test_sweep_to_parquet_and_overwrite_rules(store: tuple[str, str, str], tmp_path: Path) -> None:
    uri, first, _ = store
    out = tmp_path / "sweep.parquet"
    assert export(uri, "--sweep", first, "--out", str(out)) == 0
    df = pd.read_parquet(out)
    assert list(zip(df["seed"], df["status"], strict=True)) == [(0, "finished"), (1, "failed")]
    assert df.iloc[1]["error"] == "ValueError: bad"
    before = out.read_bytes()
    assert export(uri, "--experiment", "exp", "--out", str(out)) == 2  # exists: kept
    assert out.read_bytes() == before
    assert export(uri, "--experiment", "exp", "--out", str(out), "--force") == 0
    assert len(pd.read_parquet(out)) == 3


def test_clear_errors(
    store: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _, _ = store
    out = str(tmp_path / "x.csv")
    cases = [
        (
            ["--experiment", "nope", "--out", out],
            f"--experiment 'nope': no such experiment at {uri}",
        ),
        (["--experiment", "exp", "--out", str(tmp_path / "x.xlsx")], "must end in .csv or"),
        (["--sweep", "0" * 32, "--out", out], f"--sweep {'0' * 32}: no such run"),
    ]
    for args, message in cases:
        assert export(uri, *args) == 2
        assert message in capsys.readouterr().err
    assert export(uri, "--experiment", "exp", "--out", out) == 0
    trial_id = pd.read_csv(out).iloc[0]["run_id"]
    assert export(uri, "--sweep", trial_id, "--out", str(tmp_path / "y.csv")) == 2
    assert "is a trial run, not a sweep run" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exactly one of --experiment / --sweep
        export(uri, "--out", out)


def test_parquet_without_pyarrow_is_a_clear_error(
    store: tuple[str, str, str], tmp_path: Path
) -> None:
    uri, _, _ = store
    code = textwrap.dedent(
        f"""
        import sys
        class NoPyarrow:  # as if pyarrow were not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pyarrow":
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, NoPyarrow())
        from synprune.cli.main import main
        sys.exit(main(["export", "--tracking-uri", {uri!r}, "--experiment", "exp",
                       "--out", {str(tmp_path / "t.parquet")!r}]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "writing Parquet needs pyarrow, which is not installed" in done.stderr
    assert not (tmp_path / "t.parquet").exists()


def test_predictions_file_holds_the_trial_keys_and_every_window(
    store: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from synprune.experiment.results import encode_predictions

    uri, _, _ = store
    target = np.array([[10.0, 11.0], [12.0, 13.0]])
    payload = encode_predictions(
        [500, 501], target=target, prediction=target + 0.25, naive=target - 1,
        snaive=target - 2, linear=target + 3,
    )  # fmt: skip
    s3 = _spec(3)
    Tracker(uri, "exp", spool=False).write(
        trial_record(dataclasses.replace(_finished(s3, 0.5), predictions=payload))
    )
    out, preds = tmp_path / "t.csv", tmp_path / "p" / "preds.csv.gz"
    bad = ["--experiment", "exp", "--out", str(out), "--predictions", str(tmp_path / "p.txt")]
    assert export(uri, *bad) == 2
    assert "--predictions" in capsys.readouterr().err and not out.exists()
    assert export(uri, "--experiment", "exp", "--out", str(out), "--predictions", str(preds)) == 0
    printed = capsys.readouterr().out
    assert f"wrote {preds}: 4 rows from 1 trials; 2 finished trial(s) without" in printed
    df = pd.read_csv(preds)
    assert list(df.columns) == [
        *("dataset", "model", "seq_len", "horizon", "regularizer", "arm", "seed", "spec_id"),
        *("run_id", "window", "step", "target", "prediction", "naive", "snaive", "linear"),
    ]
    assert set(df["spec_id"]) == {s3.spec_id} and set(df["seed"]) == {3}
    assert df["arm"].iloc[0] == "synaptic[final_sparsity=0.5]" and df["model"].iloc[0] == "gru"
    assert df[["window", "step"]].values.tolist() == [[500, 1], [500, 2], [501, 1], [501, 2]]
    assert df["prediction"].tolist() == [10.25, 11.25, 12.25, 13.25]
    assert df["linear"].tolist() == [13.0, 14.0, 15.0, 16.0]


def test_rel_mae_is_the_mae_over_the_none_arm_of_the_same_block_and_seed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tr = Tracker(uri, "rel", spool=False)
    parent = tr.start_parent("s", None, {}, {})
    none0 = dataclasses.replace(_spec(0), regularizer=ComponentSpec("none"), swept=())
    none0 = TrialSpec.from_dict(none0.to_dict())
    tr.write(trial_record(_finished(none0, 0.5), parent))
    tr.write(trial_record(_finished(_spec(0), 0.4), parent))
    tr.write(trial_record(_finished(_spec(1), 0.6), parent))  # seed 1 has no `none` trial
    out = tmp_path / "t.csv"
    assert export(uri, "--experiment", "rel", "--out", str(out)) == 0
    df = pd.read_csv(out).set_index(["arm", "seed"])
    assert df.loc[("none", 0), "rel_mae"] == pytest.approx(1.0)
    assert df.loc[("synaptic[final_sparsity=0.5]", 0), "rel_mae"] == pytest.approx(0.8)
    assert math.isnan(df.loc[("synaptic[final_sparsity=0.5]", 1), "rel_mae"])
