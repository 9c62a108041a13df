"""`synprune ui`: a lean MLflow server on loopback that answers within seconds, prints its URL
once it answers, refuses busy/invalid ports at once, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from synprune.cli.ui import server_command
from synprune.tracking.writer import Tracker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "synprune", "ui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out, err


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri, "uiexp")
    return uri


def test_server_command_serves_the_store_with_local_artifacts(store: str, tmp_path: Path) -> None:
    cmd = server_command(store, "127.0.0.1", 5123)
    assert cmd[1:3] == ["-m", "synprune.tracking.server"]
    assert cmd[3:] == [store, (tmp_path / "artifacts").as_uri(), "127.0.0.1", "5123"]


@pytest.mark.parametrize("port", ["0", "70000", "-1", "http"])
def test_invalid_port_is_refused_at_once(store: str, port: str) -> None:
    t0 = time.monotonic()
    rc, _, err = finish(ui("--tracking-uri", store, "--port", port))
    assert rc == 2 and f"invalid port '{port}': an integer in [1, 65535]" in err
    assert time.monotonic() - t0 < 10


def test_busy_port_is_refused_at_once(store: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        rc, out, err = finish(ui("--tracking-uri", store, "--port", str(port)))
    assert rc == 2 and out == ""
    assert f"--port {port}: 127.0.0.1:{port} is already in use" in err
    assert time.monotonic() - t0 < 10  # no MLflow import, no server start


def test_other_stores_are_refused(tmp_path: Path) -> None:
    rc, _, err = finish(ui("--tracking-uri", "http://127.0.0.1:5000"))
    assert rc == 2 and "is already a server: open it in a browser" in err
    rc, _, err = finish(ui("--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"))
    assert rc == 2 and "no MLflow store at" in err and not (tmp_path / "none.db").exists()


def test_ui_prints_its_url_once_it_answers_and_stops(store: str) -> None:
    port = free_port()
    t0 = time.monotonic()
    proc = ui("--tracking-uri", store, "--port", str(port))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the server answered
        started = time.monotonic() - t0
        base = f"http://127.0.0.1:{port}"
        assert first.startswith(f"MLflow UI: {base}  (store {store}; answered in ")
        with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
            assert r.status == 200
        link = proc.stdout.readline().strip()
        assert link.startswith("uiexp: " + base + "/#/experiments/")
        assert link.endswith("/runs?workflowType=machine_learning&viewStateShareKey=synprune")
        url = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=uiexp"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert json.loads(r.read())["experiment"]["name"] == "uiexp"
        assert started < 60, f"first answer after {started:.1f} s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(OSError):  # the server child stopped with it
            urllib.request.urlopen(f"{base}/health", timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        finish(proc)


def test_unknown_experiment_stops_the_server(store: str) -> None:
    port = free_port()
    rc, _, err = finish(ui("--tracking-uri", store, "--port", str(port), "--experiment", "x"), 90)
    assert rc == 2 and f"--experiment 'x': no such experiment at {store}" in err
    assert "uiexp" in err
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)


def _status(url: str, host_header: str) -> int:
    req = urllib.request.Request(url, headers={"Host": host_header})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_ui_on_every_interface_keeps_the_host_header_check(store: str) -> None:
    """Bound to 0.0.0.0 the UI answers to this machine's names and private/loopback
    addresses, and refuses any other Host header (DNS rebinding); stderr says how to add
    names and a login."""
    port = free_port()
    proc = ui("--tracking-uri", store, "--host", "0.0.0.0", "--port", str(port))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("MLflow UI: http://127.0.0.1:")
        url = (
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=uiexp"
        )
        assert _status(url, f"127.0.0.1:{port}") == 200
        assert _status(url, f"{socket.gethostname()}:{port}") == 200
        assert _status(url, f"evil.example:{port}") == 403
        assert _status(url, "evil.example") == 403
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, _, err = finish(proc)
    assert "MLFLOW_SERVER_ALLOWED_HOSTS" in err and "basic-auth" in err


def test_default_host_list_matches_the_installed_mlflow() -> None:
    """The copied defaults stay MLflow's (checked in a child: importing mlflow.server here
    would freeze its host list for this process)."""
    code = (
        "from mlflow.server.security_utils import get_default_allowed_hosts as g;"
        "from synprune.tracking.server import _MLFLOW_DEFAULT_HOSTS as d;"
        "assert list(d) == g(), (d, g())"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
