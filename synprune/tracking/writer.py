"""MLflow write and read helpers for ``synprune sweep`` and ``synprune tune``.

Layout (docs/ARCHITECTURE.md "MLflow layout"): one experiment per sweep; a parent run per sweep
invocation (tag ``run_kind=sweep``) holding the config file and the resolved grid as artifacts;
one child run per trial (``run_kind=trial``, ``mlflow.parentRunId``) with the tags
``spec_id, model, dataset, regularizer, seq_len, horizon, seed, git_sha, status``, every spec
field as a param, metric histories ``train_loss, val_loss, sparsity`` (step = epoch), the final
metrics, ``curves.png``, ``notes.txt`` and, for failed trials, ``error.txt`` plus an ``error`` tag.

Write path -- why SQLite never says "database is locked"
    Trials never touch the store. A trial returns its whole result (history included) to the
    Ray Tune driver in its last ``tune.report``; a Tune callback in the driver hands it to the
    one ``Tracker`` of the process, which writes runs **serially**, one at a time, from a single
    thread. There is exactly one writer per sweep (a lock file in the store folder refuses a
    second driver on the same experiment), so SQLite's single-writer rule is never contended.

Surviving a tracking-server restart (http URIs)
    Every run is first built as a plain JSON ``RunRecord``. If writing it fails for any reason
    (connection refused, 5xx, timeout, a locked file), the record is **spooled** to
    ``<store>/spool/<experiment>/`` (atomic rename) and the sweep goes on; the spool is flushed
    before every later write, with growing back-off at the end of the sweep, and at the start of
    the next ``synprune sweep``. MLflow's own HTTP retries are shortened (``MLFLOW_HTTP_REQUEST_*``
    defaults, only where the user has not set them) so a dead server stalls the driver for
    seconds, not minutes. Writes are idempotent: each record carries a ``record_id`` tag; before
    a spooled record is (re)written, runs left half-written by an earlier attempt are retired
    (``status=failed``, MLflow status KILLED) and a record whose run already finished is dropped.

Finished means: tag ``status=finished``, set as the very last write of a run (after its
metrics, artifacts and terminal MLflow status). Anything tagged ``status=running`` when a new
sweep starts was interrupted (driver SIGKILL) and is retired by ``retire_stale``; at most one
finished run per ``spec_id`` is ever written (``write`` drops duplicates). Metric histories use
step = epoch; the final metrics are logged at step ``epochs_run + 1`` so that the latest
``val_loss`` of a run is its best (restored) validation loss, as the final-metrics contract says.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from synprune.tracking.schema import HISTORY_METRICS
from synprune.tracking.uri import (
    artifact_root,
    is_sqlite,
    sqlite_path,
    store_dir,
)

_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
_MAX_TAG = 5000


# -- the record -----------------------------------------------------------------------------------
@dataclass
class RunRecord:
    """Everything one MLflow run needs, JSON-able so it can wait in the spool."""

    kind: str  # trial | tune
    run_name: str
    status: str  # finished | failed
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # artifact file name -> content
    spec_id: str = ""
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    partial_run_id: str = ""  # a run an earlier failed attempt left behind
    last_error: str = ""


def trial_record(result: Any, parent_run_id: str = "", attempts: int = 1) -> RunRecord:
    """The record for one ``TrialResult`` (finished or failed)."""
    from synprune.experiment.spec import TrialSpec

    s = result.spec
    tags = {
        "spec_id": result.spec_id,
        "model": s["model"]["name"],
        "dataset": s["dataset"],
        "regularizer": s["regularizer"]["name"],
        "seq_len": str(s["seq_len"]),
        "horizon": str(s["horizon"]),
        "seed": str(s["seed"]),
        "git_sha": result.git_sha,
        "attempts": str(attempts),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    try:
        flat = TrialSpec.from_dict(s).flat_params()
    except Exception:
        flat = _flatten(s)
    texts = {}
    if result.notes:
        texts["notes.txt"] = "\n".join(result.notes) + "\n"
    if result.status != "finished":
        tags["error"] = (result.error or "unknown error")[:_MAX_TAG]
        texts["error.txt"] = result.error or "unknown error"
    metrics = {k: v for k, v in result.metrics().items() if math.isfinite(v)}
    name = (
        f"{tags['model']}-{tags['dataset']}-{tags['regularizer']}-L{s['seq_len']}"
        f"-H{s['horizon']}-s{s['seed']}"
    )
    return RunRecord(
        kind="trial",
        run_name=name,
        status=result.status,
        tags=tags,
        params={k: str(v) for k, v in flat.items()},
        metrics=metrics,
        history=list(result.history),
        texts=texts,
        spec_id=result.spec_id,
    )


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {prefix + k: v})
    return out


def curves_png(
    history: list[dict[str, float]], title: str, best_epoch: float | None = None
) -> bytes:
    """Loss curves (and sparsity where present) against epoch, as PNG bytes (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    has_sp = any(h.get("sparsity") is not None for h in history)
    fig = Figure(figsize=(8 if has_sp else 5, 3.2), dpi=100)
    ax = fig.add_subplot(1, 2 if has_sp else 1, 1)
    for key in ("train_loss", "val_loss"):
        ax.plot(epochs, [h.get(key, math.nan) for h in history], marker="o", ms=3, label=key)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label="best (restored)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled)")
    if all(h.get(k, 1.0) > 0 for h in history for k in ("train_loss", "val_loss")):
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if has_sp:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(
            epochs, [h.get("sparsity", math.nan) for h in history], color="C2", marker="o", ms=3
        )
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("sparsity")
        ax2.set_ylim(-0.02, 1.02)
        ax2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -- the writer ------------------------------------------------------------------------------------
class Tracker:
    """The one MLflow writer of a sweep/tune driver (see the module docstring)."""

    def __init__(self, uri: str, experiment: str, *, spool: bool = True) -> None:
        self.uri = uri
        self.experiment = experiment
        if not is_sqlite(uri):
            for k, v in _HTTP_DEFAULTS.items():
                os.environ.setdefault(k, v)
        else:
            sqlite_path(uri).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = self._experiment_id()
        self.spool_dir = store_dir(uri) / "spool" / experiment if spool else None
        self._finished: set[str] = set()
        self._cooldown_until = 0.0
        self._backoff = 2.0
        self.last_error = ""

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        try:
            return self.client.create_experiment(
                self.experiment, artifact_location=artifact_root(self.uri)
            )
        except mlflow.exceptions.MlflowException:  # created meanwhile by someone else
            exp = self.client.get_experiment_by_name(self.experiment)
            if exp is None:
                raise
            return exp.experiment_id

    # -- reading -----------------------------------------------------------------------------
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

    def finished_spec_ids(self) -> set[str]:
        """spec_ids with a finished trial run in the store or waiting in the spool."""
        runs = self.search("tags.run_kind = 'trial' and tags.status = 'finished'")
        self._finished |= {r.data.tags["spec_id"] for r in runs if "spec_id" in r.data.tags}
        spooled = {
            r.spec_id for r in self.spooled() if r.kind == "trial" and r.status == "finished"
        }
        return self._finished | spooled

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

    # -- parent run --------------------------------------------------------------------------
    def start_parent(
        self,
        name: str,
        config_file: Path | None,
        texts: Mapping[str, str],
        params: Mapping[str, Any],
    ) -> str:
        """The sweep's parent run (written directly: the sweep cannot start without a store)."""
        from synprune.experiment.results import git_sha

        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"run_kind": "sweep", "status": "running", "git_sha": git_sha()},
        )
        rid = run.info.run_id
        self.client.log_batch(rid, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        if config_file is not None:
            self.client.log_artifact(rid, str(config_file), "config")
        for fname, text in texts.items():
            self.client.log_text(rid, text, f"config/{fname}")
        return rid

    def end_parent(self, run_id: str, status: str, metrics: Mapping[str, float]) -> None:
        """Close the parent run; retried with back-off, left for ``retire_stale`` if it fails."""

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
    def write(self, rec: RunRecord) -> str:
        """Write ``rec`` (after any spooled records). Returns written | spooled | duplicate."""
        if self.spool_dir is not None and time.monotonic() < self._cooldown_until:
            self._spool(rec)
            return "spooled"
        if self.spool_dir is not None and any(self.spool_dir.glob("*.json")):
            self.flush()
            if any(self.spool_dir.glob("*.json")):
                self._spool(rec)
                return "spooled"
        try:
            return self._write(rec)
        except Exception as exc:
            if self.spool_dir is None:
                raise
            rec.last_error = self.last_error = _one_line(exc)
            self._cooldown_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 60.0)
            self._spool(rec)
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
        run = self.client.create_run(
            self.experiment_id,
            start_time=rec.created_ms,
            tags={k: str(v)[:_MAX_TAG] for k, v in tags.items()},
            run_name=rec.run_name,
        )
        rid = rec.partial_run_id = run.info.run_id
        # histories at step = epoch; final metrics one step later (and later in time), so the
        # run's latest ``val_loss`` is the best one (the restored weights), not the last epoch's
        ts = _now_ms()
        last = 0
        metrics = []
        for i, h in enumerate(rec.history):
            last = step = int(h.get("epoch", i + 1))
            metrics += [
                Metric(k, float(h[k]), ts - 1, step)
                for k in HISTORY_METRICS
                if k in h and math.isfinite(float(h[k]))
            ]
        metrics += [
            Metric(k, float(v), ts, last + 1 if rec.history else 0) for k, v in rec.metrics.items()
        ]
        params = [Param(k, v[:6000]) for k, v in rec.params.items()]
        for chunk in _chunks(metrics, 1000):
            self.client.log_batch(rid, metrics=chunk)
        for chunk in _chunks(params, 100):
            self.client.log_batch(rid, params=chunk)
        for fname, text in rec.texts.items():
            self.client.log_text(rid, text, fname)
        if rec.history:
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp, "curves.png")
                png.write_bytes(
                    curves_png(rec.history, rec.run_name, rec.metrics.get("best_epoch"))
                )
                self.client.log_artifact(rid, str(png))
        self.client.set_terminated(
            rid, "FINISHED" if rec.status == "finished" else "FAILED", end_time=_now_ms()
        )
        self.client.set_tag(rid, "status", rec.status)  # last: from here on the run counts
        if rec.kind == "trial" and rec.status == "finished":
            self._finished.add(rec.spec_id)
        self._backoff = 2.0
        return "written"

    # -- spool -----------------------------------------------------------------------------------
    def _spool(self, rec: RunRecord) -> None:
        assert self.spool_dir is not None
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"{rec.created_ms:014d}-{rec.record_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec), allow_nan=True))
        os.replace(tmp, path)

    def spooled(self) -> list[RunRecord]:
        """Records waiting in the spool, oldest first."""
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return []
        out = []
        for p in sorted(self.spool_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                out.append(RunRecord(**json.loads(p.read_text())))
        return out

    def flush(self, timeout: float = 0.0) -> int:
        """Write spooled records, oldest first; retry with back-off for up to ``timeout`` s.
        Returns how many are still spooled."""
        if self.spool_dir is None:
            return 0
        deadline = time.monotonic() + timeout
        delay = 1.0
        while True:
            paths = sorted(self.spool_dir.glob("*.json")) if self.spool_dir.is_dir() else []
            for path in paths:
                try:
                    rec = RunRecord(**json.loads(path.read_text()))
                except (OSError, ValueError, TypeError):
                    continue
                try:
                    self._write(rec)
                except Exception as exc:
                    rec.last_error = self.last_error = _one_line(exc)
                    self._spool_update(path, rec)
                    break
                path.unlink(missing_ok=True)
            left = len(list(self.spool_dir.glob("*.json"))) if self.spool_dir.is_dir() else 0
            if left == 0 or time.monotonic() + delay > deadline:
                if left == 0:
                    self._cooldown_until = 0.0
                return left
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _spool_update(self, path: Path, rec: RunRecord) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec), allow_nan=True))
        os.replace(tmp, path)


# -- read helpers ----------------------------------------------------------------------
def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
