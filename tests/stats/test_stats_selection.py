"""--select-on val_loss (issue 12): per block and family the arm with the lowest mean validation
loss is selected; families are then ranked on the test metric. Hand-made frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.cli.main import main
from synprune.errors import ConfigError
from synprune.stats.analysis import analyze
from synprune.stats.selection import check_select_on, select_on

BLOCK = {"model": "lstm", "seq_len": 14, "horizon": 1}


def rows(spec: dict[str, dict[str, list[tuple[float, float]]]], **extra: object) -> pd.DataFrame:
    """{dataset: {arm: [(test_mae, val_loss) per seed]}} -> long rows (status finished)."""
    out = []
    for ds, arms in spec.items():
        for arm, seeds in arms.items():
            for seed, (mae, val) in enumerate(seeds):
                out.append(
                    {"dataset": ds, **BLOCK, "regularizer": arm.split("[")[0], "arm": arm,
                     "seed": str(seed), "test_mae": mae, "val_loss": val, "status": "finished",
                     "error": "", **extra}
                )  # fmt: skip
    return pd.DataFrame(out)


# d1: dropout p=0.1 has the better TEST error (1.0 vs 2.0) but the worse mean VAL loss
# (0.30 vs 0.25): selection must take p=0.3. The synaptic arms tie on val (0.5): the label
# that sorts first (final_sparsity=0.5) is taken.
SPEC = {
    "d1": {
        "none": [(3.0, 0.9), (3.2, 0.9)],
        "dropout[p=0.1]": [(1.0, 0.2), (1.0, 0.4)],
        "dropout[p=0.3]": [(2.0, 0.25), (2.2, 0.25)],
        "synaptic[final_sparsity=0.5]": [(1.5, 0.5), (1.7, 0.5)],
        "synaptic[final_sparsity=0.8]": [(0.5, 0.4), (0.5, 0.6)],
    },
    "d2": {
        "none": [(5.0, 0.5), (5.0, 0.5)],
        "dropout[p=0.1]": [(4.0, 0.3), (4.4, 0.3)],
        "dropout[p=0.3]": [(9.0, 0.1), (9.0, 0.1)],  # best val, but both seeds failed (below)
        "synaptic[final_sparsity=0.5]": [(6.0, 0.7), (6.0, 0.7)],
        "synaptic[final_sparsity=0.8]": [(3.0, 0.2), (3.4, 0.2)],
    },
}


def test_select_lowest_mean_val_loss_per_block_and_family() -> None:
    df = rows(SPEC)
    failed = (df.dataset == "d2") & (df.arm == "dropout[p=0.3]")
    df.loc[failed, "status"] = "failed"
    sel = select_on(df, "val_loss", ("dataset", "model", "seq_len", "horizon"))
    t = sel.table.set_index(["dataset", "regularizer"])
    assert t.loc[("d1", "dropout"), "selected_arm"] == "dropout[p=0.3]"
    assert t.loc[("d1", "dropout"), "mean_val_loss"] == pytest.approx(0.25)
    assert t.loc[("d1", "dropout"), "runner_up_val_loss"] == pytest.approx(0.30)
    assert t.loc[("d1", "synaptic"), "selected_arm"] == "synaptic[final_sparsity=0.5]"  # tie
    assert t.loc[("d2", "dropout"), "selected_arm"] == "dropout[p=0.1]"  # failed runs excluded
    assert t.loc[("d2", "dropout"), "n_candidates"] == 1
    assert t.loc[("d2", "synaptic"), "selected_arm"] == "synaptic[final_sparsity=0.8]"
    assert t.loc[("d1", "none"), "selected_arm"] == "none"
    assert sel.families == ("dropout", "none", "synaptic")
    assert len(sel.rows) == 2 * 3 * 2  # 2 blocks x 3 families x 2 seeds

    res = analyze(df, "test_mae", select="val_loss")
    assert res.treatment == "regularizer"
    m = res.design.matrix.droplevel(["model", "seq_len", "horizon"])
    # cells = mean test MAE of the selected arm, never of the test-best arm
    assert m.loc["d1"].to_dict() == pytest.approx({"dropout": 2.1, "none": 3.1, "synaptic": 1.6})
    assert m.loc["d2"].to_dict() == pytest.approx({"dropout": 4.2, "none": 5.0, "synaptic": 3.2})
    assert res.ranking["regularizer"].tolist() == ["synaptic", "dropout", "none"]
    assert "arm" not in res.ranking.columns


def test_family_without_candidate_makes_block_incomplete() -> None:
    df = rows(SPEC)
    df.loc[(df.dataset == "d2") & (df.regularizer == "synaptic"), "val_loss"] = np.nan
    res = analyze(df, "test_mae", select="val_loss")
    assert res.design.n_blocks == 1
    assert res.design.dropped["missing_arms"].tolist() == ["synaptic"]
    assert any("no arm with a finite val_loss" in n for n in res.notes)


@pytest.mark.parametrize("bad", ["test_mae", "test_rmse", "naive_mae"])
def test_selection_on_test_split_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="on the test split is not offered"):
        check_select_on(bad, [bad, "val_loss"])
    with pytest.raises(ConfigError, match="on the test split is not offered"):
        select_on(rows(SPEC), bad)
    with pytest.raises(ConfigError, match="no 'val_loss' values"):
        check_select_on("val_loss", ["test_mae"], "rows.csv")


def test_cli_select_on_reports_the_choice_table(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = tmp_path / "rows.csv"
    rows({**SPEC, "d3": SPEC["d1"]}).to_csv(csv, index=False)
    out = tmp_path / "out"
    assert (
        main(["stats", "--from-csv", str(csv), "--out", str(out), "--select-on", "val_loss"]) == 0
    )
    assert "3 blocks x 3 families" in capsys.readouterr().out
    sel = pd.read_csv(out / "selection.csv")
    assert len(sel) == 9 and set(sel.columns) >= {"regularizer", "selected_arm", "mean_val_loss"}
    report = (out / "report.md").read_text()
    assert "## Configuration selected per block (on val_loss)" in report
    assert "| d1 | lstm | 14 | 1 | dropout | dropout[p=0.3] | 0.25 |" in report
    assert "--select-on val_loss" in report  # the reproduce command
    assert pd.read_csv(out / "ranking.csv").columns[0] == "regularizer"

    bad = tmp_path / "bad"
    assert (
        main(["stats", "--from-csv", str(csv), "--out", str(bad), "--select-on", "test_mae"]) == 2
    )
    err = capsys.readouterr().err
    assert "--select-on test_mae" in err and "--select-on val_loss" in err
    assert not bad.exists()
