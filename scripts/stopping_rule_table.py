"""The table "What the stopping rule did" of docs/study/README.md, from the frozen runs.

    python scripts/stopping_rule_table.py [docs/study]

Reads ``runs.csv`` of the study (stopping rule ``equal``) and ``previous/runs.csv`` (the first
study, stopping rule ``per_arm``: synaptic waited for its schedule, the others stopped after
patience 3). Matches the trials both ran -- the arms they share, on the same dataset, model,
window and seed -- and prints per family: trials matched, mean epochs run and mean restored
(best) epoch under each rule, and the geometric mean of test MAE equal / per_arm with the
numbers of trials where the equal rule's MAE is lower, the same (the same epoch restored) and
higher. tests/stats/test_published_study.py
checks that the README holds these rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["dataset", "model", "seq_len", "horizon", "seed", "arm"]
VALUES = ["epochs_run", "best_epoch", "test_mae"]


def matched(study: Path) -> pd.DataFrame:
    """Trials finished under both rules, one row each, with ``*_per_arm`` / ``*_equal``."""
    new = pd.read_csv(study / "runs.csv")
    old = pd.read_csv(study / "previous" / "runs.csv")
    new, old = (d[d["status"] == "finished"][[*KEY, *VALUES]] for d in (new, old))
    both = old.merge(new, on=KEY, suffixes=("_per_arm", "_equal"))
    both["family"] = both["arm"].str.split("[").str[0]
    return both


def table(both: pd.DataFrame) -> list[str]:
    lines = [
        "| family | trials | epochs run: per_arm → equal | restored epoch: per_arm → equal "
        "| test MAE equal / per_arm (geometric mean) | equal lower / same / higher |",
        "|---|---|---|---|---|---|",
    ]
    for family, d in both.groupby("family", sort=True):
        ratio = float(np.exp(np.mean(np.log(d["test_mae_equal"] / d["test_mae_per_arm"]))))
        lower = int((d["test_mae_equal"] < d["test_mae_per_arm"]).sum())
        same = int((d["test_mae_equal"] == d["test_mae_per_arm"]).sum())
        lines.append(
            f"| {family} | {len(d)} | {d['epochs_run_per_arm'].mean():.1f} → "
            f"{d['epochs_run_equal'].mean():.1f} | {d['best_epoch_per_arm'].mean():.1f} → "
            f"{d['best_epoch_equal'].mean():.1f} | {ratio:.4f} | {lower} / {same} / "
            f"{len(d) - lower - same} |"
        )
    return lines


def main(argv: list[str]) -> int:
    study = Path(argv[0]) if argv else Path("docs/study")
    print("\n".join(table(matched(study))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
