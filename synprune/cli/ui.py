"""``synprune ui [--tracking-uri URI] [--host 127.0.0.1] [--port 5000]``: the MLflow UI.

Runs ``mlflow server`` on the run store as a child process, bound to loopback unless ``--host``
says otherwise (exposing it: put it behind a reverse proxy with authentication, or use MLflow's
basic-auth app). For a SQLite store the backend is the SQLite URI and artifacts are served from
the ``artifacts/`` folder beside it. Stops the server on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Any


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
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")


def server_command(uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for ``uri`` (a store, or a server to proxy-open)."""
    from synprune.errors import ConfigError
    from synprune.tracking.uri import is_sqlite, sqlite_path, store_dir

    if uri.startswith(("http://", "https://")):
        raise ConfigError(f"--tracking-uri {uri} is already a server: open it in a browser")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if is_sqlite(uri):
        db = sqlite_path(uri)
        if not db.exists():
            raise ConfigError(
                f"--tracking-uri {uri}: no store at {db} (run `synprune sweep` first)"
            )
        root = store_dir(uri) / "artifacts"
        root.mkdir(parents=True, exist_ok=True)
        cmd += ["--default-artifact-root", root.as_uri()]
    if host not in ("127.0.0.1", "localhost", "::1"):
        cmd += ["--allowed-hosts", "*"]
    return cmd


def run(args: argparse.Namespace) -> int:
    from synprune.tracking.uri import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    cmd = server_command(uri, args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: the UI listens on {args.host}: anyone who can reach this port can "
            "read and change runs (MLflow has no login by default)",
            file=sys.stderr,
        )
    print(
        f"MLflow UI on http://{args.host}:{args.port}  (store {uri}); Ctrl-C stops it", flush=True
    )
    proc = subprocess.Popen(cmd, start_new_session=True)

    def stop(*_: Any) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
