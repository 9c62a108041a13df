"""The control table of docs/study/previous/README.md ("Longer training, or pruning?"), from the
frozen rows of the previous (per-arm stopping) study.

    python scripts/study_control_table.py [docs/study/previous]

Reads ``trials.csv`` and ``selection.csv`` of the study's --select-on report and
``control/trials.csv``, takes per block (dataset x model x seq_len x horizon) the mean test MAE
over seeds of: none, the control ``synaptic[final_sparsity=0.0]`` (same schedule and early-stop
rule as a synaptic trial, nothing pruned) and the synaptic arm selected on validation in that
block; then, for each comparison, the median and range of the per-block % change, how many
blocks the first is better in, and a two-sided Wilcoxon signed-rank p on log MAE (relative
differences, commensurable across datasets; Demšar 2006 §3.1.3). Prints the Markdown rows the
README shows; tests/stats/test_published_study.py checks that the README holds them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.stats.tests import wilcoxon_pair

BLOCK = ["dataset", "model", "seq_len", "horizon"]
CONTROL = "synaptic[final_sparsity=0.0]"
COMPARISONS = (
    ("control", "none", "control (longer training, no pruning) vs none"),
    ("synaptic", "none", "synaptic (selected) vs none"),
    ("synaptic", "control", "synaptic (selected) vs control"),
)


def block_means(study: Path) -> pd.DataFrame:
    """Blocks x {none, control, synaptic}: mean test MAE over seeds (finished trials)."""
    trials = pd.read_csv(study / "trials.csv")
    control = pd.read_csv(study / "control" / "trials.csv")
    selection = pd.read_csv(study / "selection.csv")
    chosen = selection[selection["regularizer"] == "synaptic"][[*BLOCK, "selected_arm"]]
    picked = trials.merge(chosen, on=BLOCK)
    picked = picked[picked["arm"] == picked["selected_arm"]]
    parts = {
        "none": control[control["arm"] == "none"],
        "control": control[control["arm"] == CONTROL],
        "synaptic": picked,
    }
    cols = {}
    for name, rows in parts.items():
        rows = rows[rows["status"] == "finished"]
        cols[name] = rows.groupby(BLOCK)["test_mae"].mean()
    out = pd.DataFrame(cols)
    if out.isna().any().any():
        missing = out[out.isna().any(axis=1)].index.tolist()
        raise SystemExit(f"blocks without every column: {missing}")
    return out


def signed(v: float, digits: int = 1) -> str:
    """``+12.6 %``, ``−3.4 %`` (a true minus sign), ``0.0 %``."""
    if round(v, digits) == 0:
        return f"{0:.{digits}f} %"
    return f"{v:+.{digits}f} %".replace("-", "\u2212")


def table(means: pd.DataFrame) -> list[str]:
    """The Markdown rows (header included)."""
    lines = [
        f"| comparison over the {len(means)} blocks | median | range | better in "
        "| Wilcoxon p (log ratios) |",
        "|---|---|---|---|---|",
    ]
    for a, b, label in COMPARISONS:
        x, y = means[a].to_numpy(), means[b].to_numpy()
        pct = 100.0 * (x - y) / y
        _, p, _ = wilcoxon_pair(np.log(x), np.log(y))  # zero differences split (zsplit)
        med = float(np.median(pct))
        median = signed(med, 2 if 0.05 <= abs(med) < 0.995 else 1).lstrip("+")
        lines.append(
            f"| {label} | {median} | {signed(pct.min())} … {signed(pct.max())} "
            f"| {int(np.sum(x < y))} | {p:.2g} |"
        )
    return lines


def main(argv: list[str]) -> int:
    study = Path(argv[0]) if argv else Path("docs/study/previous")
    print("\n".join(table(block_means(study))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
