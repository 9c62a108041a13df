"""One ``Store`` value per tracking URI, and a ``Tracker`` that leaves ``os.environ`` alone
(real SQLite store, real writes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import finished_result, small_spec

from synprune.experiment.results import TrialResult
from synprune.tracking.reader import trial_rows
from synprune.tracking.uri import HTTP_DEFAULTS, QUIET, Store, mlflow_settings
from synprune.tracking.writer import Tracker, trial_record


def result() -> TrialResult:
    """A finished 2-epoch trial (curves.png is logged as an artifact)."""
    hist = [{"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.5 / e} for e in (1, 2)]
    return finished_result(small_spec(epochs=2), history=hist)


def test_store_from_uri_derives_every_piece_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "a" / "m.db"
    s = Store.from_uri(f"sqlite:///{db}")
    assert (s.uri, s.display, s.folder) == (f"sqlite:///{db}", f"sqlite:///{db}", tmp_path / "a")
    assert s.artifacts == (tmp_path / "a" / "artifacts").as_uri()
    assert s.sqlite and not s.http
    assert s.spool_dir("exp") == tmp_path / "a" / "spool" / "exp"

    h = Store.from_uri("https://u:secret@h.example:5000")
    assert h.display == "https://u:***@h.example:5000" and h.uri.endswith("secret@h.example:5000")
    assert h.http and not h.sqlite and h.artifacts is None
    assert h.folder == Path("synprune-runs").absolute()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u:pw@db/m")
    assert Store.from_uri(None).display == "postgresql://u:***@db/m"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert Store.from_uri().uri == "sqlite:///./synprune-runs/mlflow.db"
    with pytest.raises(AttributeError):  # frozen
        s.uri = "x"  # type: ignore[misc]


def test_mlflow_settings_apply_inside_and_are_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*HTTP_DEFAULTS, *QUIET):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")  # the user's value wins
    before = _env()
    with Store.from_uri("http://127.0.0.1:1").mlflow_env():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
        assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
        with mlflow_settings(QUIET):  # nested: still set, restored only by the outer block
            pass
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    assert _env() == before
    with Store.from_uri("sqlite:///x.db").mlflow_env():  # no HTTP settings for a file store
        assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert _env() == before
    with pytest.raises(RuntimeError), mlflow_settings(QUIET):  # restored on errors too
        raise RuntimeError
    assert _env() == before


def _env() -> dict[str, str]:
    """``os.environ`` without MLflow's telemetry session id, which MLflow's background
    telemetry client sets and unsets by itself (mlflow/telemetry/client.py), whoever calls."""
    return {k: v for k, v in os.environ.items() if k != "_MLFLOW_TELEMETRY_SESSION_ID"}


def test_tracker_construction_and_writes_leave_os_environ_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in (*HTTP_DEFAULTS, *QUIET):
        monkeypatch.delenv(key, raising=False)
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    before = _env()
    tr = Tracker(Store.from_uri(uri), "exp")
    assert _env() == before
    assert tr.write(trial_record(result())) == "written"
    assert tr.flush() == 0 and tr.finished_spec_ids()
    assert _env() == before
    assert [r["seed"] for r in trial_rows(uri, "exp")] == ["0"]
    assert tr.store.folder == tmp_path / "runs" and tr.uri == uri
