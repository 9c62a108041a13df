"""``synprune datasets list|fetch|check`` through the real CLI entry point."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from synprune.cli.main import main


def _rows(out: str) -> dict[str, dict[str, str]]:
    """The `datasets list` table as {name: {column: value}}, cut at the header's columns."""
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.startswith("name "))
    names = header.split()
    starts = [header.index(n) for n in names] + [None]
    table = lines[lines.index(header) + 1 :]
    rows = {}
    for ln in table:
        if not ln.strip():
            break
        cells = [ln[a:b].strip() for a, b in itertools.pairwise(starts)]
        rows[cells[0]] = dict(zip(names, cells))
    return rows


def test_list(shared_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", "--data-dir", str(shared_data_dir)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [rows["bitcoin"][c] for c in ("file", "rows", "target", "present")] == [
        "bitcoin.csv",
        "365",
        "close",
        "yes",
    ]
    assert rows["etth1"]["present"] == "yes" and "12/4/4" in out
    assert rows["retail"]["present"] == "no" and rows["synthetic"]["present"] == "generated"
    assert "CC BY 4.0" in rows["air_quality"]["licence"]


def test_list_on_an_empty_data_dir_shows_packaged_files_and_manual_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["datasets", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert rows["aapl"]["present"] == rows["air_quality"]["present"] == "packaged"
    assert rows["bitcoin"]["present"] == "no"
    assert "retail: no automatic download" in out and "kaggle.com" in out
    assert "SYNPRUNE_DATA_DIR" in out


def test_check_ok_and_mismatch(shared_data_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["datasets", "check", "--data-dir", str(shared_data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 7 and "retail_store_inventory.csv  missing" in out  # 5 + M4 x2
    (tmp_path / "bitcoin.csv").write_text("timeOpen,close\n")
    assert main(["datasets", "check", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "mismatch" in out and "expected 6dd58c35" in out


def test_fetch_from_local_server(serve_dir, shared_data_dir: Path, tmp_path: Path, capsys) -> None:
    base, served = serve_dir
    (served / "ETTh1.csv").symlink_to(shared_data_dir / "ETTh1.csv")
    (served / "bitcoin.csv").write_text("corrupted\n")
    cache = tmp_path / "cache"
    argv = ["datasets", "fetch", "etth1", "--data-dir", str(cache), "--base-url", base]
    assert main(argv) == 0
    assert "etth1: downloaded" in capsys.readouterr().out
    assert (
        main(
            ["datasets", "fetch", "etth1", "bitcoin", "--data-dir", str(cache), "--base-url", base]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "etth1: present" in out and "bitcoin: FAILED" in out and "sha256 mismatch" in out
    assert sorted(p.name for p in cache.iterdir()) == ["ETTh1.csv"]


def test_fetch_unknown_name_exits_2(capsys) -> None:
    assert main(["datasets", "fetch", "synthetic"]) == 2
    assert "no file to fetch for synthetic" in capsys.readouterr().err
