"""Refusals before anything runs (issue 11, promises 2 and 8): a tracking store that cannot be
written and a grid point that cannot be windowed are one line and exit 2, before Ray starts and
before any run is written; store creation and a full disk leave no traceback or debris.
Real SQLite files, real folders, real processes; no Ray runtime is started here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from synprune.cli.main import main

CONFIG = """
experiment = "pre"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout"]
seq_len = [{seq_len}]
seed = [0]
[train]
epochs = 1
[models.lstm]
hidden_size = 4
[tuning]
trials = 1
seeds = [1]
storage = "sqlite:///{optuna}"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a default store (./synprune-runs) would land here
    path = tmp_path / "pre.toml"
    path.write_text(CONFIG.format(seq_len=8, optuna=tmp_path / "optuna" / "o.db"))
    return path


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    import ray

    rc = main(argv)
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 2, out
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    assert not ray.is_initialized()
    return lines[0]


@pytest.fixture
def read_only() -> Iterator[object]:
    """Makes a file or folder read-only for this process, also as root (``chattr +i``)."""
    done: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
        elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
        done.append(path)

    yield make
    for path in done:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_unknown_scheme_is_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(["sweep", "--config", str(config), "--tracking-uri", "mlfow://x"], capsys)
    assert "tracking store mlfow://x: unknown scheme mlfow:" in line and "sqlite:" in line


def test_read_only_sqlite_file_is_refused(
    config: Path, tmp_path: Path, read_only: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    read_only(db)  # type: ignore[operator]
    line = _refused(["sweep", "--config", str(config), "--tracking-uri", f"sqlite:///{db}"], capsys)
    assert f"the SQLite file {db} is read-only" in line


def test_unwritable_folder_is_refused(
    config: Path, tmp_path: Path, read_only: object, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    read_only(folder)  # type: ignore[operator]
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    line = _refused(["sweep", "--config", str(config), "--tracking-uri", uri], capsys)
    assert f"cannot write in the folder of the SQLite file {folder}" in line
    uri = f"sqlite:///{folder / 'sub' / 'mlflow.db'}"
    line = _refused(["tune", "--config", str(config), "--tracking-uri", uri], capsys)
    assert f"cannot create the folder of the SQLite file {folder / 'sub'}" in line
    assert list(folder.iterdir()) == []


def test_unreachable_server_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    line = _refused(["sweep", "--config", str(config), "--tracking-uri", uri], capsys)
    assert f"tracking store {uri}: the server does not answer" in line
    assert "Connection refused" in line


def test_grid_point_longer_than_a_split_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "long.toml"
    # synthetic: 1000 rows split 700/100/200; seq_len 750 leaves the train split no window
    path.write_text(CONFIG.format(seq_len=750, optuna=tmp_path / "o.db"))
    db = tmp_path / "store" / "mlflow.db"
    for verb in ("sweep", "tune"):
        line = _refused([verb, "--config", str(path), "--tracking-uri", f"sqlite:///{db}"], capsys)
        assert str(path) in line and "dataset=synthetic seq_len=750 horizon=1" in line, line
        assert "too short for seq_len 750" in line and "train split" in line, line
        assert not db.exists()  # no store, no run written


@pytest.mark.slow  # two interpreters importing MLflow and migrating a store: ~25 s on 2 cores
def test_two_drivers_creating_one_new_store_at_once(tmp_path: Path) -> None:
    """Two MLflow clients migrating one new SQLite file at once race (tables already exist,
    alembic version rows); each driver opens its store under a lock instead."""
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from synprune.runtime.preflight import open_tracker
        uri, experiment, ready, other = sys.argv[1:5]
        Path(ready).touch()  # both interpreters imported everything: go together
        while not Path(other).exists():
            time.sleep(0.001)
        tracker = open_tracker(uri, experiment)
        print("opened", tracker.experiment_id)
    """)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    flags = [str(tmp_path / "ready0"), str(tmp_path / "ready1")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, uri, f"exp{i}", flags[i], flags[1 - i]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err
        assert out.startswith("opened")
    from mlflow.tracking import MlflowClient

    names = {e.name for e in MlflowClient(uri).search_experiments()}
    assert {"exp0", "exp1"} <= names


def test_full_disk_leaves_no_temporary_spool_files(tmp_path: Path) -> None:
    """With writes failing for lack of space (RLIMIT_FSIZE: the kernel refuses to grow any
    file), the store write fails, then the spool write fails; no empty .tmp is left behind."""
    script = textwrap.dedent("""
        import resource, signal, sys
        from synprune.tracking.writer import RunRecord, Tracker
        tracker = Tracker(sys.argv[1], "full")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        rec = RunRecord(kind="trial", run_name="r", status="finished", spec_id="abc",
                        metrics={"test_mae": 1.0}, texts={"notes.txt": "x" * 10000})
        try:
            print("outcome", tracker.write(rec))
        except OSError as exc:
            print("refused", exc.errno)
        print("spool", tracker.spool_dir)
    """)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    out = subprocess.run(
        [sys.executable, "-c", script, uri], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    lines = dict(ln.split(" ", 1) for ln in out.stdout.splitlines())
    assert lines.get("refused") == "27", out.stdout  # EFBIG: the spool file could not be written
    spool = tmp_path / "store" / "spool" / "full"
    assert lines["spool"] == str(spool)
    assert spool.is_dir() and list(spool.iterdir()) == []  # neither a record nor a .tmp
