"""A lean local MLflow UI server: ``python -m synprune.tracking.server URI ROOT HOST PORT``.

``mlflow server`` (3.17) starts, for a local UI, far more than it needs: its click CLI process
imports all of MLflow, then spawns a *second* Python process for uvicorn (which imports it all
again), and, by default, a job runner with seven ``huey`` consumer processes for GenAI jobs
(scorers, trace rollups, issue detection). On 2 busy cores that took 11-16 s to first answer.

This module is what ``mlflow server --workers 1`` runs, in ONE process and without the job
runner: it sets the variables the server's CLI hands its workers
(:mod:`mlflow.server.constants`; pinned by constraints.txt), creates/upgrades the store tables
(``initialize_backend_stores``, as the CLI does) and serves ``mlflow.server.fastapi_app:app``
with a single uvicorn worker. The security middleware (Host-header check, localhost only) is
the server's default. A bind failure (port busy, no permission) exits with status 3 and a
one-line message on stderr, so ``synprune ui`` can report it.
"""

from __future__ import annotations

import os
import sys

#: exit status of a bind failure (``synprune ui`` maps it to a clear message)
BIND_FAILED = 3


def server_env(uri: str, artifact_root: str | None) -> dict[str, str]:
    """The environment ``mlflow server`` gives its uvicorn worker, without job execution."""
    env = {
        "_MLFLOW_SERVER_FILE_STORE": uri,
        "_MLFLOW_SERVER_REGISTRY_STORE": uri,
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "_MLFLOW_SGI_NAME": "uvicorn",
        "_MLFLOW_IN_JOB_EXECUTOR": "false",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_ENABLE_WORKSPACES": "false",
    }
    if artifact_root:
        env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = artifact_root
    # proxied (mlflow-artifacts:/) artifacts: the store's folder, else what the user configured
    # for `mlflow server --artifacts-destination`; unset = only direct artifact URIs are served
    if dest := artifact_root or os.environ.get("MLFLOW_ARTIFACTS_DESTINATION"):
        env["_MLFLOW_SERVER_ARTIFACT_DESTINATION"] = dest
    return env


#: mlflow.server.security_utils.get_default_allowed_hosts() of MLflow 3.17 (loopback and the
#: RFC 1918 / RFC 4193 private ranges), copied: importing mlflow.server builds its Flask app,
#: whose host check reads MLFLOW_SERVER_ALLOWED_HOSTS once, so the list must be set before
_MLFLOW_DEFAULT_HOSTS = (
    *("localhost", "127.0.0.1", "[::1]", "0.0.0.0"),
    *("localhost:*", "127.0.0.1:*", "[[]::1]:*", "0.0.0.0:*"),
    *("192.168.*", "10.*", *(f"172.{i}.*" for i in range(16, 32)), "fc00:*", "fd00:*"),
)


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host-header patterns a UI bound to ``host`` answers to: MLflow's defaults (loopback,
    private ranges), this machine's host name and FQDN, ``host`` itself when it is a specific
    address, and ``extra`` -- each bare and with any port (``name:*``). Never ``*``."""
    import socket

    names = {socket.gethostname(), socket.getfqdn(), *extra}
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host else host)
    names.discard("")
    out = list(_MLFLOW_DEFAULT_HOSTS)
    for name in sorted(names):
        pattern = name.replace("[", "[[]", 1) if name.startswith("[") else name
        out += [name, f"{pattern}:*"]
    return out


def serve(uri: str, artifact_root: str | None, host: str, port: int) -> int:
    """Serve the UI until SIGINT/SIGTERM; returns the exit status."""
    import socket

    # refuse a busy port before the (slow) MLflow import: an answer within a second
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            s.bind((host, port))
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return BIND_FAILED
    os.environ.update(server_env(uri, artifact_root))
    if host not in ("127.0.0.1", "localhost", "::1"):
        # MLflow's default allows only loopback and private addresses in the Host header; a UI
        # bound to every interface must also answer to this machine's own names, and nothing
        # else (a wildcard would reopen DNS rebinding). A user's own list wins.
        os.environ.setdefault("MLFLOW_SERVER_ALLOWED_HOSTS", ",".join(allowed_hosts(host)))

    import warnings

    # MLflow's own import of starlette.middleware.wsgi warns on every start; not ours to fix
    warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
    import uvicorn
    from mlflow.server.handlers import initialize_backend_stores

    initialize_backend_stores(uri, uri, artifact_root)
    config = uvicorn.Config(
        "mlflow.server.fastapi_app:app",
        host=host,
        port=port,
        workers=1,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 1 when it cannot bind (lost a race for the port)
        return BIND_FAILED if exc.code == 1 and not server.started else int(exc.code or 0)
    return 0 if server.started else BIND_FAILED


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m synprune.tracking.server URI ROOT HOST PORT", file=sys.stderr)
        return 2
    uri, root, host, port = args
    return serve(uri, root or None, host, int(port))


if __name__ == "__main__":
    raise SystemExit(main())
