"""``synprune sweep``: the config grid as Ray Tune trials, every trial one MLflow run.

Before Ray starts (``runtime.preflight``): the tracking store must be writable, every dataset
loads, every model builds and every grid point can be windowed; any refusal is one line.

Execution
    The specs without a finished run are grouped by identical training
    (``experiment.trial.group_by_training``: e.g. ``dropout[p]`` and ``mc_dropout[p]`` of one
    seed train once and are scored twice) and each group is one Tune trial
    (``param_space={"group": grid_search([...])}``), with ``tune.with_resources`` so several
    trials pack onto a node or a GPU; inside, torch uses as many threads as the trial has CPUs.
    Each dataset is loaded ONCE in the driver, ``ray.put`` once, and reaches trials by object
    reference through ``tune.with_parameters``. A trial reports every epoch and, last, its
    results as JSON; it never touches MLflow. Retries: ``FailureConfig(max_failures)``; a trial
    that keeps failing is recorded ``failed`` and the sweep goes on. A trial whose last failure
    lost its actor or node (``runtime.trial_errors.lost_with_node``; Tune can fail such a trial
    twice at once whatever ``max_failures`` says) is not recorded but runs again in a fresh
    Tuner pass, at most ``max_failures`` extra passes per group.

Storage
    Ray Tune's experiment state and trial folders go to ``$SYNPRUNE_RAY_STORAGE`` (a path or a
    ``pyarrow`` URI), default ``<store>/ray``. They are written, never read back: trials keep no
    checkpoints, so a rerun (``--resume`` or not) is a fresh Tuner over the specs without a
    finished run, and the driver never unpickles state from storage that others may write.

Tracking
    ``SweepCallback`` (a Tune callback in the driver) hands results to the one ``Tracker``
    (tracking/writer.py: serial writes, spool for unreachable servers) and the console
    (``runtime.console``). It names its ``Recorder`` by key, so it pickles into Tune's state.

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

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray import tune

from synprune.config.loader import SweepConfig
from synprune.experiment.spec import TrialSpec
from synprune.experiment.trial import group_by_training
from synprune.runtime.console import Console, cell_key, no_colour_reset_at_exit
from synprune.runtime.executor import (
    data_key,
    execute,
    max_concurrent_trials,
    parallel_slots,
    results_payload,
    trial_resources,
)
from synprune.runtime.interrupt import StopTune, graceful_sigint, requested
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
from synprune.tracking.uri import store_dir

if TYPE_CHECKING:
    from synprune.tracking.writer import Tracker


def sweep_trainable(
    config: dict[str, Any],
    *,
    data_refs: Mapping[str, Any],
    threads: int,
    plugins: tuple[str, ...] = (),
    cpus_per_worker: float = 1.0,
) -> None:
    """The Tune function trainable: a group of specs -> per-epoch reports + the results."""
    import torch

    from synprune.config.loader import import_plugins

    import_plugins(plugins)
    specs = [TrialSpec.from_dict(d) for d in config["group"]["specs"]]
    torch.set_num_threads(threads)
    data = ray.get(data_refs[data_key(specs[0])])

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        tune.report({"epoch": epoch, **metrics})

    results = execute(specs, data, on_epoch, cpus_per_worker=cpus_per_worker, plugins=plugins)
    tune.report({"final": 1, "epoch": results[0].epochs_run, "results": results_payload(results)})


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
        keys=[cell_key(group[0].to_dict()) for group in groups],
        prior=[(cell_key(s.to_dict()), stored[s.spec_id]) for s in specs if s.spec_id in stored],
    )
    recorder = Recorder(tracker, parent, console, rerun_limit=cfg.max_failures)
    status = "interrupted"
    try:
        with recording(cfg.experiment, recorder):
            _tuner_passes(cfg, groups, data, recorder, cap, store_dir(tracker.uri))
        status = "interrupted" if requested() else "finished"
    finally:
        console.close()
        summary.spooled = tracker.flush(timeout=120 if status == "finished" else 0)
        summary.finished, summary.failed = recorder.finished, recorder.failed
        summary.launched = recorder.finished + recorder.failed
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
        if summary.spooled:
            print(
                f"warning: {summary.spooled} run(s) could not be written yet "
                f"({tracker.last_error}); they wait in {tracker.spool_dir} and are written "
                "by the next `synprune sweep`",
                file=sys.stderr,
            )


def _tuner_passes(
    cfg: SweepConfig,
    groups: list[list[TrialSpec]],
    data: Mapping[str, Any],
    recorder: Recorder,
    cap: int | None,
    store: Path,
) -> None:
    """Tuner passes until every group ended (groups lost with a node get further passes)."""
    keys = {data_key(g[0]) for g in groups}
    refs = {k: ray.put(v) for k, v in data.items() if k in keys}
    trainable = tune.with_resources(
        tune.with_parameters(
            sweep_trainable,
            data_refs=refs,
            threads=cfg.resources.threads,
            plugins=cfg.plugins,
            cpus_per_worker=cfg.resources.cpu,
        ),
        trial_resources(cfg.resources),
    )
    storage = ray_storage(store)
    todo = [{"ids": [s.spec_id for s in g], "specs": [s.to_dict() for s in g]} for g in groups]
    while todo and not requested():
        exp_path = f"{storage.rstrip('/')}/{cfg.experiment}"
        remove_experiment(exp_path)  # Tune's state of an earlier pass is never read back
        tune.Tuner(
            trainable,
            param_space={"group": tune.grid_search(todo)},
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
        todo = list(recorder.lost.values())
        recorder.lost.clear()
        if todo and not requested():
            recorder.console.note(f"running {len(todo)} trial(s) lost with a Ray node again")


def _dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
