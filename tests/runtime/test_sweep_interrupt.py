"""Ctrl-C on a terminal (issue 11, promise 1): a real ``synprune sweep`` on a pseudo-terminal
gets a real Ctrl-C (``^C`` typed into the pty: SIGINT to its foreground process group). It
exits 130, says how many trials finished and are left and the exact command to resume, and
its sweep run is KILLED, not FINISHED. The first Ctrl-C stops a ``--resume`` sweep too; the
printed command then finishes the grid with every trial run exactly once. The terminal output
(progress bar) holds no escape code."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CONFIG = """
experiment = "ctrlc"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout", "synaptic", "mc_dropout"]
seq_len = [8, 12]
seed = [0]
[train]
epochs = 8
batch_size = 16
patience = 0
[models.lstm]
hidden_size = 8
[regularizers.mc_dropout]
p = 0.2
samples = 3
"""
TOTAL = 8


class Terminal:
    """A command on a pseudo-terminal (its controlling terminal), output collected."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the terminal's other side closed
                return
            if not data:
                return
            self.chunks.append(data)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def wait_for(self, ready: Callable[[str], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self.output):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"not ready (rc {self.proc.returncode}):\n{self.output}")
            time.sleep(0.2)

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")  # the line discipline turns ^C into SIGINT

    def finish(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"no exit within {timeout} s:\n{self.output}")
        self.reader.join(timeout=10)
        os.close(self.master)
        return rc

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _finished_on_bar(text: str) -> int:
    counts = re.findall(r"(\d+) finished, \d+ failed, ETA", text)
    return int(counts[-1]) if counts else 0


def test_ctrl_c_stops_sweep_and_resume_then_the_command_finishes_it(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from synprune.tracking.reader import trial_rows

    cfg = tmp_path / "ctrlc.toml"
    cfg.write_text(CONFIG)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    argv = ["sweep", "--config", str(cfg), "--tracking-uri", uri, "--num-cpus", "2"]

    # 1. Ctrl-C once the first trial finished
    term = Terminal([sys.executable, "-m", "synprune", *argv], tmp_path)
    term.wait_for(lambda out: _finished_on_bar(out) >= 1, timeout=300)
    term.ctrl_c()
    rc = term.finish(timeout=120)
    out = term.output
    assert rc == 130, out
    assert "\x1b" not in out, repr(out[-400:])  # no colour / cursor codes, no stray reset
    m = re.search(r"sweep ctrlc interrupted: (\d+) finished, 0 failed, (\d+) left to run", out)
    assert m, out
    finished, left = int(m[1]), int(m[2])
    assert finished >= 1 and left >= 1 and finished + left == TOTAL, out
    resume = re.search(r"resume: (synprune sweep .*)", out)
    assert resume, out
    command = shlex.split(resume[1].strip())
    assert command == ["synprune", *argv, "--resume"]
    assert len(trial_rows(uri, "ctrlc")) == finished
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ctrlc")
    sweeps = client.search_runs([exp.experiment_id], "tags.run_kind = 'sweep'")
    assert [(r.info.status, r.data.tags["status"]) for r in sweeps] == [("KILLED", "interrupted")]

    # 2. the printed command, interrupted again: the first Ctrl-C stops a --resume sweep too
    term = Terminal([sys.executable, "-m", "synprune", *command[1:]], tmp_path)
    term.wait_for(lambda out: _finished_on_bar(out) >= 1, timeout=300)
    term.ctrl_c()
    rc = term.finish(timeout=120)
    assert rc == 130, term.output
    assert f"{finished} already finished" in term.output
    m = re.search(r"interrupted: (\d+) finished, 0 failed, (\d+) left to run", term.output)
    assert m and int(m[2]) >= 1 and int(m[1]) + int(m[2]) == left, term.output

    # 3. the printed command again, not on a terminal: one line per trial, then done
    done = subprocess.run(
        [sys.executable, "-m", "synprune", *command[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [ln for ln in done.stdout.splitlines() if re.match(r"\[\d+/\d+\] ", ln)]
    assert lines and all("(ETA " in ln for ln in lines), done.stdout
    per_spec = collections.Counter(r["spec_id"] for r in trial_rows(uri, "ctrlc"))
    assert len(per_spec) == TOTAL and set(per_spec.values()) == {1}
    assert trial_rows(uri, "ctrlc", status="running") == []
    sweeps = client.search_runs([exp.experiment_id], "tags.run_kind = 'sweep'")
    assert sorted(r.info.status for r in sweeps) == ["FINISHED", "KILLED", "KILLED"]


def test_sigterm_stops_the_sweep_as_ctrl_c_does(tmp_path: Path) -> None:
    """``kill <pid>`` (a scheduler, a container stop): exit 130, the finished trials recorded,
    the sweep run KILLED, the resume line, and no stack dump of Ray's C++ side."""
    from mlflow.tracking import MlflowClient

    from synprune.tracking.reader import trial_rows

    cfg = tmp_path / "ctrlc.toml"
    cfg.write_text(CONFIG)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    log = tmp_path / "sweep.log"
    argv = ["sweep", "--config", str(cfg), "--tracking-uri", uri, "--num-cpus", "2"]
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "synprune", *argv],
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "[1/8]" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # the driver only, as `kill` does
        rc = proc.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    out = log.read_text()
    assert rc == 130, out
    assert "SIGTERM received: stopping the running trials" in out, out
    m = re.search(r"sweep ctrlc interrupted: (\d+) finished, 0 failed, (\d+) left to run", out)
    assert m and int(m[1]) >= 1 and int(m[1]) + int(m[2]) == TOTAL, out
    assert re.search(r"resume: synprune sweep .* --resume", out), out
    assert "*** SIGTERM received" not in out and "Stack trace" not in out, out
    assert len(trial_rows(uri, "ctrlc")) == int(m[1])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ctrlc")
    sweeps = client.search_runs([exp.experiment_id], "tags.run_kind = 'sweep'")
    assert [(r.info.status, r.data.tags["status"]) for r in sweeps] == [("KILLED", "interrupted")]
