"""The ONE trial executor: specs that train identically (one spec, or a group from
``experiment.trial.group_by_training``) run in this process, or as one Ray Train DDP trial when
``workers > 1``. Sweep and tune both call :func:`execute`; nothing else dispatches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from synprune.config.loader import Resources
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec
from synprune.experiment.train import EpochCallback


def data_key(spec: TrialSpec) -> str:
    """Which loaded dataset a spec uses (csv datasets differ by target/date column)."""
    return f"{spec.dataset}|{spec.target or ''}|{spec.date_column or ''}"


def trial_resources(res: Resources) -> dict[str, float]:
    """What Tune reserves per trial: with ``workers > 1`` the trial is only a Ray Train
    driver (1 CPU) and its TorchTrainer requests ``workers`` x (cpu, gpu) of its own."""
    if res.workers > 1:
        return {"cpu": 1.0}
    return {"cpu": res.cpu, "gpu": res.gpu} if res.gpu else {"cpu": res.cpu}


def max_concurrent_trials(res: Resources, configured: int = 0) -> int | None:
    """How many Tune trials may run at once: ``configured`` when > 0; else, with
    ``workers > 1``, as many as the cluster holds whole (each trial is a 1-CPU driver whose
    Train workers need CPUs of their own; unbounded, Tune could fill the cluster with drivers
    that wait forever for workers); else no cap (None)."""
    if configured:
        return configured
    if res.workers == 1:
        return None
    import ray

    from synprune.runtime.distributed import resource_plan

    plan = resource_plan(res.workers, res.cpu, res.gpu > 0)
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    return max(1, int(cpus // plan["total_cpu"]))


def parallel_slots(res: Resources, cap: int | None) -> int:
    """Trials that can run at once on the connected cluster (for the ETA)."""
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    per_trial = 1.0 + res.workers * res.cpu if res.workers > 1 else res.cpu
    fit = max(1, int(cpus // per_trial))
    return min(fit, cap) if cap else fit


def results_payload(results: Sequence[TrialResult]) -> str:
    """Results as JSON text (what a Tune trial reports to the driver; histories included)."""
    # everything, the trained model and the per-window test forecasts included
    return json.dumps([r.to_wire() for r in results], default=str)


def results_from_payload(payload: str) -> list[TrialResult]:
    return [TrialResult.from_wire(d) for d in json.loads(payload)]


def execute(
    specs: Sequence[TrialSpec],
    data: Any = None,
    on_epoch: EpochCallback | None = None,
    *,
    cpus_per_worker: float = 1.0,
    plugins: Sequence[str] = (),
) -> list[TrialResult]:
    """Train ``specs`` once and return one result per spec. ``workers > 1`` runs a Ray Train
    TorchTrainer (DDP) whose workers take their own placement group
    (see ``distributed.resource_plan``)."""
    if specs[0].workers == 1:
        from synprune.experiment.trial import run_trial_group

        return run_trial_group(specs, data, on_epoch=on_epoch)
    from synprune.runtime.distributed import run_distributed_group

    return run_distributed_group(
        specs, data, on_epoch, cpus_per_worker=cpus_per_worker, plugins=plugins
    )
