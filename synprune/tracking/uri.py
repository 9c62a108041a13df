"""Where runs are stored: tracking URIs and the local store folder. Imports no mlflow, so the
CLI can validate a URI before Ray or MLflow start."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlsplit, urlunsplit

from synprune.errors import ConfigError

DEFAULT_TRACKING_URI = "sqlite:///./synprune-runs/mlflow.db"
DEFAULT_STORE_DIR = Path("synprune-runs")


def resolve_tracking_uri(cli_value: str | None = None) -> str:
    """``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///./synprune-runs/mlflow.db``."""
    return cli_value or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def is_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:")


def sqlite_path(uri: str) -> Path:
    """``sqlite:///rel/x.db`` -> ``rel/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    return Path(uri.split(":///", 1)[1]) if ":///" in uri else Path(urlparse(uri).path)


def store_dir(uri: str) -> Path:
    """Local folder for Ray results, artifacts (SQLite stores), the spool and lock files:
    the SQLite file's folder, else ``./synprune-runs``."""
    return (sqlite_path(uri).parent if is_sqlite(uri) else DEFAULT_STORE_DIR).absolute()


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store go next to it; a server decides its own."""
    return (store_dir(uri) / "artifacts").as_uri() if is_sqlite(uri) else None


@dataclass(frozen=True)
class Store:
    """Where runs are stored, derived once from the tracking URI (:meth:`from_uri`).

    ``uri``: what MLflow connects with (any password included: never print it); ``display``:
    the password-free form (:func:`redact`) for every console line, report and tag;
    ``folder``: the local folder for Ray results, the spool and lock files (:func:`store_dir`);
    ``artifacts``: the artifact location of new experiments (:func:`artifact_root`; ``None``:
    the server decides); ``sqlite``: a ``sqlite:`` store; ``http``: an MLflow server.
    """

    uri: str
    display: str
    folder: Path
    artifacts: str | None
    sqlite: bool
    http: bool

    @classmethod
    def from_uri(cls, uri: str | None = None) -> Store:
        """The store of ``uri`` (``None``: ``MLFLOW_TRACKING_URI``, else the default
        ``sqlite:///./synprune-runs/mlflow.db``; see :func:`resolve_tracking_uri`)."""
        resolved = resolve_tracking_uri(uri)
        return cls(
            uri=resolved,
            display=redact(resolved),
            folder=store_dir(resolved),
            artifacts=artifact_root(resolved),
            sqlite=is_sqlite(resolved),
            http=urlparse(resolved).scheme.lower() in ("http", "https"),
        )

    def spool_dir(self, experiment: str) -> Path:
        """Where the writer spools the records of ``experiment`` it could not write yet."""
        return self.folder / "spool" / experiment

    def mlflow_env(self) -> contextlib.AbstractContextManager[None]:
        """Around MLflow calls on this store: :func:`mlflow_settings` with
        :data:`HTTP_DEFAULTS` for a server (shorter HTTP retries) and no progress bars."""
        return mlflow_settings({**(HTTP_DEFAULTS if self.http else {}), **QUIET})


#: MLflow's HTTP retries, shortened so a dead server stalls a writer for seconds, not minutes
#: (``MLFLOW_HTTP_REQUEST_*``; a value the user has set wins)
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
#: no tqdm bar per artifact upload/download (model logging, predictions)
QUIET = {  # no tqdm bar per artifact, no "🏃 View run ... at: URL" line per run on a server
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}

_SETTINGS_LOCK = threading.RLock()
_SETTINGS_DEPTH = [0]
_SETTINGS_SAVED: dict[str, str | None] = {}


@contextlib.contextmanager
def mlflow_settings(defaults: Mapping[str, str]) -> Iterator[None]:
    """MLflow reads its settings from environment variables at call time and has no other
    API for them (3.17: ``mlflow.environment_variables``), so for the block each variable of
    ``defaults`` the user has not set is set, and on leaving the outermost block every one is
    restored: the process environment is the same before and after. Re-entrant; while a block
    runs in one thread, others wait at their own block's entry (the writer is one thread)."""
    with _SETTINGS_LOCK:
        if _SETTINGS_DEPTH[0] == 0:
            _SETTINGS_SAVED.clear()
        for key, value in defaults.items():
            if key not in os.environ:
                _SETTINGS_SAVED.setdefault(key, None)
                os.environ[key] = value
        _SETTINGS_DEPTH[0] += 1
        try:
            yield
        finally:
            _SETTINGS_DEPTH[0] -= 1
            if _SETTINGS_DEPTH[0] == 0:
                for key, old in _SETTINGS_SAVED.items():
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old
                _SETTINGS_SAVED.clear()


def experiment_id(client: Any, where: str, name: str) -> str:
    """The id of experiment ``name`` through an ``MlflowClient`` (stats' API reader, export),
    else :func:`unknown_experiment` listing what the store has."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        names = [e.name for e in client.search_experiments(max_results=1000)]
        raise unknown_experiment(name, where, names)
    return str(exp.experiment_id)


def unknown_experiment(name: str, where: str, names: list[str]) -> ConfigError:
    """The one error every command (stats, export, ui) gives for an experiment the store lacks:
    ``--experiment 'x': no such experiment at <where> (there are: a, b)``, the names sorted
    (at most 20 shown)."""
    shown = sorted(set(names))
    listed = ", ".join(shown[:20]) + (f", ... ({len(shown)} in all)" if len(shown) > 20 else "")
    return ConfigError(
        f"--experiment {name!r}: no such experiment at {redact(where)} "
        f"(there are: {listed or 'none'})"
    )


# -- the password-free display form ----------------------------------------------------------
REDACTED = "***"
_SECRET_QUERY = re.compile(r"pass(word)?|secret|token|key|pwd", re.IGNORECASE)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):[^/@\s]*@")


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***``: ``postgresql://u:secret@h/db`` ->
    ``postgresql://u:***@h/db``; query values named like a secret (``?password=``,
    ``token=``, ...) too. Anything that is not a URL is returned as it is. The one function
    every display of a store URI goes through (console lines, reports, MLflow params/tags,
    logged config files)."""
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:  # not parseable as a URL: blank any user:password@ by pattern
        return _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY.search(k) for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if _SECRET_QUERY.search(k) else v) for k, v in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, *uris: str | None) -> str:
    """``text`` with every password of ``uris`` (and of any ``scheme://user:pw@`` in it)
    removed -- for config files and messages that quote a URI."""
    for uri in uris:
        if uri and redact(uri) != uri:
            text = text.replace(uri, redact(uri))
    return _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", text)


# -- can this store be read? -------------------------------------------------------------------
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: the Python module a SQLAlchemy dialect imports -> the package that provides it
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}


def missing_driver(uri: str) -> str | None:
    """For a database URI (``postgresql:``, ``mysql:``, ``mssql:``, with or without
    ``+driver``): a one-line reason when its Python driver is not installed, naming the
    package to install; ``None`` when it is (or for any other URI)."""
    scheme = urlparse(uri).scheme.lower()
    if scheme.split("+", 1)[0] not in ("postgresql", "postgres", "mysql", "mssql"):
        return None
    try:
        from sqlalchemy.engine import make_url

        make_url(uri).get_dialect().import_dbapi()
    except ModuleNotFoundError as exc:
        mod = (exc.name or "").split(".")[0]
        if mod == "psycopg":  # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3
            import importlib.util

            fix = "write postgresql+psycopg2://... (psycopg2-binary is installed)"
            if importlib.util.find_spec("psycopg2") is None:
                fix = "pip install psycopg2-binary and write postgresql+psycopg2://..."
            return (
                "its database driver, the Python module 'psycopg', is not installed: "
                f"{fix}, or pip install 'psycopg[binary]'"
            )
        pkg = DRIVER_PACKAGES.get(mod, mod)
        return (
            f"its database driver, the Python module {mod!r}, is not installed: pip install {pkg}"
        )
    except Exception as exc:  # an unknown +driver, a malformed URL
        return f"not a database URL SQLAlchemy can use ({type(exc).__name__}: {exc})"
    return None


def server_problem(uri: str, timeout: float = 5.0) -> str | None:
    """For an ``http(s)`` store: why its server cannot be used (``None`` when any HTTP answer,
    even 401/404, comes back within ``timeout`` seconds)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]  # credentials are not part of a health probe
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.timeout | TimeoutError):
            reason = f"no answer within {timeout:g} s"
        return f"the server does not answer ({reason}); start it or pass another --tracking-uri"


_DB_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}


def database_problem(uri: str, timeout: float = 5.0) -> str | None:
    """For a database URI: a missing driver (:func:`missing_driver`), else a server that does
    not accept a TCP connection within ``timeout`` seconds (SQLAlchemy and MLflow would retry
    it for minutes); ``None`` when both are fine, or for any other URI."""
    problem = missing_driver(uri)
    scheme = urlparse(uri).scheme.lower().split("+", 1)[0]
    if problem or scheme not in _DB_PORTS:
        return problem
    try:
        parsed = urlparse(uri)
        host, port = parsed.hostname, parsed.port or _DB_PORTS[scheme]
    except ValueError as exc:
        return f"not a database URL ({exc})"
    if not host:  # a local socket: nothing to probe over TCP
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        why = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc
        return f"the database server does not answer ({why}); start it or pass another URI"


def sqlite_problem(uri: str) -> str | None:
    """For a ``sqlite:`` store that should exist: why it cannot be read as an MLflow store (no
    such file, a folder, not a SQLite file, a corrupted file, no MLflow tables)."""
    path = sqlite_path(uri)
    if str(path) in ("", ".", ":memory:"):
        return "no database file; allowed: sqlite:///PATH/TO/FILE.db"
    if path.is_dir():
        return f"{path} is a folder, not a SQLite file"
    if not path.is_file():
        return f"no store at {path} (no such SQLite file; `synprune sweep` creates it)"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        return f"the SQLite file {path} cannot be read ({exc.strerror})"
    if head != _SQLITE_MAGIC:
        return f"{path} is not a SQLite database"
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if "experiments" in tables:
                con.execute("SELECT count(*) FROM experiments").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"{path} is damaged or unreadable ({exc})"
    if "experiments" not in tables:
        return f"{path} is a SQLite database but not an MLflow store (no experiments table)"
    return None


def check_readable_store(uri: str, flag: str = "--tracking-uri", timeout: float = 5.0) -> None:
    """Refuse, as one line naming ``flag`` and the password-free URI, a store that cannot be
    read: a missing / damaged / non-MLflow SQLite file, a database URI whose driver is not
    installed, an http(s) server that does not answer. Reading never creates anything."""
    scheme = urlparse(uri).scheme.lower().split("+", 1)[0]
    if is_sqlite(uri):
        path = sqlite_path(uri)
        if str(path) not in ("", ".", ":memory:") and not path.exists():
            raise ConfigError(
                f"no MLflow store at {redact(uri)}: the SQLite file {path} does not exist "
                "(check --tracking-uri / MLFLOW_TRACKING_URI; `synprune sweep` creates it)"
            )
        problem = sqlite_problem(uri)
    elif scheme in ("http", "https"):
        problem = server_problem(uri, timeout)
    else:
        problem = database_problem(uri, timeout)
    if problem:
        raise ConfigError(f"{flag} {redact(uri)}: {problem}")
