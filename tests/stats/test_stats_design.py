"""Block design (seed aggregation, incomplete blocks), analyze() and the headline figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synprune.stats.analysis import analyze
from synprune.stats.headline import headline
from synprune.stats.ranking import IncompleteBlocksError, average_ranks, block_matrix

BLOCKS = ("dataset", "model", "seq_len", "horizon")


def rows_from(cells: dict[tuple[str, str], dict[str, list[float]]]) -> pd.DataFrame:
    """{(dataset, model): {arm: [seed0, seed1, ...]}} -> long rows (seq_len 14, horizon 1)."""
    out = []
    for (ds, model), arms in cells.items():
        for arm, values in arms.items():
            for seed, v in enumerate(values):
                out.append(
                    {"dataset": ds, "model": model, "seq_len": 14, "horizon": 1,
                     "regularizer": arm, "seed": str(seed), "test_mae": v, "naive_mae": 10.0}
                )  # fmt: skip
    return pd.DataFrame(out)


def test_seeds_are_averaged_before_ranking() -> None:
    # per seed: seed0 ranks A<B<C, seed1 ranks B<C<A. Per-seed rank average would be
    # A 2.0, B 1.5, C 2.5; the seed means (A 5.5, B 2.25, C 3.25) rank B, C, A.
    cells = {("d1", "lstm"): {"A": [1.0, 10.0], "B": [2.0, 2.5], "C": [3.0, 3.5]}}
    cells[("d2", "lstm")] = {"A": [1.0, 10.0], "B": [2.0, 2.5], "C": [3.0, 3.5]}
    design = block_matrix(rows_from(cells), "test_mae", blocks=BLOCKS)
    assert design.n_blocks == 2  # seeds are not blocks
    assert design.matrix.loc[("d1", "lstm", 14, 1)].to_dict() == {"A": 5.5, "B": 2.25, "C": 3.25}
    assert average_ranks(design.matrix).to_dict() == {"B": 1.0, "C": 2.0, "A": 3.0}
    per_seed = rows_from(cells).assign(dataset=lambda d: d.dataset + d.seed)
    naive = average_ranks(block_matrix(per_seed, "test_mae", blocks=BLOCKS).matrix)
    assert naive.to_dict() == {"B": 1.5, "A": 2.0, "C": 2.5}  # what seeds-as-blocks would say


def test_median_aggregate_resists_an_outlier_seed() -> None:
    cells = {("d", "gru"): {"A": [1.0, 1.1, 50.0], "B": [2.0, 2.0, 2.0]}}
    mean = block_matrix(rows_from(cells), "test_mae", blocks=BLOCKS, aggregate="mean")
    med = block_matrix(rows_from(cells), "test_mae", blocks=BLOCKS, aggregate="median")
    assert mean.matrix.iloc[0]["A"] == pytest.approx(52.1 / 3)
    assert med.matrix.iloc[0]["A"] == pytest.approx(1.1)


def test_incomplete_blocks_dropped_and_listed_or_strict_error() -> None:
    arms = {"none": [3.0], "dropout": [2.0], "synaptic": [1.0]}
    cells = {("d1", "lstm"): dict(arms), ("d2", "lstm"): dict(arms)}
    cells[("d3", "gru")] = {"none": [3.0], "synaptic": [1.0]}  # dropout trial missing
    cells[("d4", "gru")] = {**arms, "dropout": [float("nan")]}  # dropout trial failed (NaN)
    rows = rows_from(cells)
    design = block_matrix(rows, "test_mae", blocks=BLOCKS)
    assert design.n_blocks == 2
    assert design.dropped["missing_arms"].tolist() == ["dropout", "dropout"]
    assert design.dropped["block"].tolist() == [
        "dataset=d3 model=gru seq_len=14 horizon=1",
        "dataset=d4 model=gru seq_len=14 horizon=1",
    ]
    with pytest.raises(IncompleteBlocksError, match=r"2 incomplete block.*d3.*missing dropout"):
        block_matrix(rows, "test_mae", blocks=BLOCKS, strict=True)


def test_analyze_k2_reports_wilcoxon_only() -> None:
    rng = np.random.default_rng(0)
    cells = {
        (f"d{i}", "lstm"): {"none": [float(v)], "synaptic": [float(v) - 0.5]}
        for i, v in enumerate(rng.uniform(5, 10, size=8))
    }
    res = analyze(rows_from(cells), "test_mae", blocks=BLOCKS)
    assert res.overall is None and res.nemenyi is None
    assert any("Friedman test and Nemenyi post-hoc do not apply" in n for n in res.notes)
    assert "does not apply" in res.friedman.loc[0, "note"]
    w = res.wilcoxon.iloc[0]
    assert (w.arm_a, w.arm_b, w.a_better, w.b_better) == ("none", "synaptic", 0, 8)
    assert w.p_value == pytest.approx(2 / 2**8)  # exact two-sided p, all 8 signs agree
    assert res.ranking["regularizer"].tolist() == ["synaptic", "none"]


def test_analyze_per_dataset_and_per_model_friedman() -> None:
    rng = np.random.default_rng(1)
    cells = {}
    for ds in ("a", "b"):
        for model in ("lstm", "gru", "rnn"):
            base = rng.uniform(5, 10)
            cells[(ds, model)] = {
                arm: list(base * eff * rng.lognormal(0, 0.01, size=3))
                for arm, eff in (("none", 1.0), ("dropout", 0.98), ("synaptic", 0.95))
            }
    res = analyze(rows_from(cells), "test_mae", blocks=BLOCKS)
    fr = res.friedman
    assert fr["scope"].tolist() == ["overall", "dataset", "dataset", "model", "model", "model"]
    assert fr.set_index("group").loc["all", "n_blocks"] == 6
    assert fr.set_index("group").loc["a", "n_blocks"] == 3
    assert res.ranking.iloc[0]["regularizer"] == "synaptic"
    assert res.cd_groups == [] or all(len(g) > 1 for g in res.cd_groups)


def test_headline_pct_change_and_naive_ratio() -> None:
    m = pd.DataFrame(
        {"none": [10.0, 8.0], "dropout": [9.0, 8.0], "synaptic": [9.5, 6.0]},
        index=pd.MultiIndex.from_tuples([("x", "lstm"), ("y", "lstm")], names=["dataset", "model"]),
    )
    naive = pd.Series([9.0, 12.0], index=m.index)
    h = headline(m, naive, ("dataset", "model"), "test_mae")
    assert h.pct_change["vs_none"].tolist() == pytest.approx([-5.0, -25.0])
    assert h.pct_change["vs_dropout"].tolist() == pytest.approx([100 * 0.5 / 9, -25.0])
    s = h.pct_summary.set_index("comparison")
    assert s.loc["synaptic vs none", "median_pct"] == pytest.approx(-15.0)
    assert s.loc["synaptic vs none", "min_pct"] == pytest.approx(-25.0)
    assert s.loc["synaptic vs dropout", "synaptic_better"] == 1
    assert h.naive_ratio.loc["dataset=x model=lstm", "none"] == pytest.approx(10 / 9)
    ns = h.naive_summary.set_index("regularizer")
    assert ns.loc["none", "blocks_beating_naive"] == 1  # 10/9 > 1, 8/12 < 1
    assert ns.loc["synaptic", "median_ratio"] == pytest.approx((9.5 / 9 + 0.5) / 2)
    assert "not available" in headline(m, None, ("dataset", "model"), "test_mae").notes[0]
    no_naive = headline(m, None, ("dataset", "model"), "test_mse", naive_name=None)
    assert "no naive counterpart" in no_naive.notes[-1]
    no_syn = headline(m.drop(columns="synaptic"), naive, ("dataset", "model"), "test_mae")
    assert h.notes == () and "not computed: needs a treatment named" in no_syn.notes[0]
