"""Shared fixtures. Real datasets come from SYNPRUNE_DATA_DIR (CI: ../shared/datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "datasets"

if "SYNPRUNE_DATA_DIR" not in os.environ and _SHARED.is_dir():
    os.environ["SYNPRUNE_DATA_DIR"] = str(_SHARED)

# Tests must never reach the network or a user's stores by accident.
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_REPO / '.pytest-mlflow.db'}")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Folder with the real dataset files; tests needing them skip loudly if absent."""
    d = Path(os.environ.get("SYNPRUNE_DATA_DIR", ""))
    if not d.is_dir() or not (d / "bitcoin.csv").exists():
        pytest.skip(f"real datasets not found in SYNPRUNE_DATA_DIR={d!s}")
    return d


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return _REPO
