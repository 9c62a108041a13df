"""A component that always raises is retried by Ray, ends failed in MLflow, the rest finish."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

PLUGIN = textwrap.dedent('''
    """Test-only regularizer that raises in after_optimizer_step (counts its attempts)."""
    import os

    from synprune.regularizers import Regularizer, register_regularizer


    class Explode(Regularizer):
        name = "explode"

        def attach(self, model, total_steps, optimizer=None):
            with open(os.environ["EXPLODE_COUNTER"], "a") as fh:
                fh.write("attempt\\n")

        def after_optimizer_step(self, step):
            raise RuntimeError("explode regularizer went off at step %d" % step)


    register_regularizer("explode")(Explode)
''')

CONFIG = """
experiment = "retry"
plugins = ["synprune_test_explode"]
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "explode", "synaptic"]
seq_len = [8]
seed = [0]
[train]
epochs = 2
batch_size = 64
[models.lstm]
hidden_size = 4
[sweep]
max_failures = 2
"""


@pytest.fixture
def explode_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The plugin module on the driver's and (via PYTHONPATH) the Ray workers' path."""
    import ray

    from synprune.regularizers import _REGISTRY

    plugdir = tmp_path / "plug"
    plugdir.mkdir()
    (plugdir / "synprune_test_explode.py").write_text(PLUGIN)
    counter = tmp_path / "attempts.txt"
    monkeypatch.syspath_prepend(str(plugdir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugdir), *sys.path]))
    monkeypatch.setenv("EXPLODE_COUNTER", str(counter))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # workers inherit env
    try:
        yield counter
    finally:
        ray.shutdown()
        _REGISTRY.unregister("explode")
        sys.modules.pop("synprune_test_explode", None)


def test_failing_trial_is_retried_and_recorded(tmp_path: Path, explode_plugin: Path) -> None:
    from synprune.config.loader import load_config
    from synprune.runtime.sweep import run_sweep
    from synprune.tracking.reader import trial_rows

    path = tmp_path / "retry.toml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    s = run_sweep(cfg, uri)
    rows = trial_rows(uri, "retry", status=None)
    info = [(r["regularizer"], r["status"], (r["error"] or "")[:200]) for r in rows]
    assert (s.finished, s.failed) == (2, 1), info
    # 1 attempt + max_failures=2 retries
    assert explode_plugin.read_text().count("attempt") == 3, info
    failed = trial_rows(uri, "retry", status="failed")
    assert len(failed) == 1 and failed[0]["regularizer"] == "explode"
    assert "explode regularizer went off at step 1" in failed[0]["error"]
    assert failed[0]["run_status"] == "FAILED"
    # the whole traceback of the last attempt (retried inside its batch), as plain text
    from mlflow.tracking import MlflowClient

    local = MlflowClient(uri).download_artifacts(failed[0]["run_id"], "error.txt", str(tmp_path))
    error_txt = Path(local).read_text()
    for text in (failed[0]["error"], error_txt):
        assert text.startswith("Traceback (most recent call last):") and "\x1b" not in text
        assert "in after_optimizer_step" in text  # the plugin's frame
    finished = trial_rows(uri, "retry")
    assert sorted(r["regularizer"] for r in finished) == ["none", "synaptic"]
