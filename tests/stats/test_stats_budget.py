"""Equal tuning budget (stats/budget.py): the best family re-ranked with only as many arms as
the next-largest family, over every subset of its arms. Hand-made frames whose outcome is known."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import synprune.stats.budget as budget_mod
from synprune.cli.main import main
from synprune.stats.analysis import analyze
from synprune.stats.budget import budget_check
from synprune.stats.verdict import lead_sentence


def _rows(n_blocks: int = 8, syn_arms: int = 4) -> pd.DataFrame:
    """Per block: none 1.0, dropout[p=.1] 0.95 / [p=.3] 0.97, synaptic arms 1.1 except
    ``s0`` 0.90 (validation loss = test error / 10, so validation picks what test rewards)."""
    out = []
    for b in range(n_blocks):
        arms = {"none": 1.0, "dropout[p=0.1]": 0.95, "dropout[p=0.3]": 0.97}
        for i in range(syn_arms):
            arms[f"synaptic[s={i}]"] = 0.90 if i == 0 else 1.1
        for arm, mae in arms.items():
            for seed in range(2):
                value = mae * (1 + 0.001 * b) + 0.0001 * seed
                out.append(
                    {"dataset": f"d{b}", "model": "m", "seq_len": 7, "horizon": 1,
                     "regularizer": arm.split("[")[0], "arm": arm, "seed": str(seed),
                     "status": "finished", "test_mae": value, "val_loss": value / 10}
                )  # fmt: skip
    return pd.DataFrame(out)


def test_every_subset_of_the_budget_size_is_ranked() -> None:
    b = budget_check(_rows(), "test_mae")
    assert b is not None
    assert (b.family, b.n_arms, b.size, b.budget_of) == ("synaptic", 4, 2, ("dropout",))
    assert b.n_subsets == math.comb(4, 2) == len(b.table)
    # the family wins exactly in the subsets that hold its one good arm, and then in every block
    holds_good = b.table["arms"].str.contains(r"synaptic\[s=0\]", regex=True)
    assert holds_good.sum() == 3
    assert list(b.table["first"]) == list(holds_good)
    assert set(b.table.loc[holds_good, "average_rank"]) == {1.0}
    # without it synaptic's arms (1.1) lose to none (1.0) and both dropouts in every block
    assert set(b.table.loc[~holds_good, "position"]) == {3}
    assert set(b.table.loc[~holds_good, "average_rank"]) == {3.0}
    text = b.summary(0.05)
    assert "limited to 2 of its 4 arms" in text and "first (alone or tied) in 3 of 6" in text


def test_no_check_when_the_budgets_are_already_equal_or_there_is_none() -> None:
    assert budget_check(_rows(syn_arms=2), "test_mae") is None  # 2 arms vs dropout's 2
    single = _rows()
    single = single[single["arm"] != "dropout[p=0.3]"]  # every other family: one arm
    assert budget_check(single, "test_mae") is None


def test_many_subsets_are_sampled_with_a_fixed_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget_mod, "MAX_SUBSETS", 5)
    first = budget_check(_rows(syn_arms=6), "test_mae")
    again = budget_check(_rows(syn_arms=6), "test_mae")
    assert first is not None and again is not None
    assert first.n_subsets == math.comb(6, 2) and len(first.table) == 5
    assert list(first.table["arms"]) == list(again.table["arms"])
    assert "a fixed sample of 5 of the 15 subsets" in first.summary(0.05)


def test_selection_report_states_the_budget_check(tmp_path: Path) -> None:
    res = analyze(_rows(), "test_mae", select="val_loss")
    assert res.budget is not None and res.budget.family == "synaptic"
    assert analyze(_rows(), "test_mae").budget is None  # arms ranked as they are: no selection
    csv = tmp_path / "rows.csv"
    _rows().to_csv(csv, index=False)
    out = tmp_path / "out"
    assert (
        main(["stats", "--from-csv", str(csv), "--out", str(out), "--select-on", "val_loss"]) == 0
    )
    report = (out / "report.md").read_text()
    assert "**Tuning budget?** With `synaptic` limited to 2 of its 4 arms" in report
    assert "## Equal tuning budget" in report
    assert len(pd.read_csv(out / "budget.csv")) == 6


def test_report_says_how_large_the_lead_is_not_only_whether_it_is_significant() -> None:
    cells = {"d1": {"a": 0.9, "none": 1.0, "b": 1.2}, "d2": {"a": 1.8, "none": 2.0, "b": 2.0}}
    rows = pd.DataFrame(
        [
            {"dataset": ds, "model": "m", "seq_len": 7, "horizon": 1, "regularizer": arm,
             "arm": arm, "seed": "0", "status": "finished", "test_mae": mae}
            for ds, arms in cells.items()
            for arm, mae in arms.items()
        ]
    )  # fmt: skip
    res = analyze(rows, "test_mae", primary=("a", "b"), n_boot=200)
    text = lead_sentence(res)
    # the one effect measure of the report: the geometric-mean ratio with its interval, against
    # none and the primary comparator (a / none = 0.9, 0.9; a / b = 0.75, 0.9)
    assert text is not None and text.startswith("**How large?** `a`'s error ratio (geometric mean")
    assert "vs `none` 0.9000 (95 % CI" in text and f"vs `b` {(0.75 * 0.9) ** 0.5:.4f}" in text
    assert lead_sentence(analyze(rows.assign(test_mae=1.0), "test_mae")) is None  # no best
