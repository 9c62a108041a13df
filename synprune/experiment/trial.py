"""One trial, spec -> result, with neither Ray nor MLflow (they wrap this at thin edges).

Arms that train identically share one training run (:func:`run_trial_group`): two specs whose
regularizers act on training *only* through ``model_kwargs()`` (every training hook is the
base class's no-op) and whose model kwargs and remaining spec fields are equal get the same
model from the same random numbers (the loop validates with a deterministic pass, see
``experiment.train``), e.g. ``dropout[p=0.3]`` and ``mc_dropout[p=0.3,samples=30]`` with the
same seed. The group trains once; each spec is then scored with its own ``predict`` from the
same post-training random state, so a spec's result does not depend on its group.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from synprune.datasets import SeriesData, WindowedData, load_dataset, prepare_windows
from synprune.experiment.evaluate import (
    References,
    evaluate_split,
    reference_metrics,
    references,
)
from synprune.experiment.model_state import encode_model_state
from synprune.experiment.params import thaw
from synprune.experiment.results import TrialResult, encode_predictions
from synprune.experiment.spec import TrialSpec
from synprune.experiment.train import (
    EpochCallback,
    FitResult,
    fit,
    resolve_device,
    validation_loss,
)
from synprune.models import create_model
from synprune.regularizers import Regularizer, create_regularizer

#: hooks through which a regularizer can change training beyond ``model_kwargs()``
_TRAINING_HOOKS = (
    "attach",
    "after_optimizer_step",
    "optimizer_kwargs",
    "loss_penalty",
    "settle_fraction",
    "settled",
    "metrics",
    "state_dict",
    "load_state_dict",
)


def load_series(spec: TrialSpec) -> SeriesData:
    """The trial's dataset (from SYNPRUNE_DATA_DIR, downloaded and verified if missing)."""
    return load_dataset(
        spec.dataset,
        target=spec.target,
        date_column=spec.date_column,
        missing_value=spec.missing_value,
    )


def make_regularizer(spec: TrialSpec) -> Regularizer:
    return create_regularizer(spec.regularizer.name, **thaw(spec.regularizer.params))


def build(spec: TrialSpec, windows: WindowedData) -> tuple[torch.nn.Module, Regularizer]:
    """Seeded model + regularizer for ``spec``; the seed fixes the initialisation."""
    torch.manual_seed(spec.seed)
    regularizer = make_regularizer(spec)
    model = create_model(
        spec.model.name,
        n_features=windows.n_features,
        seq_len=spec.seq_len,
        horizon=spec.horizon,
        **thaw(spec.model.params),
        **regularizer.model_kwargs(),
    )
    return model, regularizer


def training_key(spec: TrialSpec) -> str | None:
    """Equal keys = identical training; ``None`` = the spec trains with hooks of its own."""
    reg = make_regularizer(spec)
    if any(getattr(type(reg), h) is not getattr(Regularizer, h) for h in _TRAINING_HOOKS):
        return None
    d = spec.to_dict()
    d.pop("swept", None)
    d["regularizer"] = {"model_kwargs": reg.model_kwargs()}
    return json.dumps(d, sort_keys=True, default=repr)


def group_by_training(specs: Sequence[TrialSpec]) -> list[list[TrialSpec]]:
    """Specs in groups that share one training run (order kept; singletons where no twin)."""
    groups: list[list[TrialSpec]] = []
    by_key: dict[str, list[TrialSpec]] = {}
    for spec in specs:
        key = training_key(spec)
        if key is not None and key in by_key:
            by_key[key].append(spec)
            continue
        group = [spec]
        groups.append(group)
        if key is not None:
            by_key[key] = group
    return groups


def check_group(specs: Sequence[TrialSpec]) -> None:
    if not specs:
        raise ValueError("a trial group needs at least one spec")
    if len(specs) > 1:
        keys = {training_key(s) for s in specs}
        if len(keys) != 1 or None in keys:
            ids = ", ".join(s.spec_id for s in specs)
            raise ValueError(f"specs {ids} do not train identically; run them separately")


#: reference forecasts per loaded series and (seq_len, horizon, protocol, season): they are
#: deterministic, so the arms and seeds of a block share one computation (the sweep shares
#: its loaded SeriesData across trials)
_REFERENCES: weakref.WeakKeyDictionary[SeriesData, dict[tuple[Any, ...], References]] = (
    weakref.WeakKeyDictionary()
)


def trial_references(spec: TrialSpec, windows: WindowedData) -> References:
    """The reference forecasts of ``spec``'s test windows (cached; see ``_REFERENCES``);
    the season is ``spec.season``, else the dataset's."""
    data = windows.series
    if data is None:
        raise ValueError("WindowedData without its series: use prepare_windows")
    season = spec.season if spec.season is not None else int(data.season or 1)
    key = (spec.seq_len, spec.horizon, spec.protocol, season)
    cache = _REFERENCES.setdefault(data, {})
    if key not in cache:
        cache[key] = references(windows, season, str(spec.protocol))
    return cache[key]


def evaluate_group(
    specs: Sequence[TrialSpec],
    model: torch.nn.Module,
    regularizer: Regularizer,
    windows: WindowedData,
    fitted: FitResult,
    device: torch.device,
    notes: list[str],
) -> list[TrialResult]:
    """Each spec's validation and test metrics on the restored model, scored with its own
    ``predict`` (``regularizer`` is the trained one of ``specs[0]``)."""
    ids = [s.spec_id for s in specs]
    devices = [device.index or 0] if device.type == "cuda" else []
    out = []
    for i, spec in enumerate(specs):
        reg = regularizer if i == 0 else make_regularizer(spec)
        with torch.random.fork_rng(devices=devices):  # same random state for every spec
            val_loss = validation_loss(model, reg, windows, spec.train.batch_size, device)
            test, forecast = evaluate_split(
                model,
                reg,
                windows.x_test,
                windows.y_test,
                windows.naive_test,
                target_mean=windows.target_mean,
                target_std=windows.target_std,
                prefix="test",
                device=device,
            )
        others = [x for x in ids if x != spec.spec_id]
        refs = trial_references(spec, windows)
        ref = reference_metrics(refs, forecast.numpy())
        out.append(
            TrialResult(
                spec=spec,
                val_loss=val_loss,
                epochs_run=fitted.epochs_run,
                best_epoch=fitted.best_epoch,
                final_sparsity=float(fitted.restored_metrics.get("sparsity", 0.0)),
                train_seconds=fitted.seconds,
                tensor_sparsity=dict(fitted.restored_tensor_sparsity),
                start_time_ms=fitted.start_time_ms,
                end_time_ms=fitted.end_time_ms,
                shares_training_with=",".join(others),
                model_state=encode_model_state(model, reg, windows),  # for the driver to log
                history=[dict(h) for h in fitted.history],
                notes=[
                    *notes,
                    *refs.notes,
                    *([f"trained once with {', '.join(others)}"] if others else []),
                ],
                test_mae=test["test_mae"],
                test_rmse=test["test_rmse"],
                test_mse=test["test_mse"],
                naive_mae=test["naive_mae"],
                naive_rmse=test["naive_rmse"],
                snaive_mae=ref["snaive_mae"],
                linear_mae=ref["linear_mae"],
                smape=ref["smape"],
                mase=ref["mase"],
                season=refs.season,
                linear_alpha=refs.linear_alpha,
                predictions=encode_predictions(
                    refs.window,
                    target=refs.target,
                    prediction=forecast.numpy(),
                    naive=windows.naive_test.numpy(),
                    snaive=refs.snaive,
                    linear=refs.linear,
                ),
            )
        )
    return out


def run_trial_group(
    specs: Sequence[TrialSpec],
    data: SeriesData | None = None,
    *,
    on_epoch: EpochCallback | None = None,
) -> list[TrialResult]:
    """Train once for specs that train identically (see :func:`group_by_training`) and return
    one result per spec, in order; errors propagate. ``data`` lets a caller (the sweep) load
    a dataset once and share it across trials. Multi-worker (DDP) trials are run by
    ``synprune.runtime.executor.execute``."""
    check_group(specs)
    spec = specs[0]
    data = data if data is not None else load_series(spec)
    windows = prepare_windows(data, spec.seq_len, spec.horizon, spec.protocol)
    device = resolve_device(spec.train.device)
    if spec.train.num_threads:
        torch.set_num_threads(spec.train.num_threads)
    model, regularizer = build(spec, windows)
    model.to(device)
    fitted = fit(
        model, regularizer, windows, spec.train, seed=spec.seed, device=device, on_epoch=on_epoch
    )
    return evaluate_group(specs, model, regularizer, windows, fitted, device, list(data.notes))


def run_trial(
    spec: TrialSpec,
    data: SeriesData | None = None,
    *,
    on_epoch: EpochCallback | None = None,
) -> TrialResult:
    """Run one trial in this process and return its result; errors propagate."""
    return run_trial_group([spec], data, on_epoch=on_epoch)[0]
