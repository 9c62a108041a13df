"""`synprune stats --from-csv`: outputs, and bad input refused with exit status 2."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.cli.main import main

ARMS = {"none": 1.0, "dropout": 0.98, "mc_dropout": 0.99, "synaptic": 0.95}
PNG = b"\x89PNG\r\n\x1a\n"


def write_rows(path: Path, *, arms: dict[str, float] = ARMS, drop: int = 0) -> pd.DataFrame:
    """Long-format rows: 3 datasets x 2 models x 2 seq_lens, 3 seeds; last `drop` rows removed."""
    rng = np.random.default_rng(0)
    rows = []
    for ds, model, seq_len in itertools.product(
        ("aapl", "bitcoin", "etth1"), ("lstm", "gru"), (7, 14)
    ):
        naive = float(rng.uniform(1, 100))
        for arm, eff in arms.items():
            for seed in range(3):
                mae = naive * 0.9 * eff * float(rng.lognormal(0, 0.01))
                rows.append((ds, model, seq_len, arm, seed, mae, naive))
    df = pd.DataFrame(
        rows,
        columns=["dataset", "model", "seq_len", "regularizer", "seed", "test_mae", "naive_mae"],
    )
    df = df.iloc[: len(df) - drop] if drop else df
    df.to_csv(path, index=False)
    return df


def run_cli(*argv: object) -> int:
    return main(["stats", *map(str, argv)])


def test_csv_round_trip_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    csv = tmp_path / "rows.csv"
    write_rows(csv)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    assert run_cli("--from-csv", csv, "--out", out) == 0
    for name in ("ranking.csv", "friedman.csv", "nemenyi.csv", "wilcoxon_holm.csv", "report.md"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "cd_diagram.png").read_bytes()[:8] == PNG
    assert (out / "keep.txt").read_text() == "not ours"  # other files are left alone
    ranking = pd.read_csv(out / "ranking.csv")
    assert ranking["regularizer"].iloc[0] == "synaptic"
    assert ranking["average_rank"].sum() == pytest.approx(1 + 2 + 3 + 4)  # ranks sum to k(k+1)/2
    nem = pd.read_csv(out / "nemenyi.csv", index_col="arm")
    assert sorted(nem.index) == sorted(ARMS) and list(nem.columns) == list(nem.index)
    assert np.allclose(nem.to_numpy(), nem.to_numpy().T)
    fr = pd.read_csv(out / "friedman.csv")
    assert fr.loc[0, "scope"] == "overall" and fr.loc[0, "n_blocks"] == 12
    assert set(fr["scope"]) == {"overall", "dataset", "model"}
    assert len(pd.read_csv(out / "wilcoxon_holm.csv")) == 6
    report = (out / "report.md").read_text()
    assert "![CD diagram](cd_diagram.png)" in report
    assert f"synprune stats --from-csv {csv}" in report
    assert "synaptic vs mc_dropout" in report and "beats the naive" in report
    assert "12 blocks x 4 arms (0 dropped)" in capsys.readouterr().out
    # the frozen trials.csv (full precision) reproduces every table to the last digit
    again = tmp_path / "again"
    assert run_cli("--from-csv", out / "trials.csv", "--out", again) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "ranking.csv"), ranking)
    for name in ("ranking", "friedman", "nemenyi", "wilcoxon_holm", "cells", "headline_blocks"):
        assert (again / f"{name}.csv").read_bytes() == (out / f"{name}.csv").read_bytes(), name


def test_incomplete_blocks_listed_or_refused_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = tmp_path / "rows.csv"
    write_rows(csv, drop=3)  # the last block (etth1 gru 14) loses its synaptic arm
    out = tmp_path / "out"
    assert run_cli("--from-csv", csv, "--out", out) == 0
    report = (out / "report.md").read_text()
    assert "| dataset=etth1 model=gru seq_len=14 horizon=1 | synaptic |" in report
    assert pd.read_csv(out / "friedman.csv").loc[0, "n_blocks"] == 11
    assert run_cli("--from-csv", csv, "--out", tmp_path / "strict", "--strict") == 2
    err = capsys.readouterr().err
    assert "1 incomplete block(s) with --strict" in err and "etth1" in err
    assert len(err.strip().splitlines()) == 1


def test_k2_says_friedman_does_not_apply(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    write_rows(csv, arms={"none": 1.0, "synaptic": 0.9})
    out = tmp_path / "out"
    assert run_cli("--from-csv", csv, "--out", out) == 0
    report = (out / "report.md").read_text()
    assert "Friedman does not apply (k = 2)" in report
    w = pd.read_csv(out / "wilcoxon_holm.csv")
    assert len(w) == 1 and bool(w.loc[0, "reject_holm"])
    assert (out / "cd_diagram.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda df: df.drop(columns=["seed", "model"]), "missing column(s) model, seed"),
        (lambda df: df.assign(test_mae=df.test_mae.astype(object).where(df.index != 4, "oops")),
         "column 'test_mae' is not numeric at line 6 (value 'oops')"),
        (lambda df: df.iloc[:0], "has a header but no rows"),
        (lambda df: df.rename(columns={"test_mae": "mae"}), "unknown --metric 'test_mae'"),
        (lambda df: df.assign(seq_len="fourteen"), "column 'seq_len' is not numeric at line 2"),
    ],
)  # fmt: skip
def test_bad_csv_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture, mutate: object, expected: str
) -> None:
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    mutate(write_rows(good)).to_csv(bad, index=False)  # type: ignore[operator]
    assert run_cli("--from-csv", bad, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("synprune stats: error: ")
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "report.md").exists()


def test_empty_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert run_cli("--from-csv", empty, "--out", tmp_path / "o") == 2
    assert f"{empty}: the file is empty" in capsys.readouterr().err
    csv = tmp_path / "rows.csv"
    write_rows(csv)
    assert run_cli("--from-csv", csv, "--out", tmp_path / "o", "--alpha", "1.5") == 2
    assert "--alpha must lie in (0, 1)" in capsys.readouterr().err
    assert run_cli("--from-csv", csv, "--out", tmp_path / "o", "--blocks", "dataset,seed") == 2
    assert "seeds are never blocks" in capsys.readouterr().err
    assert run_cli("--from-csv", csv, "--out", tmp_path / "o", "--blocks", "dataset,foo") == 2
    assert "unknown factor(s) foo" in capsys.readouterr().err
    assert run_cli("--from-csv", tmp_path / "nope.csv", "--out", tmp_path / "o") == 2
    assert "no such file" in capsys.readouterr().err


def test_blocks_option_and_median(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    write_rows(csv)
    out = tmp_path / "out"
    argv = ["--from-csv", csv, "--out", out, "--blocks", "dataset,model", "--aggregate", "median"]
    assert run_cli(*argv) == 0
    fr = pd.read_csv(out / "friedman.csv")
    assert fr.loc[0, "n_blocks"] == 6  # seq_len folded into the cell
    assert "--blocks dataset,model --aggregate median" in (out / "report.md").read_text()
