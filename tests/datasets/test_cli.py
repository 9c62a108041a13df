"""``synprune datasets list|fetch|check`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from synprune.cli.main import main


def test_list(shared_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", "--data-dir", str(shared_data_dir)]) == 0
    out = capsys.readouterr().out
    lines = {
        ln.split()[0]: ln.split()
        for ln in out.splitlines()
        if ln and not ln.startswith(("data", "any"))
    }
    assert (
        lines["bitcoin"][1:4] == ["bitcoin.csv", "365", "close"] and lines["bitcoin"][-1] == "yes"
    )
    assert lines["etth1"][-1] == "yes" and "12/4/4" in out
    assert lines["retail"][-1] == "no" and lines["synthetic"][-1] == "generated"


def test_check_ok_and_mismatch(shared_data_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["datasets", "check", "--data-dir", str(shared_data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 5 and "retail_store_inventory.csv  missing" in out
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
