"""Where runs are stored: tracking URIs and the local store folder. Imports no mlflow, so the
CLI can validate a URI before Ray or MLflow start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
        f"--experiment {name!r}: no such experiment at {where} (there are: {listed or 'none'})"
    )
