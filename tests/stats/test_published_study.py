"""The published study (docs/study) is reproducible from its frozen rows, as its README says:
``synprune stats --from-csv docs/study/trials.csv --select-on val_loss`` (and the arms, the
paper-protocol and the previous study's reports) give byte-identical tables. A change to the
stats stage that moves a published number fails here: regenerate docs/study and re-read its
README. The README's hand-pasted tables are checked against the scripts that print them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from synprune.cli.main import main

STUDY = Path(__file__).resolve().parents[2] / "docs" / "study"
TABLES = ("ranking", "friedman", "nemenyi", "wilcoxon_holm", "cells", "headline_blocks")


@pytest.mark.parametrize(
    ("folder", "extra", "more"),
    [
        ("", ["--select-on", "val_loss"], ("selection", "effects", "primary", "references")),
        ("arms", [], ("sensitivity", "effects")),
        ("paper-protocol", [], ("effects", "primary", "references")),
        ("previous", ["--select-on", "val_loss"], ("selection", "budget")),
        ("previous/arms", [], ("sensitivity",)),
        ("previous/control", [], ()),
    ],
)
def test_frozen_rows_reproduce_the_published_tables(
    folder: str, extra: list[str], more: tuple[str, ...], tmp_path: Path
) -> None:
    src = STUDY / folder
    out = tmp_path / "again"
    args = ["stats", "--from-csv", str(src / "trials.csv"), *extra, "--out", str(out)]
    assert main(args) == 0
    for name in (*TABLES, *more):
        assert (out / f"{name}.csv").read_bytes() == (src / f"{name}.csv").read_bytes(), name


def _script(name: str) -> Any:
    import importlib.util

    script = STUDY.parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_control_table_is_what_the_frozen_rows_give() -> None:
    """docs/study/previous/README.md's control table is printed by
    scripts/study_control_table.py from the frozen rows; its p for control vs none agrees with
    control/report.md (both split ties)."""
    previous = STUDY / "previous"
    mod = _script("study_control_table")
    means = mod.block_means(previous)
    assert len(means) == 17 and not means.isna().any().any()
    lines = mod.table(means)
    readme = (previous / "README.md").read_text().splitlines()
    for line in lines:
        assert line in readme, f"README.md lacks {line!r} (rerun the script, paste its table)"
    control_p = float(pd.read_csv(previous / "control" / "wilcoxon_holm.csv")["p_value"].iloc[0])
    assert f"| {control_p:.2g} |" in lines[2]


def test_readme_stopping_rule_table_is_what_the_frozen_runs_give() -> None:
    """docs/study/README.md's "What the stopping rule did" rows are what
    scripts/stopping_rule_table.py prints from runs.csv and previous/runs.csv."""
    mod = _script("stopping_rule_table")
    both = mod.matched(STUDY)
    assert set(both["family"]) == {"none", "dropout", "mc_dropout", "synaptic"}
    readme = (STUDY / "README.md").read_text().splitlines()
    for line in mod.table(both):
        assert line in readme, f"README.md lacks {line!r} (rerun the script, paste its table)"
