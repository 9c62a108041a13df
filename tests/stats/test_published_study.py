"""The published study (docs/study) is reproducible from its frozen rows, as its README says:
``synprune stats --from-csv docs/study/trials.csv --select-on val_loss`` (and the arms and
control reports without selection) give byte-identical tables. A change to the stats stage
that moves a published number fails here: regenerate docs/study and re-read its README."""

from __future__ import annotations

from pathlib import Path

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
