"""workers=2 trials through Ray Train V2 (TorchTrainer, DDP over gloo) on a real local Ray.

One local Ray runtime (3 logical CPUs: one Tune trial driver + 2 Train workers) serves both
tests. The sweep with MLflow logging lives in the sweep's tests; here the entry point is called
directly (through the one executor) and from inside a Tune function trainable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from synprune.datasets import SeriesData, load_dataset
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec

pytestmark = [pytest.mark.ray, pytest.mark.distributed]


def _spec(workers: int, epochs: int = 3, device: str = "cpu") -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 8, "num_layers": 1}),
        # pruning ends within epoch 1, so the restored best epoch always has the final masks
        regularizer=ComponentSpec(
            "synaptic", {"final_sparsity": 0.5, "prune_every": 2, "end_frac": 0.3}
        ),
        seq_len=8,
        train=TrainSpec(
            epochs=epochs, batch_size=64, patience=0, lr=1e-2, num_threads=1, device=device
        ),
        workers=workers,
    )


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray runtime is already initialised in this process")
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def series() -> SeriesData:
    return load_dataset("synthetic")


def test_two_worker_trial_matches_single_worker(local_ray: Any, series: SeriesData) -> None:
    from synprune.runtime.executor import execute

    seen: list[tuple[int, dict[str, float]]] = []
    (dist,) = execute([_spec(2)], series, on_epoch=lambda e, m: seen.append((e, m)))
    (single,) = execute([_spec(1)], series)

    assert dist.status == "finished" and dist.spec.workers == 2
    assert any("workers=2" in n and "gloo" in n for n in dist.notes)
    assert dist.epochs_run == 3 and len(dist.history) == 3
    # epochs streamed live to the caller, in order, with the metrics of the history
    assert [e for e, _ in seen] == [1, 2, 3]
    assert [m["val_loss"] for _, m in seen] == [h["val_loss"] for h in dist.history]
    assert {"train_loss", "val_loss", "sparsity"} <= set(seen[0][1])
    # synaptic pruning reached its target: floor(0.5 N) of N prunable weights
    n = 4 * 8 * (3 + 8) + 8  # LSTM(3 -> 8) weight_ih + weight_hh, head Linear(8 -> 1)
    assert dist.final_sparsity == math.floor(0.5 * n) / n == single.final_sparsity
    for r in (dist, single):
        for key in ("test_mae", "test_rmse", "test_mse", "naive_mae", "val_loss"):
            assert math.isfinite(getattr(r, key)) and getattr(r, key) > 0
    # same data and test windows; DDP halves the steps per epoch, so close but not equal
    assert dist.naive_mae == single.naive_mae
    assert 0.5 < dist.test_mae / single.test_mae < 2.0
    assert dist.test_rmse >= dist.test_mae


def test_workers2_trial_inside_a_tune_trial(
    local_ray: Any, series: SeriesData, tmp_path: Path
) -> None:
    """Train V2's pattern: the Tune trial (1 CPU) drives a nested TorchTrainer (2 x 1 CPU)."""
    from ray import tune

    from synprune.runtime.distributed import resource_plan, run_distributed_trial

    data_ref = local_ray.put(series)

    def trainable(config: dict[str, Any]) -> None:
        spec = TrialSpec.from_dict(config["spec"])

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            tune.report({"epoch": epoch, **metrics})

        result = run_distributed_trial(spec, local_ray.get(data_ref), on_epoch=on_epoch)
        tune.report({"final": 1, "test_mae": result.test_mae, "sparsity": result.final_sparsity})

    plan = resource_plan(2)
    assert plan["total_cpu"] == 3.0  # what one concurrent trial needs in the cluster
    tuner = tune.Tuner(
        tune.with_resources(trainable, plan["driver"]),
        param_space={"spec": _spec(2, epochs=2).to_dict()},
        tune_config=tune.TuneConfig(max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="ddp-in-tune", verbose=0),
    )
    grid = tuner.fit()
    assert grid.num_errors == 0
    frame = grid[0].metrics_dataframe
    assert frame["epoch"].dropna().tolist()[:2] == [1, 2]  # streamed per epoch
    last = grid[0].metrics
    assert last["final"] == 1 and math.isfinite(last["test_mae"])
    assert last["sparsity"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_distributed_trial_on_gpus_uses_nccl(local_ray: Any, series: SeriesData) -> None:
    from synprune.runtime.distributed import run_distributed_trial

    workers = min(2, torch.cuda.device_count())  # nccl needs one GPU per rank
    result = run_distributed_trial(_spec(workers, epochs=2, device="cuda"), series)
    assert result.status == "finished"
    assert any(f"workers={workers}" in n and "nccl" in n for n in result.notes)
    assert result.final_sparsity == pytest.approx(0.5, abs=0.01)
    assert math.isfinite(result.test_mae)
