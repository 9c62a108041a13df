"""The M4 table of ``synprune stats`` (issue 19): M4's averaging, OWA against Naive2 on the same
series, the references computed from the real M4 files, the published rows only for all
series, and the table in report.md / m4.csv from a ``--from-csv`` run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synprune.cli.main import main
from synprune.datasets.m4 import M4_FILES, read_m4
from synprune.references.m4 import reference_scores
from synprune.stats.m4 import PUBLISHED, m4_answer, m4_rows, m4_table


@pytest.fixture(scope="module")
def m4_files() -> Path:
    d = Path(os.environ.get("SYNPRUNE_DATA_DIR", ""))
    if any(not (d / f.filename).is_file() for f in M4_FILES.values()):
        pytest.skip(f"M4 Hourly files not found in SYNPRUNE_DATA_DIR={d!s}")
    return d


def _rows(series: list[str], seeds: int = 2) -> pd.DataFrame:
    """Trials of two arms on M4 series; sMAPE / MASE chosen so the averages are known."""
    out = []
    for i, sid in enumerate(series):
        for arm, shift in (("none", 0.0), ("synaptic", 1.0)):
            for seed in range(seeds):
                out.append(
                    {
                        "dataset": f"m4_hourly:{sid}",
                        "model": "lstm",
                        "seq_len": 96,
                        "horizon": 48,
                        "regularizer": arm,
                        "arm": arm,
                        "seed": seed,
                        "status": "finished",
                        "test_mae": 10.0 + i + shift + seed,
                        "naive_mae": 20.0 + i,
                        "val_loss": 0.5 + 0.1 * seed,
                        # per series: seed 0 and 1 average to 10 + i (+ 2 for synaptic)
                        "smape": 10.0 + i + 2 * shift + (seed - 0.5) * 2,
                        "mase": 1.0 + 0.1 * i + shift + (seed - 0.5) * 0.2,
                    }
                )
    return pd.DataFrame(out)


def test_scores_average_seeds_then_series_and_owa_is_relative_to_naive2() -> None:
    rows = _rows(["H1", "H2", "H3"])
    refs = {"naive2": {"smape": 20.0, "mase": 2.0, "owa": 1.0}}
    table = m4_table(rows, "arm", refs, total_series=414)
    ours = table[table["source"] == "this study"].set_index("forecaster")
    # series means 10, 11, 12 -> 11 (none); +2 -> 13 (synaptic); MASE 1.0/1.1/1.2 -> 1.1, +1
    assert ours.loc["none", "smape"] == pytest.approx(11.0)
    assert ours.loc["synaptic", "smape"] == pytest.approx(13.0)
    assert ours.loc["none", "mase"] == pytest.approx(1.1)
    assert ours.loc["synaptic", "mase"] == pytest.approx(2.1)
    assert ours.loc["none", "owa"] == pytest.approx(0.5 * (11 / 20 + 1.1 / 2))
    assert set(ours["series"]) == {3} and set(ours["seeds"]) == {2}
    assert "published (M4, all series)" not in set(table["source"])  # 3 of 414 series


def test_the_published_rows_appear_only_when_every_series_is_scored() -> None:
    rows = _rows(["H1", "H2"])
    refs = {"naive2": {"smape": 18.0, "mase": 2.0, "owa": 1.0}}
    table = m4_table(rows, "arm", refs, total_series=2)
    pub = table[table["source"] == "published (M4, all series)"].set_index("forecaster")
    assert set(pub.index) == set(PUBLISHED["m4_hourly"])
    assert pub.loc["Naive2", "owa"] == pytest.approx(1.0)
    assert pub.loc["sNaive", "smape"] == 13.912 and pub.loc["sNaive", "mase"] == 1.193


def test_only_rows_that_are_all_m4_series_get_the_table() -> None:
    rows = _rows(["H1"])
    assert m4_rows(rows) == "m4_hourly"
    mixed = pd.concat([rows, rows.assign(dataset="bitcoin")])
    assert m4_rows(mixed) is None
    assert m4_answer(mixed, "arm") == (None, "")


def test_references_come_from_the_m4_files_on_the_same_series(m4_files: Path) -> None:
    rows = _rows(["H5", "H77", "H300"])
    table, note = m4_answer(rows, "arm")
    assert table is not None and "ridge on the last 96 points" in note
    full = read_m4("hourly")
    want = reference_scores({i: full[i] for i in ("H5", "H77", "H300")}, 48, 24, 96)
    refs = table[table["source"] == "reference, same series"].set_index("forecaster")
    for name, scores in want.items():
        assert refs.loc[name, "smape"] == pytest.approx(scores["smape"])
        assert refs.loc[name, "mase"] == pytest.approx(scores["mase"])
    assert refs.loc["naive2", "owa"] == pytest.approx(1.0)
    ours = table[table["source"] == "this study"].set_index("forecaster")
    expect = 0.5 * (11.0 / want["naive2"]["smape"] + 1.1 / want["naive2"]["mase"])
    assert ours.loc["none", "owa"] == pytest.approx(expect)


def test_stats_from_csv_writes_the_m4_table(m4_files: Path, tmp_path: Path) -> None:
    rows = _rows([f"H{i}" for i in range(1, 7)], seeds=2)
    csv = tmp_path / "trials.csv"
    rows.to_csv(csv, index=False)
    out = tmp_path / "out"
    assert main(["stats", "--from-csv", str(csv), "--out", str(out)]) == 0
    table = pd.read_csv(out / "m4.csv")
    assert set(table["source"]) == {"this study", "reference, same series"}
    assert np.isfinite(table["owa"]).all()
    report = (out / "report.md").read_text()
    assert "## M4 scores" in report and "| lstm | synaptic | this study | 6 | 2 |" in report
    # the verdict counts the collection's series together: one references line, not six
    refs = [ln for ln in report.splitlines() if ln.startswith("- m4_hourly")]
    assert refs == [ln for ln in refs if ln.startswith("- m4_hourly: ")] and len(refs) == 1
    assert refs[0] == "- m4_hourly: every treatment beats naive in all 6 block(s)."
    frozen = pd.read_csv(out / "trials.csv")
    assert {"smape", "mase"} <= set(frozen.columns)  # the table can be rebuilt from it
