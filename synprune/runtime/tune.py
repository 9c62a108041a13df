"""``synprune tune``: Optuna TPE through Ray Tune's ``OptunaSearch``, per (model, dataset) cell.

Arms: ``synaptic`` (final_sparsity, start_frac, end_frac, prune_every, schedule) and the dropout
baselines ``dropout`` / ``mc_dropout`` (p) -- every arm gets the same trial budget. A Tune trial
is one parameter set run on every tuning seed; its objective is the best validation loss
(``TrialResult.val_loss``, scaled MSE) averaged over those seeds. The test split is never read.
``end_frac`` is sampled as ``start_frac + end_gap * (1 - start_frac)`` so start < end always.

Persistence and resuming: each (cell, arm) is one Optuna study named
``<experiment>/<model>/<dataset>/<arm>/L<seq_len>H<horizon>`` in RDB storage
(``[tuning].storage``, SQLite by default), handed to ``OptunaSearch(study_name=, storage=)``
which loads it if it exists. ``--trials N`` / ``[tuning].trials`` is the **cumulative** budget
per study: a later invocation runs only ``N - (trials already ended)`` more, so an interrupted
tuning resumes where it stopped and a higher N extends a study. Trials an interrupted invocation
left RUNNING are marked FAIL (user attr ``interrupted``) and do not count. The sampler seed
depends on the study name and its trial count, so a resumed study does not replay its random
start-up points.

Output: best params per cell/arm merged into the JSON file the config's ``tuned`` key names
(else ``<store>/tuned/<experiment>.json``) -- the file a sweep config references -- and one
MLflow run per cell/arm (experiment ``<experiment>-tune``, ``run_kind=tune``) with the best
params, the objective and the trial count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import TrialState
from ray import tune
from ray.tune.logger import JsonLoggerCallback
from ray.tune.search.optuna import OptunaSearch

from synprune.config.loader import SweepConfig
from synprune.config.tuning import Dim
from synprune.experiment.spec import TrialSpec
from synprune.runtime.sweep import data_key, load_data, ray_session, trial_resources


def to_reg_params(sampled: dict[str, Any]) -> dict[str, Any]:
    """Sampled values -> regularizer params (``end_gap`` becomes ``end_frac``)."""
    params = dict(sampled)
    if "end_gap" in params:
        start = float(params.get("start_frac", 0.0))
        params["end_frac"] = min(1.0, start + float(params.pop("end_gap")) * (1.0 - start))
    return params


class SearchSpace:
    """Define-by-run space for ``OptunaSearch`` over ``dims`` (a picklable callable: Tune
    pickles the searcher into its experiment state)."""

    def __init__(self, dims: dict[str, Dim]) -> None:
        self.dims = dict(dims)

    def __call__(self, trial: optuna.Trial) -> None:
        for name, d in self.dims.items():
            if d.kind == "categorical":
                trial.suggest_categorical(name, list(d.choices))
            elif d.kind == "int":
                trial.suggest_int(name, int(d.low), int(d.high), log=d.log)
            else:
                trial.suggest_float(name, d.low, d.high, log=d.log)


def tune_trainable(
    config: dict[str, Any],
    *,
    base: dict[str, Any],
    data: Any,
    seeds: tuple[int, ...],
    threads: int,
    plugins: tuple[str, ...] = (),
) -> None:
    """One parameter set on every tuning seed; reports the mean best validation loss.
    ``data`` arrives by object reference (``tune.with_parameters`` resolves it)."""
    import torch

    from synprune.config.loader import import_plugins
    from synprune.runtime.executor import execute

    import_plugins(plugins)
    torch.set_num_threads(threads)
    d = dict(base)
    d["regularizer"] = {
        "name": base["regularizer"]["name"],
        "params": {**base["regularizer"]["params"], **to_reg_params(config)},
    }
    losses = []
    for seed in seeds:
        d["seed"] = seed
        losses.append(execute(TrialSpec.from_dict(d), data, plugins=plugins).val_loss)
    objective = float(sum(losses) / len(losses))
    if not math.isfinite(objective):
        raise FloatingPointError(f"validation loss {objective} for {config}")
    tune.report({"objective": objective, "n_seeds": len(losses)})


def _retire_interrupted(storage: optuna.storages.BaseStorage, study_name: str) -> None:
    try:
        sid = storage.get_study_id_from_name(study_name)
    except KeyError:
        return
    for t in storage.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def _ended(storage: optuna.storages.BaseStorage, study_name: str) -> list[Any]:
    try:
        sid = storage.get_study_id_from_name(study_name)
    except KeyError:
        return []
    return [
        t
        for t in storage.get_all_trials(sid, deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get("interrupted")
    ]


def _storage(url: str) -> optuna.storages.RDBStorage:
    if url.startswith("sqlite:///"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    )


def run_tuning(
    cfg: SweepConfig,
    tracking_uri: str,
    *,
    trials: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> dict[str, Any]:
    """Tune every (model, dataset) cell x arm; returns the tuned-file content."""
    from synprune.tracking.uri import store_dir
    from synprune.tracking.writer import RunRecord, Tracker

    t = cfg.tuning
    g = cfg.grid
    budget = trials if trials is not None else t.trials
    seq_len = t.seq_len or sorted(g["seq_len"])[(len(g["seq_len"]) - 1) // 2]
    horizon = t.horizon or g["horizon"][0]
    train = dataclasses.replace(cfg.train, epochs=t.epochs) if t.epochs else cfg.train
    arms = list(t.regularizers) or [r for r in g["regularizer"] if r in t.space]
    if not arms:
        raise cfg.err(
            "nothing to tune: no grid regularizer has a [tuning.space] "
            f"(tunable: {', '.join(sorted(t.space))})"
        )
    # validate every base spec and build every model before anything runs
    bases = {
        (m, ds, arm): cfg.spec_for(
            model=m,
            dataset=ds,
            regularizer=arm,
            seq_len=seq_len,
            horizon=horizon,
            seed=t.seeds[0],
            train=train,
        )
        for m in g["model"]
        for ds in g["dataset"]
        for arm in arms
    }
    data = load_data(list(bases.values()))
    cfg.check_models(
        list(bases.values()), {k.split("|")[0]: v.values.shape[1] for k, v in data.items()}
    )
    storage = _storage(t.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out_path = cfg.tuned_path or store_dir(tracking_uri) / "tuned" / f"{cfg.experiment}.json"
    doc = json.loads(out_path.read_text()) if out_path.is_file() else {}
    doc.update(
        version=1,
        experiment=cfg.experiment,
        seq_len=seq_len,
        horizon=horizon,
        objective="best validation loss (scaled MSE), mean over tuning seeds",
        seeds=list(t.seeds),
        storage=t.storage,
    )
    cells: dict[str, Any] = doc.setdefault("tuned", {})
    tracker = Tracker(tracking_uri, f"{cfg.experiment}-tune")
    threads = cfg.resources.threads
    with ray_session(address, num_cpus):
        refs: dict[str, Any] = {}
        for (m, ds, arm), base in bases.items():
            key = data_key(base)
            if key not in refs:
                refs[key] = ray.put(data[key])
            study = f"{cfg.experiment}/{m}/{ds}/{arm}/L{seq_len}H{horizon}"
            _retire_interrupted(storage, study)
            todo = budget - len(_ended(storage, study))
            print(
                f"tune {m} {ds} {arm}: study {study!r}, "
                + (f"{todo} trial(s) to run" if todo > 0 else "budget reached"),
                flush=True,
            )
            if todo > 0:
                _run_study(
                    cfg,
                    study,
                    storage,
                    base,
                    refs[key],
                    t.space[arm],
                    todo,
                    threads,
                    store_dir(tracking_uri),
                )
            ended = _ended(storage, study)
            done = [x for x in ended if x.state == TrialState.COMPLETE]
            if not done:
                print(f"tune {m} {ds} {arm}: no trial completed", flush=True)
                continue
            best = min(done, key=lambda x: x.value)
            params = to_reg_params(best.params)
            cells.setdefault(m, {}).setdefault(ds, {})[arm] = {
                "params": params,
                "objective": best.value,
                "trials": len(ended),
                "study": study,
            }
            print(
                f"tune {m} {ds} {arm}: best objective {best.value:.5g} after {len(ended)} "
                f"trials: {json.dumps(params)}",
                flush=True,
            )
            tracker.write(
                RunRecord(
                    kind="tune",
                    run_name=f"tune-{m}-{ds}-{arm}",
                    status="finished",
                    tags={
                        "model": m,
                        "dataset": ds,
                        "regularizer": arm,
                        "study": study,
                        "seq_len": str(seq_len),
                        "horizon": str(horizon),
                    },
                    params={k: str(v) for k, v in params.items()},
                    metrics={"objective": best.value, "n_trials": len(ended)},
                )
            )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out_path)
    left = tracker.flush(timeout=60)
    if left:
        print(f"warning: {left} tune run(s) wait in {tracker.spool_dir} ({tracker.last_error})")
    doc["_path"] = str(out_path)
    return doc


def _run_study(
    cfg: SweepConfig,
    study: str,
    storage: Any,
    base: TrialSpec,
    data_ref: Any,
    dims: dict[str, Dim],
    todo: int,
    threads: int,
    store: Path,
) -> None:
    n_before = len(_ended(storage, study))
    seed = int(hashlib.sha256(f"{study}#{n_before}".encode()).hexdigest()[:8], 16)
    searcher = OptunaSearch(
        space=SearchSpace(dims),
        metric="objective",
        mode="min",
        study_name=study,
        storage=storage,
        seed=seed,
    )
    trainable = tune.with_resources(
        tune.with_parameters(
            tune_trainable,
            base=base.to_dict(),
            data=data_ref,
            seeds=cfg.tuning.seeds,
            threads=threads,
            plugins=cfg.plugins,
        ),
        trial_resources(cfg.resources),
    )
    name = study.replace("/", "_")
    tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=todo,
            max_concurrent_trials=cfg.tuning.max_concurrent or None,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{name}-{int(time.time())}",
            storage_path=str(store / "ray-tune"),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg.tuning.max_failures),
            callbacks=[JsonLoggerCallback()],
        ),
    ).fit()
