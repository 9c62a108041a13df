"""The Ray session of a sweep / tune driver, its locks and its Ray storage.

Loopback only: a Ray this module starts binds every server (GCS, raylet, object manager,
workers, agents) to 127.0.0.1. Ray 2.60 binds its gRPC servers to all interfaces unless the
node's IP is the loopback address, and ``ray.init(_node_ip_address="127.0.0.1")`` is rewritten
to the machine's outward IP by ``services.resolve_ip_for_localhost`` unless
``ray_constants.ENABLE_RAY_CLUSTER`` is false -- the switch ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
sets (read once, when ``ray`` is imported). So the session sets that variable (for every
process Ray starts) and the already-imported constant (for this driver) while it runs, and
passes the loopback node IP. A Ray the caller started, or one at ``address`` / ``RAY_ADDRESS``,
is used as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synprune.config.loader import Resources
from synprune.errors import ConfigError

RAY_STORAGE_ENV = "SYNPRUNE_RAY_STORAGE"
LOOPBACK = "127.0.0.1"
_LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_QUIET_ENV = {
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1e9",
}


def remote_address(address: str | None) -> str | None:
    """The Ray cluster to connect to (``address`` or ``RAY_ADDRESS``), None = start one."""
    return address or os.environ.get("RAY_ADDRESS") or None


def _address_source(address: str | None) -> str:
    return "--address" if address else "RAY_ADDRESS"


def probe_address(address: str | None, timeout: float = 5.0) -> None:
    """Refuse a Ray address (``address`` or ``RAY_ADDRESS``) where nothing accepts a TCP
    connection within ``timeout`` seconds -- ``ray.init`` would wait for it for minutes.
    ``host:port`` (GCS, default port 6379) and ``ray://host:port`` (Ray Client, default
    10001) are probed; ``auto`` and ``local`` are Ray's own lookups and pass."""
    target = remote_address(address)
    if not target or target in ("auto", "local"):
        return
    flag = _address_source(address)
    rest, default_port = target, 6379
    if "://" in target:
        scheme, rest = target.split("://", 1)
        if scheme != "ray":
            raise ConfigError(
                f"{flag} {target}: unknown scheme {scheme}://; allowed: HOST:PORT, "
                "ray://HOST:PORT, auto"
            )
        default_port = 10001
    host, sep, port_text = rest.rstrip("/").rpartition(":")
    if not sep:
        host, port_text = rest.rstrip("/"), str(default_port)
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(
            f"{flag} {target} is invalid; allowed: HOST:PORT (the Ray head's GCS, e.g. "
            "10.0.0.5:6379), ray://HOST:PORT or auto"
        )
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout):
            pass
    except OSError as exc:
        why = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else (exc.strerror or str(exc))
        )
        raise ConfigError(
            f"{flag} {target}: no Ray cluster answers there ({why}); "
            "start it (ray start --head) or leave the address out to run a local Ray"
        ) from None


def check_local_resources(
    res: Resources, address: str | None, num_cpus: int | None, where: Path | str
) -> None:
    """Before a local Ray starts: refuse a trial that needs more CPUs than it will have
    (``num_cpus``, else this machine's), or a GPU when torch sees none -- Ray would wait for
    them forever. On a remote cluster (``address`` / ``RAY_ADDRESS``) nothing is checked here
    (:func:`check_gpus` runs once connected; an autoscaler may add nodes)."""
    if remote_address(address):
        return
    have = num_cpus or os.cpu_count() or 1
    need = 1.0 + res.workers * res.cpu if res.workers > 1 else res.cpu
    if need > have:
        per = f" (1 driver + {res.workers} workers x {res.cpu:g})" if res.workers > 1 else ""
        given = f"--num-cpus {num_cpus}" if num_cpus else "all of this machine's"
        raise ConfigError(
            f"{where}: [resources].cpu={res.cpu:g} needs {need:g} CPUs per trial{per} but the "
            f"local Ray has {have} ({given}); lower [resources].cpu"
            + (" or workers" if res.workers > 1 else "")
        )
    if res.gpu > 0:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"{where}: [resources].gpu={res.gpu:g} but torch sees no CUDA GPU on this "
                "machine (set gpu = 0, or pass --address of a cluster with GPUs)"
            )


@contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Connect to ``address`` / RAY_ADDRESS, or start a private local Ray on 127.0.0.1; shut
    down only what this call started (a Ray the caller initialised is left alone). Tune's own
    console output is quiet for the block."""
    import ray

    with _quiet_tune():
        if ray.is_initialized():
            yield
            return
        kw: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "ERROR",
            "configure_logging": True,
        }
        probe_address(address)
        address = remote_address(address)
        if address:
            ray.init(address=address, **kw)
        with contextlib.nullcontext() if address else _loopback_only():
            if not address:
                ray.init(num_cpus=num_cpus or os.cpu_count(), _node_ip_address=LOOPBACK, **kw)
            try:
                yield
            finally:
                ray.shutdown()


@contextmanager
def _environ(values: Mapping[str, str], override: bool) -> Iterator[None]:
    """Set environment variables for the block (only unset ones unless ``override``)."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if override or old[k] is None:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, before in old.items():
            if before is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = before


@contextmanager
def _quiet_tune() -> Iterator[None]:
    # our own progress lines replace Tune's end-of-run "Trials did not complete" error log, and
    # trials keep no result files in Ray storage (their results reach the driver), which the
    # end-of-run analysis would warn about
    loggers = {"ray.tune.tune": logging.CRITICAL, "ray.tune.analysis.experiment_analysis": 40}
    old = {name: logging.getLogger(name).level for name in loggers}
    for name, level in loggers.items():
        logging.getLogger(name).setLevel(level)
    try:
        with _environ(_QUIET_ENV, override=False):
            yield
    finally:
        for name, level in old.items():
            logging.getLogger(name).setLevel(level)


@contextmanager
def _loopback_only() -> Iterator[None]:
    import ray._private.ray_constants as ray_constants

    old_flag = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        with _environ({_LOCAL_ONLY_ENV: "0"}, override=True):
            yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag


def check_gpus(res: Resources, where: Path | str, remote: bool) -> None:
    """Refuse a GPU request a local Ray cannot meet; on a remote cluster only warn (an
    autoscaler may add GPU nodes)."""
    import ray

    need = res.gpu
    if need and ray.cluster_resources().get("GPU", 0) < need:
        msg = f"{where}: [resources].gpu={need} but this Ray cluster has no such GPU"
        if not remote:
            raise ConfigError(msg + " (set gpu = 0 on a CPU-only machine)")
        print(f"warning: {msg}; trials wait until the autoscaler adds one", flush=True)


# -- locks -----------------------------------------------------------------------------------
@contextmanager
def experiment_lock(store: Path, experiment: str) -> Iterator[None]:
    """One driver per (store, experiment): the kernel drops the lock if the driver dies."""
    store.mkdir(parents=True, exist_ok=True)
    path = store / f".{experiment}.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"another synprune driver is running experiment {experiment!r} on this "
                f"store (lock {path})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def store_lock(store: Path) -> Iterator[None]:
    """Serialises creating / migrating a store among drivers on this machine (two MLflow
    clients initialising one new SQLite file at once race in its schema migration)."""
    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".store.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- Ray storage -----------------------------------------------------------------------------
def ray_storage(store: Path) -> str:
    """Ray Tune's storage: ``$SYNPRUNE_RAY_STORAGE`` (path or URI), else ``<store>/ray``."""
    value = os.environ.get(RAY_STORAGE_ENV, "").strip()
    if not value:
        return str(store / "ray")
    return value if "://" in value else str(Path(value).expanduser().absolute())


def remove_experiment(path: str) -> None:
    """Delete an old experiment folder (local path or pyarrow URI); absent is fine."""
    if "://" not in path:
        shutil.rmtree(path, ignore_errors=True)
        return
    import pyarrow.fs

    fs, fs_path = pyarrow.fs.FileSystem.from_uri(path)
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.delete_dir(fs_path)
