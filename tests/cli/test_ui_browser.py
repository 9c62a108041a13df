"""The MLflow UI as a person sees it (marker ``ui``; needs the Debian package ``chromium``):
``synprune ui`` on a store written by the real Tracker from real tiny trials, rendered in
headless Chromium. With ``SYNPRUNE_UI_SCREENSHOTS=DIR`` it also saves the screenshots that
docs/img/ holds (runs table, chart view, run page, run metrics, logged model)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import capture, chromium, dump_dom, pages  # tests/cli/browser.py
from mlflow.tracking import MlflowClient
from test_ui import free_port

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial
from synprune.tracking.writer import Tracker, trial_record

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(chromium() is None, reason="needs chromium (apt-get install chromium)"),
]

ARMS = [("none", {}, ()), ("synaptic", {"final_sparsity": 0.5}, ("regularizer.final_sparsity",))]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A sweep run and its trials: two arms x two models (3 epochs) and one failed trial."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'mlflow.db'}"
    tracker = Tracker(uri, "ui-smoke")
    sweep = tracker.start_parent("sweep-ui", None, {}, {"trials": 5})
    names = []
    for model in ("lstm", "gru"):
        for reg, params, swept in ARMS:
            spec = TrialSpec(
                dataset="synthetic",
                model=ComponentSpec(model, {"hidden_size": 8}),
                regularizer=ComponentSpec(reg, params),
                seq_len=8,
                train=TrainSpec(epochs=3),
                swept=swept,
            )
            rec = trial_record(run_trial(spec), sweep)
            assert tracker.write(rec) == "written"
            names.append(rec.run_name)
    bad = TrialSpec(dataset="synthetic", model="lstm", regularizer="dropout", seq_len=8, seed=1)
    failed = TrialResult.failed(bad, "RuntimeError: out of memory")
    tracker.write(trial_record(failed, sweep))
    tracker.end_parent(sweep, "finished", {"finished": 4, "failed": 1})
    return uri, names


@pytest.fixture(scope="module")
def server(store: tuple[str, list[str]]) -> Iterator[tuple[str, str]]:
    """``synprune ui`` on the store: (base URL, the experiment's runs-page link)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "synprune", "ui", "--tracking-uri", store[0], "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        head = proc.stdout.readline()
        assert head.startswith(f"MLflow UI: http://127.0.0.1:{port}"), head
        link = proc.stdout.readline().strip().removeprefix("ui-smoke: ")
        yield f"http://127.0.0.1:{port}", link
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_runs_page_lists_every_trial(
    store: tuple[str, list[str]], server: tuple[str, str], tmp_path: Path
) -> None:
    _, link = server
    dom = dump_dom(link, tmp_path / "profile")
    for name in store[1]:
        assert name in dom, f"{name} not on the runs page"
    assert "lstm-synthetic-dropout-L8-H1-s1" in dom  # the failed trial too
    assert "sweep-ui" in dom
    # synprune's view: the key metrics are columns at first sight, the model-training view
    for column in ("ratio_to_naive", "test_mae", "naive_mae", "final_sparsity", "arm"):
        assert column in dom
    assert "Model training" in dom


def test_screenshots(store: tuple[str, list[str]], server: tuple[str, str], tmp_path: Path) -> None:
    out = os.environ.get("SYNPRUNE_UI_SCREENSHOTS")
    if not out:
        pytest.skip("set SYNPRUNE_UI_SCREENSHOTS=DIR to save the screenshots")
    base, _ = server
    client = MlflowClient(store[0])
    exp = client.get_experiment_by_name("ui-smoke").experiment_id
    (run,) = client.search_runs([exp], "tags.arm LIKE 'synaptic[%' and tags.model = 'gru'")
    (model,) = client.search_logged_models([exp], f"source_run_id = '{run.info.run_id}'")
    shots = pages(exp, run.info.run_id, model.model_id, store[1][0])
    saved = asyncio.run(capture(base, shots, Path(out), tmp_path / "profiles"))
    assert all(p.stat().st_size > 20_000 for p in saved)
