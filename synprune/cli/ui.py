"""``synprune ui [--tracking-uri URI] [--host 127.0.0.1] [--port 5000] [--experiment NAME]``:
the MLflow UI on the run store.

Runs a lean MLflow server (:mod:`synprune.tracking.server`: one process, one uvicorn worker,
no GenAI job runner) as a child process, bound to loopback unless ``--host`` says otherwise
(exposing it: put it behind a reverse proxy with authentication, or use MLflow's basic-auth
app). A busy or unusable port is refused before anything starts, with a one-line error and
exit status 2. The URL is printed once the server answers, with one link per experiment that
opens its runs in the model-training view with synprune's columns (see
:mod:`synprune.tracking.ui_view`). Stops the server on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from synprune.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT = 120.0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: an integer in [1, 65535]")
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--port", type=_port, default=5000, help="port (default 5000)")
    p.add_argument(
        "--experiment", default=None, help="print the link to this experiment only (by name)"
    )


def server_command(uri: str, host: str, port: int) -> list[str]:
    """The child process serving ``uri`` (a SQLite/SQL store, not a server)."""
    from synprune.tracking.uri import Store, check_readable_store

    store = Store.from_uri(uri)
    if store.http:
        raise ConfigError(
            f"--tracking-uri {store.display} is already a server: open it in a browser"
        )
    check_readable_store(uri)  # a missing / damaged SQLite file, a database without driver
    root = ""
    if store.sqlite:
        path = store.folder / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        root = path.as_uri()
    return [sys.executable, "-m", "synprune.tracking.server", uri, root, host, str(port)]


def check_port(host: str, port: int) -> None:
    """Refuse a port this process cannot listen on, at once, with the reason."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "is already in use (another `synprune ui`? pick another with --port)"
            elif exc.errno == errno.EACCES:
                why = "needs privileges (ports below 1024 are reserved; use e.g. --port 5000)"
            elif exc.errno == errno.EADDRNOTAVAIL:
                why = "is not an address of this machine (see --host)"
            else:
                why = f"cannot be used ({exc.strerror or exc})"
            raise ConfigError(f"--port {port}: {host}:{port} {why}") from None


def _browse_host(host: str) -> str:
    """Where a browser on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _api(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def wait_until_answering(proc: subprocess.Popen[bytes], base: str, timeout: float) -> float:
    """Seconds until ``base``/health answered; raises if the server died or never answered."""
    from synprune.tracking.server import BIND_FAILED

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        rc = proc.poll()
        if rc is not None:
            if rc == BIND_FAILED:
                raise ConfigError(f"the UI could not listen on {base} (see the line above)")
            raise RuntimeError(f"the MLflow server exited with status {rc} before answering")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise RuntimeError(f"the MLflow server did not answer on {base} within {timeout:.0f} s")


def experiment_links(base: str, only: str | None, store: str) -> list[tuple[str, str]]:
    """(name, runs-page link) per experiment (``only``: that one, or an error naming the
    experiments ``store`` has)."""
    from synprune.tracking.ui_view import runs_page
    from synprune.tracking.uri import unknown_experiment

    found = _api(base, "/api/2.0/mlflow/experiments/search", {"max_results": 1000})
    exps = [e for e in found.get("experiments", []) if e.get("lifecycle_stage") == "active"]
    if only is not None:
        names = [e["name"] for e in exps]
        exps = [e for e in exps if e["name"] == only]
        if not exps:
            raise unknown_experiment(only, store, names)
    exps = [e for e in exps if e["name"] != "Default" or only == "Default"]
    return [(e["name"], runs_page(base, e["experiment_id"])) for e in exps]


def run(args: argparse.Namespace) -> int:
    from synprune.tracking.uri import Store

    store = Store.from_uri(args.tracking_uri)
    uri = store.uri
    cmd = server_command(uri, args.host, args.port)
    check_port(args.host, args.port)
    if args.host not in LOOPBACK:
        print(
            f"warning: the UI listens on {args.host}: anyone who can reach this port can "
            "read and change runs (MLflow has no login by default). Requests are accepted "
            "only with a Host header naming this machine or a private/loopback address "
            "(add names with MLFLOW_SERVER_ALLOWED_HOSTS=a.example,b.example). For a login, "
            "put a TLS reverse proxy with auth in front, or run `mlflow server --app-name "
            "basic-auth` (see infra/compose.yaml)",
            file=sys.stderr,
        )
    base = f"http://{_browse_host(args.host)}:{args.port}"
    proc = subprocess.Popen(cmd, start_new_session=True)

    def stop(*_: Any) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)

    def on_sigterm(*_: Any) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        seconds = wait_until_answering(proc, base, START_TIMEOUT)
        print(
            f"MLflow UI: {base}  (store {store.display}; answered in {seconds:.1f} s; "
            "Ctrl-C stops it)"
        )
        links = experiment_links(base, args.experiment, uri)
        for name, link in links[:20]:
            print(f"  {name}: {link}")
        if len(links) > 20:
            print(f"  ... and {len(links) - 20} more experiments at {base}")
        sys.stdout.flush()
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"synprune ui: error: {exc}", file=sys.stderr)
        return 1
    finally:
        stop()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
