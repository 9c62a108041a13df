"""Issue 13: tied ranks share a position, a plain answer first, no averages across datasets in
different units, the degenerate Iman-Davenport case in words, relative Wilcoxon tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from synprune.cli.main import main
from synprune.stats.analysis import analyze
from synprune.stats.tests import concordance_p, wilcoxon_holm


def long_rows(matrix: dict[str, list[float]], datasets: list[str]) -> pd.DataFrame:
    """{arm: [value per block]} with one block per dataset, one seed."""
    out = []
    for arm, values in matrix.items():
        for ds, v in zip(datasets, values):
            out.append(
                {"dataset": ds, "model": "lstm", "seq_len": 14, "horizon": 1, "regularizer": arm,
                 "seed": 0, "test_mae": v, "naive_mae": 10.0 if ds != "btc" else 9000.0}
            )  # fmt: skip
    return pd.DataFrame(out)


def run(tmp_path: Path, df: pd.DataFrame, *extra: str) -> tuple[Path, str]:
    csv = tmp_path / "rows.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "out"
    assert main(["stats", "--from-csv", str(csv), "--out", str(out), *extra]) == 0
    return out, (out / "report.md").read_text()


def test_tied_best_arms_share_a_position_and_no_one_is_called_best(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # a and b swap first place block by block: average ranks 1.5, 1.5, 3
    df = long_rows({"a": [1.0, 2.0, 1.0, 2.0], "b": [2.0, 1.0, 2.0, 1.0], "c": [3.0] * 4},
                   ["d1", "d2", "d3", "d4"])  # fmt: skip
    out, report = run(tmp_path, df)
    ranking = pd.read_csv(out / "ranking.csv")
    assert ranking["position"].tolist() == ["1–2", "1–2", "3"]
    assert ranking["average_rank"].tolist() == [1.5, 1.5, 3.0]
    console = capsys.readouterr().out
    assert "best average rank: tie between a, b (1.50)" in console
    verdict = report.split("## Ranking")[0].split("\n\n")
    best = [p for p in verdict if p.startswith("**Best:**")]
    assert best[0].startswith("**Best:** no single best — `a`, `b` tie for the best average rank")


def test_answer_first_says_plainly_when_no_pair_differs(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    df = long_rows({arm: list(rng.uniform(9, 11, 5)) for arm in ("x", "y", "z")},
                   ["d1", "d2", "d3", "d4", "d5"])  # fmt: skip
    _, report = run(tmp_path, df)
    head = report.split("## Ranking")[0]
    assert "**Best:**" in head and "**Significant?** The Friedman test" in head
    assert "No pair of arms differs significantly" in head
    assert "Iman–Davenport F = " in head and "p = " in head


def test_degenerate_iman_davenport_is_explained_not_infinite(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # N = 2 blocks ranking the k = 3 arms identically: χ² = N(k−1) = 4, F would be 4/0.
    # Exact p of two blocks agreeing on one of 3! orderings: 3!·(1/3!)² = 1/6.
    df = long_rows({"a": [1.0, 5.0], "b": [2.0, 6.0], "c": [3.0, 7.0]}, ["d1", "d2"])
    out, report = run(tmp_path, df)
    fr = pd.read_csv(out / "friedman.csv").iloc[0]
    assert fr.chi2 == pytest.approx(4.0)
    assert np.isnan(fr.f_stat) and np.isnan(fr.p_f)
    assert fr.p_exact == pytest.approx(1 / 6) and not fr.significant
    assert "∞" not in report and "inf" not in (out / "friedman.csv").read_text()
    assert "Iman–Davenport F is undefined" in report and "p = 0.1667: not significant" in report
    assert "exact p = 0.167" in capsys.readouterr().out
    assert concordance_p([1.0, 2.5, 2.5], 3) == pytest.approx(3.0**-2)  # ties: M = 3!/2! = 3


def test_no_raw_metric_averaged_across_datasets(tmp_path: Path) -> None:
    # the 'btc' block is in thousands, the others in units: raw means would be dominated by it
    df = long_rows({"a": [9000.0, 1.0, 1.0], "b": [9900.0, 0.9, 0.8], "c": [9500.0, 1.2, 1.1]},
                   ["btc", "d2", "d3"])  # fmt: skip
    out, report = run(tmp_path, df)
    ranking = pd.read_csv(out / "ranking.csv").set_index("arm")
    assert not [c for c in ranking.columns if c.startswith(("mean_", "median_test"))]
    # median over blocks of metric / naive: a = median(1, 0.1, 0.1) = 0.1
    assert ranking.loc["a", "median_ratio_to_naive"] == pytest.approx(0.1)
    # median % above the block's best: b = median(10, 0, 0) = 0
    assert ranking.loc["b", "median_pct_above_block_best"] == pytest.approx(0.0)
    w = pd.read_csv(out / "wilcoxon_holm.csv").set_index(["arm_a", "arm_b"])
    assert "median_diff" not in w.columns
    # a vs b per block: 100·(9000−9900)/9900, 100·(1−0.9)/0.9, 100·(1−0.8)/0.8 -> median 11.1
    assert w.loc[("a", "b"), "median_pct_diff"] == pytest.approx(100 * 0.1 / 0.9)
    assert "mean_test_mae" not in report and "comparable across datasets" in report


def test_wilcoxon_on_relative_differences() -> None:
    a = np.array([1000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([1100.0, 0.5, 1.0, 1.6, 2.1, 2.6, 3.2])  # a loses by 100 units, wins ~2x
    m = pd.DataFrame({"a": a, "b": b})
    log = wilcoxon_holm(m, scale="log").iloc[0]
    raw = wilcoxon_holm(m, scale="raw").iloc[0]
    assert log.p_value == pytest.approx(
        ss.wilcoxon(np.log(a), np.log(b), zero_method="zsplit").pvalue
    )
    assert raw.p_value == pytest.approx(ss.wilcoxon(a, b, zero_method="zsplit").pvalue)
    assert log.p_value != pytest.approx(raw.p_value)  # the 100-unit block no longer dominates
    with pytest.raises(ValueError, match="positive"):
        wilcoxon_holm(pd.DataFrame({"a": [1.0, -1.0], "b": [1.0, 2.0]}), scale="log")
    rows = long_rows({"a": list(a), "b": list(b)}, [f"d{i}" for i in range(7)])
    assert analyze(rows, "test_mae").wilcoxon_scale == "log"
