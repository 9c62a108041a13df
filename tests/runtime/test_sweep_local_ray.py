"""A ``synprune sweep`` that starts its own Ray, as a subprocess writing to a pipe:

- promise 9: every listening socket of the sweep's processes (driver, GCS, raylet, workers,
  agents; read from /proc) is bound to the loopback address, none to 0.0.0.0 / :: / an outward
  address;
- issue 13: not a terminal, so one plain line per trial with an ETA;
- issue 12 item 6: ``dropout[p]`` and ``mc_dropout[p]`` of one seed train once, both runs are
  written, each tagged ``shares_training_with`` the other's spec_id, and the dropout run's
  metrics equal those of a dropout trial trained on its own.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CONFIG = """
experiment = "local"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["dropout", "mc_dropout", "synaptic"]
seq_len = [8]
seed = [0]
[train]
epochs = 4
batch_size = 32
patience = 0
[models.lstm]
hidden_size = 8
[regularizers.dropout]
p = 0.3
[regularizers.mc_dropout]
p = 0.3
samples = 4
"""


def _listening_sockets() -> dict[str, tuple[str, int]]:
    """socket inode -> (address, port) of every TCP socket in LISTEN state."""
    out: dict[str, tuple[str, int]] = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] != "0A":  # LISTEN
                continue
            hex_ip, hex_port = f[1].split(":")
            raw = bytes.fromhex(hex_ip)
            if family == socket.AF_INET:
                ip = socket.inet_ntop(family, struct.pack("<I", int(hex_ip, 16)))
            else:  # four little-endian 32-bit words
                ip = socket.inet_ntop(family, b"".join(raw[i : i + 4][::-1] for i in (0, 4, 8, 12)))
            out[f[9]] = (ip, int(hex_port, 16))
    return out


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _sockets_of(pids: set[int], listening: dict[str, tuple[str, int]]) -> set[tuple[str, str, int]]:
    """(process name, address, port) of the listening sockets the processes hold."""
    seen = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in listening:
                seen.add((name, *listening[target[8:-1]]))
    return seen


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def test_sweep_binds_loopback_prints_lines_and_shares_training(tmp_path: Path) -> None:
    cfg = tmp_path / "local.toml"
    cfg.write_text(CONFIG)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    log = tmp_path / "sweep.log"
    cmd = [sys.executable, "-m", "synprune", "sweep", "--config", str(cfg), "--tracking-uri", uri]
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*cmd, "--num-cpus", "2"], cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT
        )
        seen: set[tuple[str, str, int]] = set()
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= _sockets_of(_descendants(proc.pid), _listening_sockets())
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait()
    out = log.read_text()
    assert rc == 0, out

    # promise 9: Ray's servers listen, and only on the loopback address
    names = {name for name, _, _ in seen}
    assert {"gcs_server", "raylet"} <= names, seen
    outward = sorted(s for s in seen if not _loopback(s[1]))
    assert not outward, f"listening beyond loopback: {outward}"

    # issue 13: one plain line per trial, with an ETA, no escape codes
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3 and all("(ETA " in ln for ln in lines), out
    assert "\x1b" not in out
    # issue 20 item 3: no MLflow / alembic INFO lines (a new store is created here); the first
    # ETA is not one trial's duration extrapolated (2 training groups: it waits for both)
    assert "INFO" not in out and "alembic" not in out, out
    assert lines[0].endswith("(ETA after 2 trials)"), out

    # issue 12 item 6: two runs from one training, as if trained apart
    import torch
    from mlflow.tracking import MlflowClient

    from synprune.config.loader import load_config
    from synprune.experiment.trial import run_trial
    from synprune.tracking.reader import trial_rows

    specs = {s.regularizer.name: s for s in load_config(cfg).specs()}
    runs = {r["regularizer"]: r for r in trial_rows(uri, "local")}
    assert sorted(runs) == ["dropout", "mc_dropout", "synaptic"]
    client = MlflowClient(uri)
    tags = {k: client.get_run(r["run_id"]).data.tags for k, r in runs.items()}
    assert tags["dropout"]["shares_training_with"] == specs["mc_dropout"].spec_id
    assert tags["mc_dropout"]["shares_training_with"] == specs["dropout"].spec_id
    assert "shares_training_with" not in tags["synaptic"]
    torch.set_num_threads(1)  # as in the sweep's 1-CPU trial
    alone = run_trial(specs["dropout"])
    logged = client.get_run(runs["dropout"]["run_id"]).data.metrics
    for key in ("test_mae", "test_rmse", "naive_mae", "best_val_loss", "best_epoch"):
        assert logged[key] == alone.metrics()[key], key
    # the val_loss history has one point per epoch; the restored best is its own metric
    history = client.get_metric_history(runs["dropout"]["run_id"], "val_loss")
    assert len(history) == alone.epochs_run == 4
