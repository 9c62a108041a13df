"""One trial, spec -> result, with neither Ray nor MLflow (they wrap this at thin edges)."""

from __future__ import annotations

import torch

from synprune.datasets import SeriesData, WindowedData, load_dataset, prepare_windows
from synprune.experiment.evaluate import evaluate_split
from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec
from synprune.experiment.train import EpochCallback, FitResult, fit, resolve_device
from synprune.models import create_model
from synprune.regularizers import Regularizer, create_regularizer


def load_series(spec: TrialSpec) -> SeriesData:
    """The trial's dataset (from SYNPRUNE_DATA_DIR, downloaded and verified if missing)."""
    return load_dataset(spec.dataset, target=spec.target, date_column=spec.date_column)


def build(spec: TrialSpec, windows: WindowedData) -> tuple[torch.nn.Module, Regularizer]:
    """Seeded model + regularizer for ``spec``; the seed fixes the initialisation."""
    torch.manual_seed(spec.seed)
    regularizer = create_regularizer(spec.regularizer.name, **dict(spec.regularizer.params))
    model = create_model(
        spec.model.name,
        n_features=windows.n_features,
        seq_len=spec.seq_len,
        horizon=spec.horizon,
        **dict(spec.model.params),
        **regularizer.model_kwargs(),
    )
    return model, regularizer


def finish(
    spec: TrialSpec,
    model: torch.nn.Module,
    regularizer: Regularizer,
    windows: WindowedData,
    fitted: FitResult,
    device: torch.device,
    notes: list[str],
) -> TrialResult:
    """Test-split metrics of the restored best model, next to the naive forecast."""
    test = evaluate_split(
        model,
        regularizer,
        windows.x_test,
        windows.y_test,
        windows.naive_test,
        target_mean=windows.target_mean,
        target_std=windows.target_std,
        prefix="test",
        device=device,
    )
    return TrialResult(
        spec=spec.to_dict(),
        spec_id=spec.spec_id,
        val_loss=fitted.best_val_loss,
        epochs_run=fitted.epochs_run,
        best_epoch=fitted.best_epoch,
        final_sparsity=float(regularizer.metrics().get("sparsity", 0.0)),
        train_seconds=fitted.seconds,
        history=fitted.history,
        notes=notes,
        **test,
    )


def run_trial(
    spec: TrialSpec,
    data: SeriesData | None = None,
    *,
    on_epoch: EpochCallback | None = None,
) -> TrialResult:
    """Run one trial in this process and return its result; errors propagate.

    ``data`` lets a caller (the sweep) load a dataset once and share it across trials.
    Multi-worker (DDP) trials are run by ``synprune.runtime.executor.execute``.
    """
    data = data if data is not None else load_series(spec)
    windows = prepare_windows(data, spec.seq_len, spec.horizon)
    device = resolve_device(spec.train.device)
    if spec.train.num_threads:
        torch.set_num_threads(spec.train.num_threads)
    model, regularizer = build(spec, windows)
    model.to(device)
    fitted = fit(
        model, regularizer, windows, spec.train, seed=spec.seed, device=device, on_epoch=on_epoch
    )
    return finish(spec, model, regularizer, windows, fitted, device, list(data.notes))
