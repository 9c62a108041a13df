"""``synprune sweep``: the config grid as Ray Tune trials, every trial one MLflow run.

Before Ray starts (``runtime.preflight``): the tracking store must be writable, every dataset
loads, every model builds and every grid point can be windowed; any refusal is one line.

Execution
    The specs without a finished run are grouped by identical training
    (``experiment.trial.group_by_training``: e.g. ``dropout[p]`` and ``mc_dropout[p]`` of one
    seed train once and are scored twice), and the groups are cut into *batches*
    (:func:`batches`: groups of one cell -- dataset, window, horizon, protocol -- together,
    about 8 batches per parallel slot). Each batch is one Tune trial
    (``param_space={"batch": grid_search([...])}``), with ``tune.with_resources`` so several
    trials pack onto a node or a GPU; inside, torch uses as many threads as the trial has CPUs.
    Tune's per-trial costs (an actor call, its bookkeeping and result files) are paid once per
    batch, and a worker keeps its loaded data (and the reference forecasts computed on it)
    across the groups of a batch. Each dataset is loaded ONCE in the driver, ``ray.put`` once,
    and reaches trials by object reference through ``tune.with_parameters``. A trial reports
    each group as it ends -- its results as JSON, or its traceback -- and never touches MLflow;
    there are no per-epoch reports (nothing reads them; the histories travel with the results).
    Retries: a group that raises is retried inside its trial up to ``max_failures`` times, then
    recorded ``failed``, and the batch goes on. A batch whose actor or process dies is retried
    by Tune (``FailureConfig(max_failures)``; groups it reported before are skipped or dropped,
    never recorded twice); one whose last failure lost its actor or node
    (``runtime.trial_errors.lost_with_node``) gets its unreported groups run again in a fresh
    Tuner pass, at most ``max_failures`` extra passes per group (``runtime.recorder``).

Storage
    Ray Tune's experiment state and trial folders go to ``$SYNPRUNE_RAY_STORAGE`` (a path or a
    ``pyarrow`` URI), default ``<store>/ray``. They are written, never read back: trials keep no
    checkpoints, so a rerun (``--resume`` or not) is a fresh Tuner over the specs without a
    finished run, and the driver never unpickles state from storage that others may write.

Tracking
    ``SweepCallback`` (a Tune callback in the driver) hands each reported group to the
    ``Recorder`` (``runtime.recorder``), which tells the console and queues the runs for the
    driver's one writer thread (``runtime.write_queue``: Tune's loop, and with it every trial
    waiting in ``tune.report``, never waits for MLflow), which writes them through the one
    ``Tracker`` (tracking/writer.py: serial writes, spool for unreachable servers; the logged
    model reuses one ``torch.export`` per architecture, tracking/logged_model.py). The sweep run
    is closed only after the queue is written. A write that fails even past the spool (full
    disk, unwritable spool folder) stops the sweep as Ctrl-C does: the sweep run ends KILLED,
    the count of unrecorded trials is printed and ``--resume`` runs them again.

Interrupts (``runtime.interrupt``)
    The first Ctrl-C ends the running pass (running trials are stopped, nothing is recorded for
    them), the sweep run is closed as KILLED and the summary says what is left and how to
    resume; a second Ctrl-C stops at once.

Resume (exactly one finished run per spec_id)
    Before anything runs: spooled records are flushed, runs left ``status=running`` by a killed
    driver are retired (failed/KILLED), and every spec_id with a finished run is skipped, so a
    re-run launches zero trials. A lock file refuses a second driver on the same experiment.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray import tune

from synprune.config.loader import SweepConfig
from synprune.experiment.spec import TrialSpec
from synprune.experiment.trial import group_by_training
from synprune.runtime.batches import batches, sweep_trainable
from synprune.runtime.console import (
    Console,
    cell_key,
    no_colour_reset_at_exit,
    quiet_library_logs,
)
from synprune.runtime.executor import (
    data_key,
    max_concurrent_trials,
    parallel_slots,
    trial_resources,
)
from synprune.runtime.interrupt import (
    StopTune,
    graceful_sigint,
    requested,
    retake_signals,
    stop_requested_by,
)
from synprune.runtime.preflight import check_grid, check_store, load_data, open_tracker
from synprune.runtime.recorder import Recorder, SweepCallback, recording
from synprune.runtime.session import (
    check_gpus,
    experiment_lock,
    ray_session,
    ray_storage,
    remote_address,
    remove_experiment,
)
from synprune.runtime.write_queue import WriteQueue
from synprune.tracking.uri import store_dir

if TYPE_CHECKING:
    from synprune.tracking.writer import Tracker


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
    left: int = 0  # specs of this sweep without a finished or failed run
    interrupted: bool = False
    unrecorded: int = 0  # trials that ended but could not be written nor spooled
    error: str = ""  # why they could not
    timings: dict[str, float] = field(default_factory=dict)  # seconds of the sweep's parts


# -- orchestration ---------------------------------------------------------------------------
def run_sweep(
    cfg: SweepConfig,
    tracking_uri: str,
    *,
    resume: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    allow_grid_change: bool = False,
) -> SweepSummary:
    """Check everything, skip finished specs, run the rest on Ray Tune, record every trial in
    MLflow. Ctrl-C returns a summary with ``interrupted=True`` (see the module docstring)."""
    t0 = time.perf_counter()
    quiet_library_logs()
    check_store(tracking_uri)
    specs = cfg.specs()
    data = load_data(specs)
    check_grid(cfg, specs, data)
    summary = SweepSummary(total=len(specs), left=len(specs))
    try:
        with graceful_sigint(), experiment_lock(store_dir(tracking_uri), cfg.experiment):
            tracker = open_tracker(tracking_uri, cfg.experiment)
            tracker.claim_grid(cfg.fingerprint, str(cfg.path), allow_change=allow_grid_change)
            pending = _pending(cfg, specs, tracker, summary)
            if pending and not requested():
                with ray_session(address, num_cpus):
                    retake_signals()  # ray.init installed its own SIGTERM handler
                    check_gpus(cfg.resources, cfg.path, remote=bool(remote_address(address)))
                    _run(cfg, specs, pending, data, resume, tracker, summary)
            elif not pending:
                summary.spooled = tracker.flush(timeout=30)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        no_colour_reset_at_exit()
    summary.interrupted = summary.interrupted or requested()
    summary.seconds = time.perf_counter() - t0
    return summary


def _pending(
    cfg: SweepConfig, specs: Sequence[TrialSpec], tracker: Tracker, summary: SweepSummary
) -> list[TrialSpec]:
    """Flush the spool, retire interrupted runs, and list the specs without a finished run."""
    retired = tracker.retire_stale()
    tracker.flush()
    done = tracker.finished_spec_ids()
    pending = [s for s in specs if s.spec_id not in done]
    summary.skipped = len(specs) - len(pending)
    summary.left = len(pending)
    print(
        f"sweep {cfg.experiment}: {len(specs)} trials in the grid, {summary.skipped} "
        f"already finished, {len(pending)} to run"
        + (f" ({retired} interrupted runs marked failed)" if retired else ""),
        flush=True,
    )
    return pending


def _run(
    cfg: SweepConfig,
    specs: Sequence[TrialSpec],
    pending: Sequence[TrialSpec],
    data: Mapping[str, Any],
    resume: bool,
    tracker: Tracker,
    summary: SweepSummary,
) -> None:
    """The sweep run in MLflow around the Tuner passes; closed FINISHED or KILLED."""
    t0 = time.perf_counter()
    groups = group_by_training(pending)
    grid_json = json.dumps([s.to_dict() for s in specs], indent=1)
    parent = tracker.start_parent(
        f"sweep-{time.strftime('%Y%m%d-%H%M%S')}",
        cfg.path,
        {"grid.json": grid_json},
        {"config": str(cfg.path), "trials": len(specs), "pending": len(pending), "resume": resume},
    )
    cap = max_concurrent_trials(cfg.resources, cfg.max_concurrent)
    slots = parallel_slots(cfg.resources, cap)
    stored = tracker.finished_seconds
    console = Console(
        total=len(pending),
        units=len(groups),
        slots=slots,
        keys=[cell_key(group[0]) for group in groups],
        prior=[(cell_key(s), stored[s.spec_id]) for s in specs if s.spec_id in stored],
    )
    writer = WriteQueue(tracker, on_failure=stop_requested_by)
    recorder = Recorder(
        writer, parent, console, rerun_limit=cfg.max_failures, specs={s.spec_id: s for s in pending}
    )
    status = "interrupted"
    t1 = time.perf_counter()
    try:
        with recording(cfg.experiment, recorder):
            _tuner_passes(cfg, batches(groups, slots), data, recorder, cap, store_dir(tracker.uri))
        status = "interrupted" if requested() else "finished"
    finally:
        t2 = time.perf_counter()
        writer.close()  # every reported trial is written (or spooled) before the sweep run ends
        summary.timings = {
            "before the Tuner": t1 - t0,
            "Tuner passes": t2 - t1,
            "writes after the passes": time.perf_counter() - t2,
            "writing (writer thread)": writer.busy_seconds,
        }
        for text in writer.take_notes():
            console.note(text)
        console.close()
        summary.unrecorded, summary.error = writer.unrecorded, writer.error
        if summary.unrecorded:
            status = "interrupted"
        summary.spooled = tracker.flush(timeout=120 if status == "finished" else 0)
        summary.finished = recorder.finished - writer.unrecorded_with("finished")
        summary.failed = recorder.failed - writer.unrecorded_with("failed")
        summary.launched = summary.finished + summary.failed
        summary.left = len(pending) - summary.launched
        summary.parent_run_id = parent
        tracker.end_parent(
            parent,
            status,
            {
                "finished": summary.finished,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "left": summary.left,
                "seconds": time.perf_counter() - t0,
            },
        )
        if summary.unrecorded:
            print(
                f"error: {summary.unrecorded} trial(s) ended but could not be recorded "
                f"({summary.error}); the sweep stopped. They run again on resume.",
                file=sys.stderr,
            )
        if summary.spooled:
            print(
                f"warning: {summary.spooled} run(s) could not be written yet "
                f"({tracker.last_error}); they wait in {tracker.spool_dir} and are written "
                "by the next `synprune sweep`",
                file=sys.stderr,
            )


def _tuner_passes(
    cfg: SweepConfig,
    todo_batches: list[list[list[TrialSpec]]],
    data: Mapping[str, Any],
    recorder: Recorder,
    cap: int | None,
    store: Path,
) -> None:
    """Tuner passes until every batch ended (groups lost with a node get further passes)."""
    keys = {data_key(g[0]) for b in todo_batches for g in b}
    refs = {k: ray.put(v) for k, v in data.items() if k in keys}
    trainable = tune.with_resources(
        tune.with_parameters(
            sweep_trainable,
            data_refs=refs,
            threads=cfg.resources.threads,
            plugins=cfg.plugins,
            cpus_per_worker=cfg.resources.cpu,
            max_failures=cfg.max_failures,
        ),
        trial_resources(cfg.resources),
    )
    storage = ray_storage(store)
    todo = [
        {"groups": [{"ids": [s.spec_id for s in g], "specs": [s.to_dict() for s in g]} for g in b]}
        for b in todo_batches
    ]
    while todo and not requested():
        exp_path = f"{storage.rstrip('/')}/{cfg.experiment}"
        remove_experiment(exp_path)  # Tune's state of an earlier pass is never read back
        with _no_tune_loggers():
            tune.Tuner(
                trainable,
                param_space={"batch": tune.grid_search(todo)},
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=cap, reuse_actors=True, trial_dirname_creator=_dirname
                ),
                run_config=tune.RunConfig(
                    name=cfg.experiment,
                    storage_path=storage,
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    callbacks=[SweepCallback(cfg.experiment), StopTune()],
                ),
            ).fit()
        lost = list(recorder.lost)
        recorder.lost.clear()
        todo = [{"groups": lost[i : i + 8]} for i in range(0, len(lost), 8)]
        if todo and not requested():
            recorder.console.note(f"running {len(lost)} trial group(s) lost with a Ray node again")


@contextlib.contextmanager
def _no_tune_loggers() -> Iterator[None]:
    """Without Tune's CSV / JSON / TensorBoard result files: nothing reads them (results go to
    MLflow) and each report would be written three times per trial folder."""
    name = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"
    old = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
