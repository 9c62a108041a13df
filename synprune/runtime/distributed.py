"""One trial on several data-parallel workers: Ray Train ``TorchTrainer`` (Train V2) + DDP.

``run_distributed_group(specs, data, on_epoch=...)`` is what ``runtime.executor.execute`` runs
for ``workers > 1`` (``specs``: one spec, or several that train identically; see
``experiment.trial.group_by_training``). It may be called from a plain driver (it starts a
local loopback Ray when none is running, and stops it again) or from inside a Ray Tune function
trainable (Ray Train V2's pattern: the Tune trial is only the *driver* of a nested
``TorchTrainer.fit()``).

What each of the ``spec.workers`` Ray Train workers runs (:func:`_train_worker`): the same
:func:`synprune.experiment.train.fit` loop as a single-worker trial, on the model wrapped in
``DistributedDataParallel`` (gloo on CPU, nccl on GPU; rank and world size from
``ray.train.get_context()``), with batches sharded as ``perm[rank::world]`` of one seeded
permutation, the regularizer attached to the inner module (``SynapticPruning`` with
``group=None``: every rank selects its masks locally and identically, no extra communication),
validation and early stopping on the full validation split on every rank (identical weights ->
identical decisions). Only rank 0 streams epoch metrics and builds the ``TrialResult`` of each
spec (metrics of the restored best weights); they reach the caller as Ray Train V2's
``Result.return_value`` (rank 0's return value). The caller logs them (MLflow) once.

Per-epoch callbacks: rank 0 puts ``(epoch, metrics)`` on a ``ray.util.queue.Queue`` (a 0-CPU
actor); ``trainer.fit()`` runs in a helper thread while the *calling* thread drains the queue
and calls ``on_epoch`` live, in order (so ``tune.report`` inside ``on_epoch`` works as in a
single-worker trial and Tune schedulers see every epoch as it ends).

Resources (Ray Train V2): the Tune trial that calls this needs no cores of its own beyond a
small driver share -- ``TorchTrainer.fit()`` starts a 0-CPU controller actor and the workers
get their *own* placement group of ``workers x {"CPU": cpus_per_worker, "GPU": use_gpu}``,
outside the trial's placement group. So reserve e.g. ``{"cpu": 1}`` (or a fraction) for the
trial and make sure the cluster has ``workers * cpus_per_worker`` further CPUs per concurrent
trial (limit concurrency with ``TuneConfig(max_concurrent_trials=...)``; otherwise Tune can
start more drivers than there are worker slots and they wait). See :func:`resource_plan`.
"""

from __future__ import annotations

import importlib
import os
import queue as _stdqueue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import torch

from synprune.datasets import SeriesData, prepare_windows
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec
from synprune.experiment.train import EpochCallback, fit
from synprune.experiment.trial import build, check_group, evaluate_group, load_series
from synprune.runtime.session import ray_session

__all__ = ["resource_plan", "run_distributed_group", "run_distributed_trial"]

_POLL_S = 0.2


def _use_gpu(device: str) -> bool:
    """``cuda`` -> GPU workers; ``auto`` -> GPU workers when the Ray cluster has GPUs."""
    if device == "cuda":
        return True
    if device == "auto":
        import ray

        return ray.cluster_resources().get("GPU", 0) > 0
    return False


def resource_plan(
    workers: int, cpus_per_worker: float = 1.0, use_gpu: bool = False
) -> dict[str, Any]:
    """What one distributed trial occupies: the Tune trial (driver) and the Train workers.

    ``driver`` is what to give ``tune.with_resources`` (the driver only waits on the trainer
    and drains the epoch queue); ``per_worker`` x ``workers`` is what Ray Train requests in a
    placement group of its own; ``total_cpu`` / ``total_gpu`` is what a concurrent trial needs.
    """
    per_worker = {"CPU": float(cpus_per_worker), "GPU": 1.0 if use_gpu else 0.0}
    return {
        "driver": {"cpu": 1.0},
        "per_worker": per_worker,
        "workers": workers,
        "total_cpu": 1.0 + workers * per_worker["CPU"],
        "total_gpu": workers * per_worker["GPU"],
    }


def _train_worker(config: dict[str, Any]) -> list[TrialResult] | None:
    """Body of every Ray Train worker: DDP + the one ``fit`` loop; rank 0 returns the results."""
    import ray
    import ray.train
    import ray.train.torch
    from torch.nn.parallel import DistributedDataParallel

    for module in config["plugins"]:  # plugin models / regularizers register on import
        importlib.import_module(module)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    specs = [TrialSpec.from_dict(d) for d in config["specs"]]
    spec = specs[0]
    if spec.train.num_threads:
        torch.set_num_threads(spec.train.num_threads)
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    data: SeriesData = ray.get(config["data"])
    windows = prepare_windows(data, spec.seq_len, spec.horizon, spec.protocol)
    model, regularizer = build(spec, windows)  # seeded: identical initial weights everywhere
    model.to(device)
    ddp = DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    epochs = config["queue"]

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if rank == 0 and epochs is not None:
            epochs.put((epoch, dict(metrics)))

    fitted = fit(ddp, regularizer, windows, spec.train, seed=spec.seed, device=device,
                 on_epoch=on_epoch, rank=rank, world_size=world, attach_to=model)  # fmt: skip
    if rank != 0:
        return None
    backend = "nccl" if device.type == "cuda" else "gloo"
    notes = [*data.notes, f"workers={world}: Ray Train TorchTrainer, DDP over {backend}"]
    return evaluate_group(specs, model, regularizer, windows, fitted, device, notes)


def run_distributed_trial(
    spec: TrialSpec,
    data: SeriesData | None = None,
    on_epoch: EpochCallback | None = None,
    *,
    cpus_per_worker: float = 1.0,
    storage_path: str | None = None,
    plugins: Sequence[str] = (),
) -> TrialResult:
    """One spec on ``spec.workers`` Ray Train workers; see :func:`run_distributed_group`."""
    return run_distributed_group(
        [spec], data, on_epoch, cpus_per_worker=cpus_per_worker,
        storage_path=storage_path, plugins=plugins,
    )[0]  # fmt: skip


def run_distributed_group(
    specs: Sequence[TrialSpec],
    data: SeriesData | None = None,
    on_epoch: EpochCallback | None = None,
    *,
    cpus_per_worker: float = 1.0,
    storage_path: str | None = None,
    plugins: Sequence[str] = (),
) -> list[TrialResult]:
    """Train ``specs`` (identical training) once on ``workers`` Ray Train workers (DDP) and
    return rank 0's result for each spec.

    Args:
        specs: one spec, or several that train identically; ``workers`` >= 1 workers (1 works
            too: one Ray Train worker).
        data: the loaded series (loaded here from the spec when ``None``); put in the object
            store once and shared by the workers.
        on_epoch: called in *this* thread with ``(epoch, metrics)`` as each epoch ends on
            rank 0 (same keys as a single-worker trial: train_loss, val_loss, sparsity, ...).
        cpus_per_worker: CPUs Ray Train reserves per worker (plus one GPU each on GPU runs).
        storage_path: Ray Train's storage for this run (default: a temporary folder,
            removed afterwards; nothing is checkpointed).
        plugins: modules each worker imports first (the sweep's plugins, which register
            models / regularizers); they must be importable on the workers (PYTHONPATH).

    Errors in a worker propagate (Ray Train's ``TrainingFailedError``).
    """
    if os.environ.get("RAY_TRAIN_V2_ENABLED", "1").lower() not in ("1", "true"):  # Ray's rule
        raise RuntimeError("distributed trials need Ray Train V2: unset RAY_TRAIN_V2_ENABLED")
    check_group(specs)
    tmp = None if storage_path else tempfile.mkdtemp(prefix="synprune-train-")
    try:
        with ray_session(None, None):  # the running Ray, RAY_ADDRESS, or a local loopback one
            return _fit_on_workers(
                specs, data, on_epoch, cpus_per_worker, storage_path or str(tmp), plugins
            )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _fit_on_workers(
    specs: Sequence[TrialSpec],
    data: SeriesData | None,
    on_epoch: EpochCallback | None,
    cpus_per_worker: float,
    storage_path: str,
    plugins: Sequence[str],
) -> list[TrialResult]:
    import ray
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Empty, Queue

    spec = specs[0]
    epochs: Any = None
    try:
        data = data if data is not None else load_series(spec)
        use_gpu = _use_gpu(spec.train.device)
        epochs = Queue(actor_options={"num_cpus": 0}) if on_epoch is not None else None
        per_worker = resource_plan(spec.workers, cpus_per_worker, use_gpu)["per_worker"]
        trainer = TorchTrainer(
            _train_worker,
            train_loop_config={
                "specs": [s.to_dict() for s in specs],
                "data": ray.put(data),
                "queue": epochs,
                "use_gpu": use_gpu,
                "plugins": list(plugins),
            },
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            scaling_config=ray.train.ScalingConfig(
                num_workers=spec.workers,
                use_gpu=use_gpu,
                resources_per_worker={k: v for k, v in per_worker.items() if v},
            ),
            run_config=ray.train.RunConfig(
                name=f"synprune-{spec.spec_id}-{uuid.uuid4().hex[:8]}",
                storage_path=storage_path,
            ),
        )
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = trainer.fit()
            except BaseException as exc:  # re-raised in the calling thread
                outcome["error"] = exc

        thread = threading.Thread(target=run, name=f"synprune-train-{spec.spec_id}", daemon=True)
        thread.start()
        while thread.is_alive() or (epochs is not None and not epochs.empty()):
            if epochs is None:
                thread.join(_POLL_S)
                continue
            try:
                epoch, metrics = epochs.get(timeout=_POLL_S)
            except (Empty, _stdqueue.Empty):
                continue
            if on_epoch is not None:
                on_epoch(epoch, metrics)
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        results = outcome["result"].return_value
        if not (isinstance(results, list) and all(isinstance(r, TrialResult) for r in results)):
            raise RuntimeError(f"rank 0 returned {type(results).__name__}, not TrialResults")
        return results
    finally:
        if epochs is not None:
            epochs.shutdown()
