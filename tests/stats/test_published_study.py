"""The published study (docs/study) is reproducible from its frozen rows, as its README says:
``synprune stats --from-csv docs/study/trials.csv --select-on val_loss`` (and the arms and
control reports without selection) give byte-identical tables. A change to the stats stage
that moves a published number fails here: regenerate docs/study and re-read its README."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synprune.cli.main import main

STUDY = Path(__file__).resolve().parents[2] / "docs" / "study"
TABLES = ("ranking", "friedman", "nemenyi", "wilcoxon_holm", "cells", "headline_blocks")


@pytest.mark.parametrize(
    ("folder", "extra", "more"),
    [
        ("", ["--select-on", "val_loss"], ("selection", "budget")),
        ("arms", [], ("sensitivity",)),
        ("control", [], ()),
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


def test_readme_control_table_is_what_the_frozen_rows_give() -> None:
    """docs/study/README.md's control table is printed by scripts/study_control_table.py from
    the frozen rows; its p for control vs none agrees with control/report.md (both split ties)."""
    import importlib.util

    script = STUDY.parents[1] / "scripts" / "study_control_table.py"
    spec = importlib.util.spec_from_file_location("study_control_table", script)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    means = mod.block_means(STUDY)
    assert len(means) == 17 and not means.isna().any().any()
    lines = mod.table(means)
    readme = (STUDY / "README.md").read_text().splitlines()
    for line in lines:
        assert line in readme, f"README.md lacks {line!r} (rerun the script, paste its table)"
    control_p = float(pd.read_csv(STUDY / "control" / "wilcoxon_holm.csv")["p_value"].iloc[0])
    assert f"| {control_p:.2g} |" in lines[2]
