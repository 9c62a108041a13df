"""Arm labels, t-intervals over seeds, the per-block cells table and the sensitivity data,
against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synprune.stats.analysis import analyze
from synprune.stats.arms import parse_arm, swept_fields
from synprune.stats.cells import cell_table, mean_ci, sensitivity_data, t_interval, wide_cells
from synprune.stats.ranking import tied_positions

T975 = {1: 12.7062, 3: 3.1824}  # Student-t 0.975 quantiles (any statistics table)


def test_parse_arm_and_swept_fields() -> None:
    a = parse_arm("synaptic[final_sparsity=0.5,score=lamp]")
    assert (a.family, a.fields) == ("synaptic", (("final_sparsity", "0.5"), ("score", "lamp")))
    assert a.get("score") == "lamp" and a.get("p") is None
    assert parse_arm("none").fields == () and parse_arm("dropout[]").family == "dropout"
    assert parse_arm("synaptic+dropout[dropout.p=0.1]").family == "synaptic+dropout"
    with pytest.raises(ValueError, match="'p' is not field=value"):
        parse_arm("dropout[p]")
    labels = ["none", "dropout[p=0.1]", "dropout[p=0.3]", "mc_dropout[p=0.1]",
              "synaptic[final_sparsity=0.5,score=lamp]", "synaptic[final_sparsity=0.8,score=lamp]",
              "synaptic[final_sparsity=0.5,score=magnitude]"]  # fmt: skip
    assert swept_fields(labels) == {"dropout": ["p"], "synaptic": ["final_sparsity", "score"]}


def test_t_interval_hand_values() -> None:
    mean, half, n = t_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    # s = sqrt(5/3); half = t(0.975, 3) · s / sqrt(4)
    assert (mean, n) == (2.5, 4)
    assert half == pytest.approx(T975[3] * np.sqrt(5 / 3) / 2, rel=1e-4)
    assert np.isnan(t_interval(np.array([7.0, np.nan]))[1])  # one finite seed: no interval
    assert t_interval(np.array([]))[2] == 0


def _rows() -> pd.DataFrame:
    """d/lstm, seq_len 7 and 14, seeds 0 and 1; arms none, dropout p = 0.1 / 0.3."""
    values = {
        7: {"none": [10.0, 20.0], "dropout[p=0.1]": [9.0, 18.0], "dropout[p=0.3]": [10.0, 20.0]},
        14: {"none": [4.0, 8.0], "dropout[p=0.1]": [3.0, 8.0], "dropout[p=0.3]": [4.0, 8.0]},
    }
    out = []
    for seq_len, arms in values.items():
        for arm, seeds in arms.items():
            for seed, v in enumerate(seeds):
                out.append(
                    {"dataset": "d", "model": "lstm", "seq_len": seq_len, "horizon": 1,
                     "regularizer": arm.split("[")[0], "arm": arm, "seed": str(seed),
                     "test_mae": v, "naive_mae": 2.0 * seq_len}
                )  # fmt: skip
    return pd.DataFrame(out)


def test_cell_table_mean_ci_and_naive() -> None:
    cells = cell_table(_rows(), "test_mae", ["dataset", "model", "seq_len", "horizon"], "naive_mae")
    c = cells.set_index(["seq_len", "arm"])
    assert c.loc[(7, "none"), "mean"] == 15.0 and c.loc[(7, "none"), "n_seeds"] == 2
    # s of (10, 20) = 5·sqrt(2); half = t(0.975, 1) · s / sqrt(2) = 12.7062 · 5
    assert c.loc[(7, "none"), "ci95"] == pytest.approx(T975[1] * 5, rel=1e-4)
    assert c.loc[(14, "dropout[p=0.3]"), "naive_mae"] == 28.0
    wide = wide_cells(cells, ["dataset", "model", "seq_len", "horizon"], "naive_mae")
    assert list(wide.columns)[-1] == "naive_mae"
    # two seeds: the t interval (t = 12.7) is labelled as such (issue 20, item 2)
    assert wide.loc[wide.seq_len == 7, "none"].item() == "15.00 ± 63.53 (2 seeds)"
    assert wide.loc[wide.seq_len == 7, "naive_mae"].item() == "14.00"


def test_mean_ci_reads_as_one_column_without_exponents() -> None:
    assert mean_ci(2061.3, 573.2) == "2061 ± 573"  # was "2061 ± 5.7e+02"
    assert mean_ci(0.41834, 0.01801) == "0.4183 ± 0.0180"
    assert mean_ci(1973.4, 0.73) == "1973 ± 1"
    assert mean_ci(1973.4, 0.3) == "1973 ± 0.3"  # a half-width below the mean's last digit
    assert mean_ci(1.3384, 0.0) == "1.338 ± 0.000"
    assert mean_ci(0.444, np.nan) == "0.4440"  # one seed: no interval
    assert mean_ci(np.nan, 1.0) == "–"
    assert mean_ci(-3.5e-5, 1e-6) == "-0.00003500 ± 0.00000100"


def test_sensitivity_is_seed_paired_then_averaged_over_blocks() -> None:
    data = sensitivity_data(_rows(), "test_mae").set_index("arm")
    # p = 0.1, ratios arm/none per (block, seed): seq 7: 0.9, 0.9; seq 14: 0.75, 1.0
    # per seed over the panel's blocks: seed0 (0.9+0.75)/2 = 0.825, seed1 (0.9+1.0)/2 = 0.95
    r = data.loc["dropout[p=0.1]"]
    assert (r.family, r.field, r.x, r.n) == ("dropout", "p", 0.1, 2)
    assert r["mean"] == pytest.approx(0.8875)
    assert r["ci95"] == pytest.approx(T975[1] * 0.125 / 2, rel=1e-4)  # s = 0.125/√2, n = 2
    assert data.loc["dropout[p=0.3]", "mean"] == pytest.approx(1.0)
    assert data.loc["dropout[p=0.3]", "ci95"] == pytest.approx(0.0)
    assert "none" not in data.index
    # a seed without its 'none' partner is left out of the pairs
    rows = _rows()
    rows = rows[~((rows.arm == "none") & (rows.seed == "1"))]
    assert sensitivity_data(rows, "test_mae").set_index("arm").loc["dropout[p=0.1]", "n"] == 1
    # no swept field (one dropout arm) or no 'none' arm: nothing to draw
    assert sensitivity_data(rows[rows.arm != "dropout[p=0.3]"], "test_mae").empty
    assert sensitivity_data(_rows()[lambda d: d.arm != "none"], "test_mae").empty
    # an arm of the family that does not set the swept field has no x: left out
    bare = _rows()[lambda d: d.arm == "dropout[p=0.3]"].assign(arm="dropout")
    both = sensitivity_data(pd.concat([_rows(), bare]), "test_mae")
    assert both["arm"].tolist() == ["dropout[p=0.1]", "dropout[p=0.3]"]
    note = analyze(_rows()[lambda d: d.arm != "none"], "test_mae").notes
    assert any("sensitivity figure needs" in n for n in note)


def test_tied_positions() -> None:
    assert tied_positions(pd.Series([1.5, 1.5, 3.0])) == ["1–2", "1–2", "3"]
    assert tied_positions(pd.Series([1.0, 2.5, 2.5, 2.5, 4.0])) == ["1", "2–4", "2–4", "2–4", "5"]
    assert tied_positions(pd.Series([1.0, 2.0])) == ["1", "2"]
