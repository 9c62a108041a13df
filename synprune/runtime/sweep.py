"""``synprune sweep``: the config grid as Ray Tune trials, every trial one MLflow run.

Execution
    One Tune trial per pending ``TrialSpec`` (``param_space={"spec": grid_search([...])}``),
    each with ``tune.with_resources`` ({cpu, gpu fraction}) so several trials pack onto a node or
    a GPU; inside, torch uses as many threads as the trial has CPUs. Each dataset is loaded
    ONCE in the driver, ``ray.put`` once, and reaches trials by object reference through
    ``tune.with_parameters`` (only the reference of the trial's own dataset is fetched).
    A trial reports every epoch and, last, its whole ``TrialResult`` as JSON; it never touches
    MLflow. Retries: ``FailureConfig(max_failures)``; Tune's Tuner does not raise on failed
    trials, so a trial that keeps failing is recorded ``failed`` and the sweep goes on.
    Lost nodes: when a node dies, Tune can fail a trial whose actor was on it *twice* (two
    in-flight futures of the dead actor, e.g. reset + train of a reused actor) and the second
    failure errors the trial whatever ``max_failures`` says. So a trial whose last error is a
    lost actor/node (``RayActorError`` family) is not recorded as failed; it runs again in a
    fresh Tuner pass after the current one, at most ``max_failures`` extra passes per spec.

Storage
    Ray Tune's experiment state and trial folders go to ``$SYNPRUNE_RAY_STORAGE`` (a path or a
    ``pyarrow`` URI such as ``s3://bucket/prefix``), default ``<store>/ray`` on the driver's
    disk. Trials report their results to the driver and write no checkpoints, so a local path
    works on a multi-node cluster; a shared path / bucket is needed for ``--resume`` from a
    driver that runs on another machine than the interrupted one (KubeRay RayJob pods).

Tracking
    ``_SweepCallback`` (a Tune callback, running in the driver) hands results to the single
    ``Tracker`` (tracking/writer.py: serial writes, spool for unreachable servers) and prints
    one progress line per trial. The callback itself is stateless (it names the session it
    belongs to) so the copy pickled into the Ray experiment works after ``Tuner.restore``.

Resume (exactly one finished run per spec_id)
    Before anything runs: spooled records are flushed, runs left ``status=running`` by a killed
    driver are retired (failed/KILLED), and every spec_id with a finished run is skipped, so a
    re-run launches zero trials. ``--resume`` also restores the interrupted Ray experiment in
    ``<storage>/<experiment>`` (``Tuner.restore``, unfinished resumed, errored restarted);
    its trials whose spec_id finished meanwhile return at once (the driver passes the finished
    set to the trials), and specs the restored experiment does not cover run in a fresh Tuner.
    A lock file refuses a second driver on the same experiment and store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.logger import JsonLoggerCallback

from synprune.config.loader import SweepConfig
from synprune.errors import ConfigError
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec
from synprune.runtime.executor import (
    data_key,
    execute,
    result_from_payload,
    result_payload,
    trial_resources,
)

_SESSIONS: dict[str, _Session] = {}
RAY_STORAGE_ENV = "SYNPRUNE_RAY_STORAGE"
_QUIET_ENV = {
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1e9",
}


def sweep_trainable(
    config: dict[str, Any],
    *,
    data_refs: Mapping[str, Any],
    skip: frozenset[str],
    threads: int,
    plugins: tuple[str, ...] = (),
    cpus_per_worker: float = 1.0,
) -> None:
    """The Tune function trainable: one spec -> per-epoch reports + the final result."""
    import torch

    from synprune.config.loader import import_plugins

    import_plugins(plugins)
    spec = TrialSpec.from_dict(config["spec"])
    if spec.spec_id in skip:  # finished meanwhile (restored experiment): nothing to do
        tune.report({"skipped": 1})
        return
    torch.set_num_threads(threads)
    data = ray.get(data_refs[data_key(spec)])

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        tune.report({"epoch": epoch, **metrics})

    result = execute(spec, data, on_epoch, cpus_per_worker=cpus_per_worker, plugins=plugins)
    tune.report({"final": 1, "epoch": result.epochs_run, "result": result_payload(result)})


def _dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


# -- driver side -------------------------------------------------------------------------------
@dataclass
class _Session:
    tracker: Any
    parent_run_id: str
    total: int
    done: int = 0
    finished: int = 0
    failed: int = 0
    skipped_in_trial: int = 0
    failed_ids: set[str] = field(default_factory=set)
    spooled: int = 0
    rerun_limit: int = 0  # extra Tuner passes a spec lost with its node may get
    lost: dict[str, dict[str, Any]] = field(default_factory=dict)  # spec_id -> spec, to rerun
    reruns: dict[str, int] = field(default_factory=dict)  # spec_id -> passes it was lost in
    prior_attempts: dict[str, int] = field(default_factory=dict)  # attempts in earlier passes

    def _line(self, spec: Mapping[str, Any], what: str) -> None:
        self.done += 1
        print(
            f"[{self.done}/{self.total}] {spec['model']['name']} {spec['dataset']} "
            f"{spec['regularizer']['name']} L={spec['seq_len']} H={spec['horizon']} "
            f"seed={spec['seed']} {what}",
            flush=True,
        )

    def _write(self, result: TrialResult, attempts: int) -> str:
        from synprune.tracking.writer import trial_record

        outcome = self.tracker.write(trial_record(result, self.parent_run_id, attempts))
        if outcome == "spooled":
            self.spooled += 1
            return " (tracking store unreachable: spooled)"
        return " (already recorded: not written twice)" if outcome == "duplicate" else ""

    def complete(self, trial: Any) -> None:
        last = trial.last_result or {}
        spec = trial.config["spec"]
        if last.get("skipped"):
            self.skipped_in_trial += 1
            return self._line(spec, "skipped (finished meanwhile)")
        if "result" not in last:
            return self.error(trial, "the trial returned without reporting its result")
        result = result_from_payload(last["result"])
        attempts = trial.num_failures + 1 + self.prior_attempts.get(result.spec_id, 0)
        note = self._write(result, attempts)
        self.finished += 1
        ratio = result.test_mae / result.naive_mae if result.naive_mae else math.nan
        self._line(
            spec,
            f"finished mae={result.test_mae:.4g} naive={result.naive_mae:.4g} "
            f"ratio={ratio:.3f} sparsity={result.final_sparsity:.2f} "
            f"{result.train_seconds:.1f}s{note}",
        )

    def error(self, trial: Any, text: str | None = None) -> None:
        spec = trial.config["spec"]
        spec_id = TrialSpec.from_dict(spec).spec_id
        err, exc = (text, None) if text else _trial_error(trial)
        attempts = max(1, trial.num_failures) + self.prior_attempts.get(spec_id, 0)
        if text is None and _lost_with_node(exc) and self.reruns.get(spec_id, 0) < self.rerun_limit:
            self.lost[spec_id] = spec  # not recorded: it runs again in a fresh Tuner pass
            self.reruns[spec_id] = self.reruns.get(spec_id, 0) + 1
            self.prior_attempts[spec_id] = attempts
            print(
                f"[{self.done}/{self.total}] {spec['model']['name']} {spec['dataset']} "
                f"{spec['regularizer']['name']} L={spec['seq_len']} seed={spec['seed']} lost "
                f"with its Ray actor/node after {attempts} attempt(s) ({_first_line(err)}); "
                "it runs again after this pass",
                flush=True,
            )
            return
        result = TrialResult.failed(spec, spec_id, err)
        note = self._write(result, attempts)
        self.failed += 1
        self.failed_ids.add(result.spec_id)
        self._line(spec, f"FAILED after {attempts} attempt(s): {_first_line(err)}{note}")

    def recover(self, trial: Any) -> None:
        spec = trial.config["spec"]
        print(
            f"[{self.done}/{self.total}] {spec['model']['name']} {spec['dataset']} "
            f"{spec['regularizer']['name']} L={spec['seq_len']} seed={spec['seed']} attempt "
            f"{trial.num_failures} failed ({_first_line(_trial_error(trial)[0])}); retrying",
            flush=True,
        )


class _SweepCallback(tune.Callback):
    """Stateless proxy to the driver's ``_Session`` (safe to pickle into the experiment).
    A tracking error never escapes into Tune (it would stop the whole sweep): the trial is
    reported as not recorded and the next ``synprune sweep`` runs it again."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _call(self, method: str, trial: Any) -> None:
        session = _SESSIONS.get(self.key)
        if session is None:
            return
        try:
            getattr(session, method)(trial)
        except Exception as exc:
            print(
                f"error: could not record trial {trial.trial_id} ({type(exc).__name__}: "
                f"{exc}); it runs again on the next `synprune sweep`",
                file=sys.stderr,
                flush=True,
            )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._call("complete", trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._call("error", trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._call("recover", trial)


def _trial_error(trial: Any) -> tuple[str, BaseException | None]:
    """Text and exception of the trial's failures. Tune writes ``error.txt``/``error.pkl`` into
    the trial's driver staging folder (``local_path``) when the failure happens and copies them
    to the storage path only at its next sync, so ``trial.get_error()`` (which reads storage)
    often finds nothing yet inside a callback: read the staging files first."""
    text: str | None = None
    exc: BaseException | None = None
    with contextlib.suppress(Exception):
        if trial.error_file and os.path.isfile(trial.error_file):
            text = Path(trial.error_file).read_text()
    with contextlib.suppress(Exception):
        if trial.pickled_error_file and os.path.isfile(trial.pickled_error_file):
            from ray import cloudpickle

            exc = cloudpickle.loads(Path(trial.pickled_error_file).read_bytes())
    if not text:
        with contextlib.suppress(Exception):
            text = trial.get_error()
    if not text and exc is not None:
        text = f"{type(exc).__name__}: {exc}"
    return str(text or "trial failed (no error text)"), exc


def _lost_with_node(exc: BaseException | None) -> bool:
    """Did the trial die with its actor, worker process or node (not by its own error)?"""
    from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError, RayTaskError

    if isinstance(exc, RayTaskError):
        with contextlib.suppress(Exception):
            exc = exc.as_instanceof_cause()
    return isinstance(exc, RayActorError | NodeDiedError | ObjectLostError)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    # Ray wraps the exception: prefer the innermost "SomeError: message" line
    for ln in reversed(lines):
        if (
            ":" in ln
            and ln.split(":", 1)[0].replace(".", "").isidentifier()
            and ln.split(":", 1)[0].endswith(("Error", "Exception"))
        ):
            return ln[:200]
    return (lines[-1] if lines else "unknown error")[:200]


@contextmanager
def experiment_lock(store: Path, experiment: str) -> Iterator[None]:
    """One driver per (store, experiment): the kernel drops the lock if the driver dies."""
    store.mkdir(parents=True, exist_ok=True)
    path = store / f".{experiment}.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"another `synprune sweep` is running experiment "
                f"{experiment!r} on this store (lock {path})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Connect to ``address`` / RAY_ADDRESS, or start a private local Ray; shut down only
    what this call started (a Ray the caller initialised is left alone)."""
    for k, v in _QUIET_ENV.items():
        os.environ.setdefault(k, v)
    # our own progress lines replace Tune's end-of-run "Trials did not complete" error log
    logging.getLogger("ray.tune.tune").setLevel(logging.CRITICAL)
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    kw: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
        "configure_logging": True,
    }
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), **kw)
    try:
        yield
    finally:
        ray.shutdown()


def load_data(specs: list[TrialSpec]) -> dict[str, Any]:
    """Each distinct dataset once (DataError names file/column/row on bad input)."""
    from synprune.experiment.trial import load_series

    out: dict[str, Any] = {}
    for s in specs:
        if data_key(s) not in out:
            out[data_key(s)] = load_series(s)
    return out


@dataclass
class SweepSummary:
    total: int
    finished: int = 0
    failed: int = 0
    skipped: int = 0
    spooled: int = 0
    seconds: float = 0.0
    parent_run_id: str = ""
    launched: int = 0


def run_sweep(
    cfg: SweepConfig,
    tracking_uri: str,
    *,
    resume: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
) -> SweepSummary:
    """Validate, skip finished specs, run the rest on Ray Tune, record every trial in MLflow."""
    from synprune.tracking.uri import store_dir
    from synprune.tracking.writer import Tracker

    t0 = time.perf_counter()
    specs = cfg.specs()
    data = load_data(specs)
    cfg.check_models(specs, {k.split("|")[0]: v.values.shape[1] for k, v in data.items()})
    store = store_dir(tracking_uri)
    summary = SweepSummary(total=len(specs))
    with experiment_lock(store, cfg.experiment):
        tracker = Tracker(tracking_uri, cfg.experiment)
        tracker.finished_spec_ids()
        retired = tracker.retire_stale()
        tracker.flush()
        done = tracker.finished_spec_ids()
        pending = [s for s in specs if s.spec_id not in done]
        summary.skipped = len(specs) - len(pending)
        print(
            f"sweep {cfg.experiment}: {len(specs)} trials in the grid, {summary.skipped} "
            f"already finished, {len(pending)} to run"
            + (f" ({retired} interrupted runs marked failed)" if retired else ""),
            flush=True,
        )
        storage = ray_storage(store)
        if not pending:
            summary.spooled = tracker.flush(timeout=30)
            summary.seconds = time.perf_counter() - t0
            return summary
        with ray_session(address, num_cpus):
            _check_gpus(cfg, remote=bool(address or os.environ.get("RAY_ADDRESS")))
            return _run(cfg, specs, pending, data, done, storage, resume, tracker, summary, t0)


def _check_gpus(cfg: SweepConfig, remote: bool) -> None:
    need = cfg.resources.gpu
    if need and ray.cluster_resources().get("GPU", 0) < need:
        msg = f"{cfg.path}: [resources].gpu={need} but this Ray cluster has no such GPU"
        if not remote:
            raise ConfigError(msg + " (set gpu = 0 on a CPU-only machine)")
        print(f"warning: {msg}; trials wait until the autoscaler adds one", flush=True)


def _run(
    cfg: SweepConfig,
    specs: list[TrialSpec],
    pending: list[TrialSpec],
    data: Mapping[str, Any],
    done: set[str],
    storage: str,
    resume: bool,
    tracker: Any,
    summary: SweepSummary,
    t0: float,
) -> SweepSummary:
    grid_json = json.dumps([s.to_dict() for s in specs], indent=1)
    parent = tracker.start_parent(
        f"sweep-{time.strftime('%Y%m%d-%H%M%S')}",
        cfg.path,
        {"grid.json": grid_json},
        {"config": str(cfg.path), "trials": len(specs), "pending": len(pending), "resume": resume},
    )
    session = _Session(tracker, parent, total=len(pending), rerun_limit=cfg.max_failures)
    _SESSIONS[cfg.experiment] = session
    status = "interrupted"
    try:
        _run_tuners(cfg, pending, data, done, storage, resume, session)
        status = "finished"
    finally:
        _SESSIONS.pop(cfg.experiment, None)
        summary.spooled = tracker.flush(timeout=0 if status != "finished" else 120)
        summary.finished, summary.failed = session.finished, session.failed
        summary.skipped += session.skipped_in_trial
        summary.launched = session.done
        summary.parent_run_id = parent
        summary.seconds = time.perf_counter() - t0
        tracker.end_parent(
            parent,
            status,
            {
                "finished": summary.finished,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "seconds": summary.seconds,
            },
        )
    if summary.spooled:
        print(
            f"warning: {summary.spooled} run(s) could not be written yet "
            f"({tracker.last_error}); they wait in {tracker.spool_dir} and are written "
            "by the next `synprune sweep`",
            file=sys.stderr,
        )
    return summary


def ray_storage(store: Path) -> str:
    """Ray Tune's storage: ``$SYNPRUNE_RAY_STORAGE`` (path or URI), else ``<store>/ray``."""
    value = os.environ.get(RAY_STORAGE_ENV, "").strip()
    if not value:
        return str(store / "ray")
    return value if "://" in value else str(Path(value).expanduser().absolute())


def _remove_experiment(path: str) -> None:
    """Delete an old experiment folder (local path or pyarrow URI); absent is fine."""
    if "://" not in path:
        shutil.rmtree(path, ignore_errors=True)
        return
    import pyarrow.fs

    fs, fs_path = pyarrow.fs.FileSystem.from_uri(path)
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.delete_dir(fs_path)


def _run_tuners(
    cfg: SweepConfig,
    pending: list[TrialSpec],
    data: Mapping[str, Any],
    done: set[str],
    storage: str,
    resume: bool,
    session: _Session,
) -> None:
    refs = {k: ray.put(v) for k, v in data.items() if any(data_key(s) == k for s in pending)}
    trainable = tune.with_resources(
        tune.with_parameters(
            sweep_trainable,
            data_refs=refs,
            skip=frozenset(done),
            threads=cfg.resources.threads,
            plugins=cfg.plugins,
            cpus_per_worker=cfg.resources.cpu,
        ),
        trial_resources(cfg.resources),
    )
    exp_path = f"{storage.rstrip('/')}/{cfg.experiment}"
    if resume and tune.Tuner.can_restore(exp_path):
        print(f"resuming the Ray experiment in {exp_path}", flush=True)
        tune.Tuner.restore(exp_path, trainable, resume_unfinished=True, restart_errored=True).fit()
        finished = session.tracker.finished_spec_ids()
        pending = [
            s for s in pending if s.spec_id not in finished and s.spec_id not in session.failed_ids
        ]
        session.lost.clear()  # they are in ``pending`` again
    elif resume:
        print(f"no Ray experiment state in {exp_path}; running what is not finished", flush=True)
    while pending:
        _fresh_tuner(cfg, trainable, pending, storage, exp_path).fit()
        # trials lost with a node (not recorded) get another pass; bounded by rerun_limit
        pending = [TrialSpec.from_dict(spec) for spec in session.lost.values()]
        session.lost.clear()
        if pending:
            print(f"running {len(pending)} trial(s) lost with a Ray node again", flush=True)


def _fresh_tuner(
    cfg: SweepConfig, trainable: Any, specs: list[TrialSpec], storage: str, exp_path: str
) -> Any:
    """A new Tuner over ``specs`` (the old experiment state only ever served --resume)."""
    _remove_experiment(exp_path)
    return tune.Tuner(
        trainable,
        param_space={"spec": tune.grid_search([s.to_dict() for s in specs])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=cfg.max_concurrent or _distributed_concurrency(cfg),
            reuse_actors=True,
            trial_dirname_creator=_dirname,
        ),
        run_config=tune.RunConfig(
            name=cfg.experiment,
            storage_path=storage,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[_SweepCallback(cfg.experiment), JsonLoggerCallback()],
        ),
    )


def _distributed_concurrency(cfg: SweepConfig) -> int | None:
    """With ``workers > 1`` each Tune trial is a 1-CPU driver whose Train workers need CPUs of
    their own; unbounded, Tune could fill the cluster with drivers that wait forever for
    workers. Cap concurrent trials at what the cluster can hold whole."""
    if cfg.resources.workers == 1:
        return None
    from synprune.runtime.distributed import resource_plan

    plan = resource_plan(cfg.resources.workers, cfg.resources.cpu, cfg.resources.gpu > 0)
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    return max(1, int(cpus // plan["total_cpu"]))
