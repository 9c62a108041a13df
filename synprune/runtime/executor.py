"""The ONE trial executor: a spec runs in this process, or as a Ray Train DDP trial when
``spec.workers > 1``. Sweep and tune both call :func:`execute`; nothing else dispatches."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from synprune.config.loader import Resources
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec


def data_key(spec: TrialSpec) -> str:
    """Which loaded dataset a spec uses (csv datasets differ by target/date column)."""
    return f"{spec.dataset}|{spec.target or ''}|{spec.date_column or ''}"


def trial_resources(res: Resources) -> dict[str, float]:
    """What Tune reserves per trial. Seam for issue 5: with ``workers > 1`` the trial is only
    a Ray Train controller (1 CPU) and its TorchTrainer requests ``workers`` x (cpu, gpu)."""
    if res.workers > 1:
        return {"cpu": 1.0}
    return {"cpu": res.cpu, "gpu": res.gpu} if res.gpu else {"cpu": res.cpu}


def result_payload(result: TrialResult) -> str:
    d = result.to_json()
    d["history"] = result.history
    return json.dumps(d, default=str)


def result_from_payload(payload: str) -> TrialResult:
    return TrialResult(**json.loads(payload))


def execute(
    spec: TrialSpec,
    data: Any = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    *,
    cpus_per_worker: float = 1.0,
    plugins: tuple[str, ...] = (),
) -> TrialResult:
    """One spec in this Tune trial; ``workers > 1`` runs a Ray Train TorchTrainer (DDP) whose
    workers take their own placement group (see ``distributed.resource_plan``)."""
    if spec.workers == 1:
        from synprune.experiment.trial import run_trial

        return run_trial(spec, data, on_epoch=on_epoch)
    from synprune.runtime.distributed import run_distributed_trial

    return run_distributed_trial(
        spec, data, on_epoch, cpus_per_worker=cpus_per_worker, plugins=plugins
    )
