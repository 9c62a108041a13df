"""Checks the verbs share: an output path that can be written, a store that can be read, and
the one-line form of a store's errors. Each refusal is a ``ConfigError`` (exit 2), raised
before anything is read or written."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from synprune.errors import ConfigError

if TYPE_CHECKING:
    from synprune.config.loader import SweepConfig


def check_writable(path: Path, flag: str, folder: bool = False) -> None:
    """Refuse an output ``path`` (a file, or with ``folder`` a folder) that cannot be created:
    its nearest existing ancestor must be a folder this process may write in. Creates
    nothing."""
    target = path if folder else path.parent
    probe = target.absolute()
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{flag} {path}: cannot be created ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: cannot be created (the folder {probe} is read-only)")


def write_error(flag: str, path: Path, exc: OSError) -> ConfigError:
    """An ``OSError`` met while writing an output, as one line."""
    why = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return ConfigError(f"{flag} {path}: cannot write it: {why}{where}")


@contextmanager
def store_errors(uri: str, flag: str = "--tracking-uri") -> Iterator[None]:
    """Database errors of a store that passed :func:`check_readable_store` but fails while it
    is read (a file damaged past its first pages, a server that drops the connection) as one
    ``ConfigError`` line naming the password-free URI."""
    import sqlite3

    from synprune.tracking.uri import redact, redact_text

    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{flag} {redact(uri)}: the store cannot be read ({exc})") from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("sqlalchemy", "mlflow"):
            raise
        if isinstance(exc, ConfigError):
            raise
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        raise ConfigError(
            f"{flag} {redact(uri)}: the store cannot be read ({redact_text(text, uri)})"
        ) from None


def check_driver(cfg: SweepConfig, address: str | None, num_cpus: int | None) -> None:
    """What a sweep / tune driver checks after loading its config and before anything starts:
    prints the config's warnings, then refuses an unreachable Ray address, a trial larger than
    the local Ray, and ``device = "cuda"`` (in ``[train]`` or swept) without a CUDA GPU."""
    from synprune.runtime.session import check_local_resources, probe_address, remote_address

    for note in cfg.notes:
        print(note, file=sys.stderr)
    probe_address(address)
    check_local_resources(cfg.resources, address, num_cpus, cfg.path)
    devices = {cfg.train.device, *cfg.train_sweeps.get("device", ())}
    if "cuda" in devices and not remote_address(address):
        key = (
            "[grid].train.device"
            if "cuda" in cfg.train_sweeps.get("device", ())
            else ("[train].device")
        )
        check_cuda(f"{cfg.path}: {key}")


def check_cuda(where: str) -> None:
    """Refuse ``device = "cuda"`` when torch sees no CUDA GPU on this machine."""
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"{where}='cuda' is invalid on this machine: torch sees no CUDA GPU (torch "
            f"{torch.__version__}); allowed: cpu or auto (cuda when there is one)"
        )
