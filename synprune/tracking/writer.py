"""The MLflow writer of ``synprune sweep`` and ``synprune tune``: :class:`Tracker`.

Layout (docs/ARCHITECTURE.md "MLflow layout", names in :mod:`synprune.tracking.schema`): one
experiment per sweep, tagged ``mlflow.experimentKind=custom_model_development`` (MLflow 3's
model-training kind) and carrying a ready-made UI view (:mod:`synprune.tracking.ui_view`); a
run per sweep invocation (``run_kind=sweep``) holding the config file and the resolved grid;
one *flat* run per trial (``run_kind=trial``, tagged ``sweep_run_id``/``sweep`` -- not nested,
so the runs table lists every trial at first sight) with the spec as params, per-epoch
histories, final metrics, ``curves.png``, ``notes.txt``, ``predictions.csv.gz`` (the
per-window test forecasts), its trained model as an MLflow logged
model (:mod:`synprune.tracking.logged_model`), and, for failed trials, ``error.txt`` + an
``error`` tag.

Write path -- why SQLite never says "database is locked"
    Trials never touch the store. A trial returns its whole result (history and model weights
    included) to the Ray Tune driver in its last ``tune.report``; a Tune callback in the driver
    hands it to the one ``Tracker`` of the process, which writes runs **serially**. There is
    exactly one writer per sweep (a lock file in the store folder refuses a second driver on the
    same experiment), so SQLite's single-writer rule is never contended.

Surviving a tracking-server restart (http URIs)
    Every run is first built as a plain JSON :class:`~synprune.tracking.records.RunRecord`. If
    writing it fails (connection refused, 5xx, timeout, a locked file), the record is
    **spooled** (:mod:`synprune.tracking.spool`) and the sweep goes on; the spool is flushed
    before every later write, with growing back-off at the end of the sweep, and at the start of
    the next ``synprune sweep``. MLflow's own HTTP retries are shortened
    (``MLFLOW_HTTP_REQUEST_*``, only where the user has not set them) so a dead server stalls
    the driver for seconds, not minutes: set around each of the Tracker's MLflow calls
    (``Store.mlflow_env``) and restored after, so ``os.environ`` is never left changed.
    Writes are idempotent: each record carries a ``record_id`` tag; before a spooled record
    is (re)written, runs left half-written by an earlier attempt are retired
    (``status=failed``, MLflow status KILLED) and a record whose run already finished is
    dropped.

Finished means: tag ``status=finished``, set as the very last write of a run (after metrics,
artifacts, model and terminal MLflow status). Anything tagged ``status=running`` when a new
sweep starts was interrupted (driver SIGKILL) and is retired by ``retire_stale``; at most one
finished run per ``spec_id`` is ever written (``write`` drops duplicates).
"""

from __future__ import annotations

import functools
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from synprune.errors import ConfigError
from synprune.tracking.curves import curves_png
from synprune.tracking.records import (
    MAX_PARAM,
    MAX_TAG,
    RunRecord,
    predictions_csv_gz,
    trial_record,
)
from synprune.tracking.schema import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    GRID_TAG,
    PREDICTIONS_ARTIFACT,
    SWEEP_NAME_TAG,
    SWEEP_RUN_TAG,
)
from synprune.tracking.spool import Spool
from synprune.tracking.ui_view import VIEW_TAG, view_tag_value
from synprune.tracking.uri import Store, redact_text, sqlite_path

__all__ = ["RunRecord", "Tracker", "curves_png", "trial_record"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _in_store_env(method: _F) -> _F:
    """Run a Tracker method inside its store's MLflow settings (``Store.mlflow_env``)."""

    @functools.wraps(method)
    def wrapper(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        with self.store.mlflow_env():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Tracker:
    """The one MLflow writer of a sweep/tune driver (see the module docstring). ``uri``: a
    tracking URI or a :class:`~synprune.tracking.uri.Store`. Leaves ``os.environ`` as it was."""

    def __init__(self, uri: str | Store, experiment: str, *, spool: bool = True) -> None:
        self.store = uri if isinstance(uri, Store) else Store.from_uri(uri)
        self.uri = self.store.uri
        self.experiment = experiment
        if self.store.sqlite:
            sqlite_path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        with self.store.mlflow_env():
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment_id()
        self.spool = Spool(self.store.spool_dir(experiment)) if spool else None
        self.spool_dir = self.spool.dir if self.spool is not None else None  # empty: falsy
        self._finished: set[str] = set()
        self.finished_seconds: dict[str, float] = {}  # spec_id -> train seconds, stored runs
        self._sweeps: dict[str, str] = {}  # sweep run id -> its name, for the trials' tag
        self._cooldown_until = 0.0
        self._backoff = 2.0
        self.last_error = ""

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is None:
            try:
                return self.client.create_experiment(
                    self.experiment,
                    artifact_location=self.store.artifacts,
                    tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, VIEW_TAG: view_tag_value()},
                )
            except mlflow.exceptions.MlflowException:  # created meanwhile by someone else
                exp = self.client.get_experiment_by_name(self.experiment)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            self.client.restore_experiment(exp.experiment_id)
        # made by an older synprune, or the view changed: (re)write the UI tags
        for key, value in ((EXPERIMENT_KIND_TAG, EXPERIMENT_KIND), (VIEW_TAG, view_tag_value())):
            if exp.tags.get(key) != value:
                self.client.set_experiment_tag(exp.experiment_id, key, value)
        return str(exp.experiment_id)

    @_in_store_env
    def claim_grid(self, fingerprint: str, config: str, *, allow_change: bool = False) -> None:
        """Tie the experiment to one grid (``SweepConfig.fingerprint``): a second, different
        grid under the same name is refused unless ``allow_change``.
        An experiment without the tag (new, or written by an older synprune) takes it."""
        exp = self.client.get_experiment(self.experiment_id)
        held = exp.tags.get(GRID_TAG)
        if held and held != fingerprint and not allow_change:
            raise ConfigError(
                f"{config}: experiment {self.experiment!r} at {self.store.display} holds the runs "
                f"of another grid (fingerprint {held}, this config {fingerprint}); name another "
                "experiment, or pass --allow-grid-change to add this grid's trials to it"
            )
        if held != fingerprint:
            self.client.set_experiment_tag(self.experiment_id, GRID_TAG, fingerprint)

    # -- reading -----------------------------------------------------------------------------
    @_in_store_env
    def search(self, filter_string: str = "") -> list[Any]:
        """All active runs of the experiment matching ``filter_string`` (paged)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string, max_results=5000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    @_in_store_env
    def finished_spec_ids(self) -> set[str]:
        """spec_ids with a finished trial run in the store or waiting in the spool."""
        runs = self.search("tags.run_kind = 'trial' and tags.status = 'finished'")
        for run in runs:
            spec_id = run.data.tags.get("spec_id")
            if spec_id is None:
                continue
            self._finished.add(spec_id)
            seconds = run.data.metrics.get("train_seconds")
            if seconds is not None:
                self.finished_seconds[spec_id] = float(seconds)
        spooled = {
            r.spec_id for r in self.spooled() if r.kind == "trial" and r.status == "finished"
        }
        return self._finished | spooled

    @_in_store_env
    def retire_stale(self) -> int:
        """Mark runs an interrupted driver left ``status=running`` as failed/KILLED."""
        n = 0
        for run in self.search("tags.status = 'running'"):
            self._retire(
                run.info.run_id,
                "interrupted: the driver stopped before this run was "
                "finished; its trial is run again on resume",
            )
            n += 1
        return n

    def _retire(self, run_id: str, why: str) -> None:
        self.client.log_batch(run_id, tags=[RunTag("status", "failed"), RunTag("error", why)])
        self.client.set_terminated(run_id, "KILLED")

    # -- the sweep run -----------------------------------------------------------------------
    @_in_store_env
    def start_parent(
        self,
        name: str,
        config_file: Path | None,
        texts: Mapping[str, str],
        params: Mapping[str, Any],
    ) -> str:
        """The sweep's own run (written directly: the sweep cannot start without a store).
        Trial runs name it in their ``sweep_run_id`` / ``sweep`` tags."""
        from synprune.experiment.results import git_sha

        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"run_kind": "sweep", "status": "running", "git_sha": git_sha()},
        )
        rid = run.info.run_id
        self._sweeps[rid] = name
        self.client.log_batch(rid, params=[Param(k, str(v)[:MAX_PARAM]) for k, v in params.items()])
        if config_file is not None:  # logged without any password it quotes (redact_text)
            text = redact_text(Path(config_file).read_text(encoding="utf-8"), self.uri)
            self.client.log_text(rid, text, f"config/{Path(config_file).name}")
        for fname, text in texts.items():
            self.client.log_text(rid, text, f"config/{fname}")
        return rid

    @_in_store_env
    def end_parent(self, run_id: str, status: str, metrics: Mapping[str, float]) -> None:
        """Close the sweep run; retried with back-off, left for ``retire_stale`` if it fails."""

        def go() -> None:
            self.client.log_batch(
                run_id, metrics=[Metric(k, float(v), _now_ms(), 0) for k, v in metrics.items()]
            )
            self.client.set_terminated(run_id, "FINISHED" if status == "finished" else "KILLED")
            self.client.set_tag(run_id, "status", status)

        for delay in (0, 1, 2, 4, 8):
            time.sleep(delay)
            try:
                return go()
            except Exception as exc:
                self.last_error = _one_line(exc)

    # -- writing -------------------------------------------------------------------------------
    @_in_store_env
    def write(self, rec: RunRecord) -> str:
        """Write ``rec`` (after any spooled records). Returns written | spooled | duplicate."""
        if rec.collapsed():
            print(
                f"warning: {rec.run_name}: tensor(s) pruned to >= 99 %, which can cut a layer "
                f"off: {', '.join(rec.collapsed())}",
                file=sys.stderr,
                flush=True,
            )
        if self.spool is not None and time.monotonic() < self._cooldown_until:
            self.spool.put(rec)
            return "spooled"
        if self.spool is not None and len(self.spool) and self.flush():  # older ones first
            self.spool.put(rec)
            return "spooled"
        try:
            return self._write(rec)
        except Exception as exc:
            if self.spool is None:
                raise
            rec.last_error = self.last_error = _one_line(exc)
            self._cooldown_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 60.0)
            self.spool.put(rec)
            return "spooled"

    def _write(self, rec: RunRecord) -> str:
        if rec.partial_run_id or rec.last_error:
            for run in self.search(f"tags.record_id = '{rec.record_id}'"):
                if run.data.tags.get("status") == "finished":
                    self._finished.add(rec.spec_id)
                    return "duplicate"
                if run.data.tags.get("status") == "running":
                    self._retire(run.info.run_id, "incomplete write, rewritten from the spool")
        if rec.kind == "trial" and rec.status == "finished" and rec.spec_id in self._finished:
            return "duplicate"
        tags = {**rec.tags, "run_kind": rec.kind, "status": "running", "record_id": rec.record_id}
        if tags.get(SWEEP_RUN_TAG) in self._sweeps:
            tags[SWEEP_NAME_TAG] = self._sweeps[tags[SWEEP_RUN_TAG]]
        end = rec.end_ms or _now_ms()
        start = rec.start_ms or end - int(1000 * rec.metrics.get("train_seconds", 0.0))
        run = self.client.create_run(
            self.experiment_id,
            start_time=start,
            tags={k: str(v)[:MAX_TAG] for k, v in tags.items()},
            run_name=rec.run_name,
        )
        rid = rec.partial_run_id = run.info.run_id
        for chunk in _chunks(_metrics(rec, start, end), 1000):
            self.client.log_batch(rid, metrics=chunk)
        for chunk in _chunks([Param(k, v[:MAX_PARAM]) for k, v in rec.params.items()], 100):
            self.client.log_batch(rid, params=chunk)
        for fname, text in rec.texts.items():
            self.client.log_text(rid, text, fname)
        files: dict[str, bytes] = {}
        if len(rec.history) >= 2:
            best = rec.metrics.get("best_epoch")
            files["curves.png"] = curves_png(rec.history, rec.run_name, best)
        if rec.predictions and rec.status == "finished":
            files[PREDICTIONS_ARTIFACT] = predictions_csv_gz(rec.predictions)
        if files:
            with tempfile.TemporaryDirectory() as tmp:
                for fname, data in files.items():
                    Path(tmp, fname).write_bytes(data)
                self.client.log_artifacts(rid, tmp)
        if rec.model_state and rec.status == "finished":
            self._log_model(rid, rec)
        self.client.set_terminated(
            rid, "FINISHED" if rec.status == "finished" else "FAILED", end_time=end
        )
        self.client.set_tag(rid, "status", rec.status)  # last: from here on the run counts
        if rec.kind == "trial" and rec.status == "finished":
            self._finished.add(rec.spec_id)
        self._backoff = 2.0
        return "written"

    def _log_model(self, rid: str, rec: RunRecord) -> None:
        """The trial's model; a model that cannot be rebuilt/exported is a ``model_error`` tag
        (the run itself is fine), a store that fails meanwhile is an error (-> spool)."""
        from synprune.tracking.logged_model import log_trial_model

        try:
            log_trial_model(self.client, self.uri, self.experiment_id, rid, rec)
        except Exception as exc:
            self.client.get_run(rid)  # raises if the store is the problem: spool and retry
            why = _one_line(exc)
            self.client.set_tag(rid, "model_error", why[:MAX_TAG])
            print(f"warning: {rec.run_name}: model not logged ({why})", file=sys.stderr)

    # -- spool -----------------------------------------------------------------------------------
    def spooled(self) -> list[RunRecord]:
        """Records waiting in the spool, oldest first."""
        return self.spool.records() if self.spool is not None else []

    @_in_store_env
    def flush(self, timeout: float = 0.0) -> int:
        """Write spooled records, oldest first; retry with back-off for up to ``timeout`` s.
        Returns how many are still spooled."""
        if self.spool is None:
            return 0
        deadline = time.monotonic() + timeout
        delay = 1.0
        while True:
            for path, rec in self.spool.items():
                try:
                    self._write(rec)
                except Exception as exc:
                    rec.last_error = self.last_error = _one_line(exc)
                    self.spool.update(path, rec)
                    break
                path.unlink(missing_ok=True)
            left = len(self.spool)
            if left == 0 or time.monotonic() + delay > deadline:
                if left == 0:
                    self._cooldown_until = 0.0
                return left
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def _metrics(rec: RunRecord, start: int, end: int) -> list[Metric]:
    """Histories at step = epoch, stamped with when each epoch ended (from ``epoch_seconds``
    where the trial measured them, else spread evenly over the run); final metrics at step 0
    and the run's end time."""
    out: list[Metric] = []
    secs = [h.get("epoch_seconds") for h in rec.history]
    n = len(rec.history)
    elapsed = 0.0
    for i, h in enumerate(rec.history):
        if all(isinstance(x, float) for x in secs):
            elapsed += float(secs[i] or 0.0)
            ts = min(end, start + int(1000 * elapsed))
        else:
            ts = start + (end - start) * (i + 1) // n
        step = int(h["epoch"])
        out += [
            Metric(k, float(v), ts, step)
            for k, v in h.items()
            if k not in ("epoch", "epoch_seconds") and math.isfinite(float(v))
        ]
    out += [Metric(k, float(v), end, 0) for k, v in rec.metrics.items()]
    return out


def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
