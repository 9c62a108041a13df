"""Checks a sweep / tune driver runs before it starts Ray or writes a run: the tracking store
can be written, every dataset loads, and every grid point can be built and windowed.

Each refusal is one ``InputError`` line (``synprune`` exits 2): an unknown URI scheme, a
read-only SQLite file, a folder that cannot be created or written, an http(s) server that
does not answer; a model that cannot be built; a ``seq_len + horizon`` longer than a split of
its dataset. :func:`open_tracker` then opens the store, one driver at a time per store folder
(two drivers creating one new SQLite file at once would race in MLflow's schema migration).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from synprune.config.loader import SweepConfig
from synprune.errors import ConfigError, DataError
from synprune.experiment.spec import TrialSpec
from synprune.runtime.executor import data_key
from synprune.runtime.session import store_lock
from synprune.tracking.uri import (
    database_problem,
    is_sqlite,
    redact,
    server_problem,
    sqlite_path,
    store_dir,
)

if TYPE_CHECKING:
    from synprune.datasets import SeriesData
    from synprune.tracking.writer import Tracker

#: tracking URI schemes MLflow can write runs to (``+driver`` suffixes allowed for databases)
STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "file", "databricks")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(ConfigError):
    """A store that cannot be written: ``<what> <uri>: <why>``."""


def check_store(uri: str, timeout: float = 5.0, what: str = "tracking store") -> None:
    """Refuse a store URI a driver cannot write runs to (before Ray starts)."""
    scheme = urlparse(uri).scheme.lower().split("+", 1)[0]
    if scheme not in STORE_SCHEMES and not (scheme == "" and uri.strip()):
        raise StoreError(
            f"{what} {uri}: unknown scheme {scheme + ':' if scheme else '(none)'}; allowed: "
            + ", ".join(f"{s}:" for s in STORE_SCHEMES) + " or a folder path"
        )  # fmt: skip
    try:
        if scheme in ("http", "https"):  # servers first: nothing is created for a dead one
            _check_server(uri, timeout)
        problem = database_problem(uri, timeout)  # no driver, or no server (issue 20.14)
        if problem:
            raise _Refused(problem)
        if is_sqlite(uri):
            _check_sqlite(uri)
        else:
            _check_folder(store_dir(uri), "local folder (spool, locks, Ray results)")
    except _Refused as exc:
        raise StoreError(f"{what} {redact(uri)}: {exc}") from None


class _Refused(Exception):
    pass


def _check_sqlite(uri: str) -> None:
    path = sqlite_path(uri)
    if str(path) in ("", ".", ":memory:"):
        raise _Refused("no database file; allowed: sqlite:///PATH/TO/FILE.db")
    path = path.expanduser().absolute()
    if path.is_dir():
        raise _Refused(f"{path} is a folder, not a SQLite file")
    _check_folder(path.parent, "folder of the SQLite file")
    if path.exists():
        try:
            with open(path, "r+b") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise _Refused(f"the SQLite file {path} is read-only ({exc.strerror})") from None
        if head and head != _SQLITE_MAGIC:
            raise _Refused(f"{path} is not a SQLite database")


def _check_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Refused(f"cannot create the {what} {folder} ({exc.strerror})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".synprune-probe-"):
            pass
    except OSError as exc:
        raise _Refused(f"cannot write in the {what} {folder} ({exc.strerror})") from None


def _check_server(uri: str, timeout: float) -> None:
    """Any HTTP answer (even 401/404) means a server is there; no answer is refused."""
    problem = server_problem(uri, timeout)  # the one probe stats / export / ui use too
    if problem:
        raise _Refused(problem)


def open_tracker(uri: str, experiment: str) -> Tracker:
    """The driver's ``Tracker`` (creates the store / experiment if new); a store that cannot
    be opened is one ``ConfigError`` line."""
    from synprune.tracking.writer import Tracker

    lock = store_lock(store_dir(uri)) if is_sqlite(uri) else contextlib.nullcontext()
    with lock:
        try:
            return Tracker(uri, experiment)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            raise StoreError(f"tracking store {uri}: cannot open it ({text})") from None


# -- the grid ---------------------------------------------------------------------------------
def load_data(specs: Sequence[TrialSpec]) -> dict[str, SeriesData]:
    """Each distinct dataset once (DataError names file/column/row on bad input)."""
    from synprune.experiment.trial import load_series

    out: dict[str, SeriesData] = {}
    for s in specs:
        if data_key(s) not in out:
            out[data_key(s)] = load_series(s)
    return out


def check_grid(cfg: SweepConfig, specs: Sequence[TrialSpec], data: Mapping[str, Any]) -> None:
    """Every model builds for its dataset's channels, and every (dataset, seq_len, horizon)
    gives each split at least one window -- as ``synprune train`` would refuse it."""
    from synprune.datasets import prepare_windows

    cfg.check_models(list(specs), {k.split("|")[0]: v.values.shape[1] for k, v in data.items()})
    seen: set[tuple[str, int, int, str]] = set()
    for s in specs:
        key = (data_key(s), s.seq_len, s.horizon, str(s.protocol))
        if key in seen:
            continue
        seen.add(key)
        try:
            prepare_windows(data[key[0]], s.seq_len, s.horizon, s.protocol)
        except DataError as exc:
            raise DataError(
                f"{cfg.path}: grid point dataset={s.dataset} seq_len={s.seq_len} "
                f"horizon={s.horizon} cannot run: {exc}"
            ) from None
