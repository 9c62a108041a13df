"""SIGKILL the sweep driver mid-sweep, then `sweep --resume`: every trial finished exactly once."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

CONFIG = """
experiment = "killed"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout", "synaptic", "mc_dropout"]
seq_len = [8, 12]
seed = [0]
[train]
epochs = 6
batch_size = 16
patience = 0
[models.lstm]
hidden_size = 8
[regularizers.mc_dropout]
samples = 3
"""


def _live_session_procs(sid: int) -> list[int]:
    """Processes (not zombies) still in session ``sid``: the driver's Ray processes included."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(name))
        except (OSError, IndexError, ValueError):
            pass
    return out


def test_sigkill_mid_sweep_then_resume(tmp_path: Path) -> None:
    from synprune.tracking.reader import trial_rows

    cfg = tmp_path / "killed.toml"
    cfg.write_text(CONFIG)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    cmd = [
        sys.executable,
        "-m",
        "synprune",
        "sweep",
        "--config",
        str(cfg),
        "--tracking-uri",
        uri,
        "--num-cpus",
        "2",
    ]
    log = (tmp_path / "first.log").open("w", buffering=1)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            # read the store only once the driver has created it (its first line says so)
            ready = "trials in the grid" in (tmp_path / "first.log").read_text()
            if ready and trial_rows(uri, "killed"):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert 1 <= len(trial_rows(uri, "killed")) < 8
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything in its session
        proc.wait()
    # Ray processes outside the killed process group die with the driver (fate sharing)
    deadline = time.monotonic() + 60
    while _live_session_procs(proc.pid) and time.monotonic() < deadline:
        time.sleep(1)
    left = _live_session_procs(proc.pid)
    for pid in left:  # never leave strays behind, even when the assertion fails
        os.kill(pid, signal.SIGKILL)
    assert left == []
    before = len(trial_rows(uri, "killed"))

    out = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    finished = trial_rows(uri, "killed")
    per_spec = collections.Counter(r["spec_id"] for r in finished)
    assert len(per_spec) == 8 and set(per_spec.values()) == {1}  # each exactly once
    assert f"{before} already finished" in out.stdout
    assert trial_rows(uri, "killed", status="running") == []
