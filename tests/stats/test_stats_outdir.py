"""Issue 11 promise 6 (stats side): --out never overwrites a file stats did not write; failed
trials, wholly failed blocks and non-finite rows are listed; negative errors are refused;
CSV rows mixing configurations in one cell are refused."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.cli.main import main
from synprune.stats.outdir import MANIFEST

ARMS = {"none": 1.0, "dropout[p=0.1]": 0.97, "dropout[p=0.3]": 0.98, "synaptic": 0.95}


def write_rows(path: Path, arms: dict[str, float] = ARMS) -> pd.DataFrame:
    rows = []
    for ds, model, (arm, eff), seed in itertools.product(
        ("aapl", "etth1"), ("lstm", "gru"), arms.items(), (0, 1, 2)
    ):
        rows.append(
            {"dataset": ds, "model": model, "seq_len": 14, "regularizer": arm.split("[")[0],
             "arm": arm, "seed": seed, "test_mae": 10 * eff + 0.01 * seed, "naive_mae": 11.0}
        )  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(path, index=False)
    return df


def stats(*argv: object) -> int:
    return main(["stats", *map(str, argv)])


def test_never_overwrites_foreign_files_but_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = tmp_path / "rows.csv"
    write_rows(csv)
    out = tmp_path / "out"
    out.mkdir()
    (out / "ranking.csv").write_text("someone's ranking\n")
    assert stats("--from-csv", csv, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"refusing to overwrite {out / 'ranking.csv'}, which synprune stats did not write" in err
    assert (out / "ranking.csv").read_text() == "someone's ranking\n"
    assert sorted(p.name for p in out.iterdir()) == ["ranking.csv"]  # nothing written
    assert stats("--from-csv", csv, "--out", out, "--force") == 0
    assert pd.read_csv(out / "ranking.csv").columns[0] == "arm"

    # its own files, proven by the manifest's hashes, are replaced without --force
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tool"] == "synprune stats" and "report.md" in manifest["files"]
    (out / "notes.txt").write_text("mine")
    assert stats("--from-csv", csv, "--out", out) == 0
    assert (out / "notes.txt").read_text() == "mine"

    # an edited output is no longer provably its own
    with (out / "report.md").open("a") as f:
        f.write("\nmy comment\n")
    assert stats("--from-csv", csv, "--out", out) == 2
    assert "report.md, which has changed since synprune stats wrote it" in capsys.readouterr().err
    assert (out / "report.md").read_text().endswith("my comment\n")
    assert stats("--from-csv", csv, "--out", out, "--force") == 0

    # a manifest it did not write is refused too
    (out / MANIFEST).write_text('{"files": {}}')
    assert stats("--from-csv", csv, "--out", out) == 2
    assert "is not a manifest written by synprune stats" in capsys.readouterr().err


def test_stale_outputs_of_its_own_are_removed(tmp_path: Path) -> None:
    swept, plain = tmp_path / "swept.csv", tmp_path / "plain.csv"
    write_rows(swept)
    write_rows(plain, {"none": 1.0, "dropout": 0.97, "synaptic": 0.95})
    out = tmp_path / "out"
    assert stats("--from-csv", swept, "--out", out) == 0
    assert (out / "sensitivity.png").exists()
    assert stats("--from-csv", plain, "--out", out) == 0
    assert not (out / "sensitivity.png").exists()  # it would describe another input
    assert "sensitivity.png" not in json.loads((out / MANIFEST).read_text())["files"]


def test_failed_trials_blocks_and_nonfinite_rows_listed(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    df = write_rows(csv).assign(status="finished", error="")
    one = (df.dataset == "aapl") & (df.model == "lstm") & (df.arm == "synaptic") & (df.seed == 2)
    df.loc[one, ["status", "error", "test_mae"]] = ["failed", "OSError: disk full\nmore", np.nan]
    dead = (df.dataset == "etth1") & (df.model == "gru")
    df.loc[dead, ["status", "error", "test_mae"]] = ["failed", "ValueError: NaN loss", np.nan]
    nan = (df.dataset == "aapl") & (df.model == "gru") & (df.arm == "none") & (df.seed == 0)
    df.loc[nan, "test_mae"] = np.inf
    df.to_csv(csv, index=False)
    out = tmp_path / "out"
    assert stats("--from-csv", csv, "--out", out) == 0
    report = (out / "report.md").read_text()
    assert "Failed trials (13):" in report
    assert "| aapl | lstm | 14 | 1 | synaptic | 2 | failed | OSError: disk full |" in report
    assert "Wholly failed blocks, no usable trial (1):" in report
    assert "| etth1 | gru | 14 | 1 | 12 |" in report
    assert "missing or non-finite `test_mae` (1):" in report
    assert "| aapl | gru | 14 | 1 | none | 0 | ∞ |" in report
    failures = pd.read_csv(out / "failures.csv")
    assert failures["kind"].value_counts().to_dict() == {"failed": 13, "non-finite test_mae": 1}
    assert pd.read_csv(out / "friedman.csv").loc[0, "n_blocks"] == 3


def test_negative_mae_and_mixed_configurations_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = tmp_path / "rows.csv"
    df = write_rows(csv)
    df.loc[5, "test_mae"] = -0.5
    df.to_csv(csv, index=False)
    assert stats("--from-csv", csv, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert f"{csv}: test_mae = -0.5 at line 7 (dataset=aapl model=lstm seq_len=14" in err
    assert not (tmp_path / "o").exists()
    # two configurations (train.epochs) under one arm in one cell
    df = write_rows(csv).assign(**{"train.epochs": 20})
    df.loc[(df.dataset == "aapl") & (df.model == "gru") & (df.arm == "none") & (df.seed == 1),
           "train.epochs"] = 50  # fmt: skip
    df.to_csv(csv, index=False)
    assert stats("--from-csv", csv, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "cell dataset=aapl model=gru seq_len=14 horizon=1 arm=none holds runs of 2" in err
    assert "train.epochs=20 vs 50" in err or "train.epochs=50 vs 20" in err


def test_a_second_concurrent_run_into_one_out_refuses_at_once(tmp_path: Path) -> None:
    """Two real processes: one holds ``--out``'s lock (as a running stats run does, from
    before it reads until its files are written); ``synprune stats`` into that folder exits 2
    at once with one line, writing nothing; once the lock is free it runs."""
    csv = tmp_path / "rows.csv"
    write_rows(csv)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from synprune.stats.outdir import locked\n"
            "with locked(Path(sys.argv[1])):\n"
            "    print('locked', flush=True); sys.stdin.read()",
            str(out),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        second = subprocess.run(
            [sys.executable, "-m", "synprune", "stats", "--from-csv", str(csv), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"synprune stats: error: --out {out}: another synprune stats run is writing into "
            "this folder (it holds the folder's lock); wait for it to finish, or choose "
            "another --out"
        ]
        assert list(out.iterdir()) == []  # nothing written
    finally:
        holder.communicate("", timeout=30)  # releases the lock
    assert holder.returncode == 0
    assert not out.exists()  # the holder created the folder and wrote nothing: removed
    assert stats("--from-csv", csv, "--out", out) == 0  # free again: this run writes
    assert (out / "report.md").is_file() and (out / MANIFEST).is_file()
