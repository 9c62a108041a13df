"""``synprune tune``: Optuna TPE through Ray Tune's ``OptunaSearch``, per (model, dataset) cell.

Arms: ``synaptic`` (final_sparsity, start_frac, end_frac, prune_every, schedule) and the dropout
baselines ``dropout`` / ``mc_dropout`` (p) -- every arm gets the same trial budget. A Tune trial
is one parameter set run on every tuning seed through the one executor
(``runtime.executor.execute``, so ``workers > 1`` runs Ray Train DDP as in a sweep, under the
same concurrency cap); its objective is the best validation loss (``TrialResult.val_loss``,
scaled MSE) averaged over those seeds. The test split is never read. ``end_frac`` is sampled
as ``start_frac + end_gap * (1 - start_frac)`` so start < end always.

Persistence and resuming (``runtime.studies``): each (cell, arm) is one Optuna study named
``<experiment>/<model>/<dataset>/<arm>/L<seq_len>H<horizon>``. ``--trials N`` /
``[tuning].trials`` is the **cumulative** budget per study: a later invocation runs only
``N - (trials already ended)`` more, so an interrupted tuning resumes where it stopped and a
higher N extends a study.

Before Ray starts, the stores, the datasets and every base spec are checked as for a sweep
(``runtime.preflight``); Ctrl-C stops as in a sweep (``runtime.interrupt``).

Output: best params per cell/arm merged into the JSON file the config's ``tuned`` key names
(else ``<store>/tuned/<experiment>.json``) -- the file a sweep config references -- and one
MLflow run per cell/arm (experiment ``<experiment>-tune``, ``run_kind=tune``) with the best
params, the objective and the trial count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from synprune.config.loader import SweepConfig
from synprune.config.tuning import Dim
from synprune.experiment.spec import TrialSpec
from synprune.runtime.console import no_colour_reset_at_exit
from synprune.runtime.executor import data_key, execute, max_concurrent_trials, trial_resources
from synprune.runtime.interrupt import StopTune, graceful_sigint, requested
from synprune.runtime.preflight import check_grid, check_store, load_data, open_tracker
from synprune.runtime.session import experiment_lock, ray_session
from synprune.runtime.studies import (
    SearchSpace,
    best_trial,
    ended_trials,
    open_storage,
    retire_interrupted,
    sampler_seed,
    to_reg_params,
)
from synprune.tracking.uri import is_sqlite, redact, store_dir

if TYPE_CHECKING:
    from synprune.tracking.writer import Tracker

Cell = tuple[str, str, str]  # (model, dataset, arm)


def tune_trainable(
    config: dict[str, Any],
    *,
    base: dict[str, Any],
    data: Any,
    seeds: tuple[int, ...],
    threads: int,
    plugins: tuple[str, ...] = (),
    cpus_per_worker: float = 1.0,
) -> None:
    """One parameter set on every tuning seed; reports the mean best validation loss.
    ``data`` arrives by object reference (``tune.with_parameters`` resolves it)."""
    import torch

    from synprune.config.loader import import_plugins

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
        spec = TrialSpec.from_dict(d)
        (result,) = execute([spec], data, cpus_per_worker=cpus_per_worker, plugins=plugins)
        losses.append(result.val_loss)
    objective = float(sum(losses) / len(losses))
    if not math.isfinite(objective):
        raise FloatingPointError(f"validation loss {objective} for {config}")
    tune.report({"objective": objective, "n_seeds": len(losses)})


@dataclass(frozen=True)
class TunePlan:
    """What one ``synprune tune`` invocation tunes: one validated base spec per cell."""

    seq_len: int
    horizon: int
    budget: int  # cumulative trials per study
    bases: dict[Cell, TrialSpec]

    def study(self, experiment: str, cell: Cell) -> str:
        m, ds, arm = cell
        return f"{experiment}/{m}/{ds}/{arm}/L{self.seq_len}H{self.horizon}"


def make_plan(cfg: SweepConfig, trials: int | None) -> TunePlan:
    """The cells x arms to tune, each base spec validated (a bad value is one line)."""
    t, g = cfg.tuning, cfg.grid
    seq_len = t.seq_len or sorted(g["seq_len"])[(len(g["seq_len"]) - 1) // 2]
    horizon = t.horizon or g["horizon"][0]
    train = dataclasses.replace(cfg.train, epochs=t.epochs) if t.epochs else cfg.train
    arms = list(t.regularizers) or [r for r in g["regularizer"] if r in t.space]
    if not arms:
        raise cfg.err(
            "nothing to tune: no grid regularizer has a [tuning.space] "
            f"(tunable: {', '.join(sorted(t.space))})"
        )
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
    budget = trials if trials is not None else t.trials
    return TunePlan(seq_len=seq_len, horizon=horizon, budget=budget, bases=bases)


def run_tuning(
    cfg: SweepConfig,
    tracking_uri: str,
    *,
    trials: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> dict[str, Any]:
    """Tune every (model, dataset) cell x arm; returns the tuned-file content (``_path``: where
    it was written; ``_interrupted``: True after Ctrl-C, with the cells done so far)."""
    check_store(tracking_uri)
    if is_sqlite(cfg.tuning.storage):
        check_store(cfg.tuning.storage, what="[tuning].storage")
    plan = make_plan(cfg, trials)
    specs = list(plan.bases.values())
    data = load_data(specs)
    check_grid(cfg, specs, data)
    storage = open_storage(cfg.tuning.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out_path = cfg.tuned_path or store_dir(tracking_uri) / "tuned" / f"{cfg.experiment}.json"
    doc = _tuned_doc(cfg, plan, out_path)
    interrupted = False
    try:
        with (
            graceful_sigint(),
            experiment_lock(store_dir(tracking_uri), f"{cfg.experiment}-tune"),
        ):
            tracker = open_tracker(tracking_uri, f"{cfg.experiment}-tune")
            with ray_session(address, num_cpus):
                _tune_cells(cfg, plan, data, storage, tracker, doc, store_dir(tracking_uri))
            left = tracker.flush(timeout=60)
            if left:
                print(f"warning: {left} tune run(s) wait in {tracker.spool_dir} "
                      f"({tracker.last_error})")  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
    finally:
        no_colour_reset_at_exit()
        _write_json(out_path, doc)
    doc["_path"] = str(out_path)
    doc["_interrupted"] = interrupted or requested()
    return doc


def _tuned_doc(cfg: SweepConfig, plan: TunePlan, out_path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out_path.read_text()) if out_path.is_file() else {}
    doc.update(
        version=1,
        experiment=cfg.experiment,
        seq_len=plan.seq_len,
        horizon=plan.horizon,
        objective="best validation loss (scaled MSE), mean over tuning seeds",
        seeds=list(cfg.tuning.seeds),
        storage=redact(cfg.tuning.storage),
    )
    doc.setdefault("tuned", {})
    return doc


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _tune_cells(
    cfg: SweepConfig,
    plan: TunePlan,
    data: dict[str, Any],
    storage: optuna.storages.RDBStorage,
    tracker: Tracker,
    doc: dict[str, Any],
    store: Path,
) -> None:
    """Top up each cell's study to the budget, then record its best parameters."""
    cap = max_concurrent_trials(cfg.resources, cfg.tuning.max_concurrent)
    refs: dict[str, Any] = {}
    for cell, base in plan.bases.items():
        if requested():
            return
        key = data_key(base)
        if key not in refs:
            refs[key] = ray.put(data[key])
        study = plan.study(cfg.experiment, cell)
        retire_interrupted(storage, study)
        todo = plan.budget - len(ended_trials(storage, study))
        m, ds, arm = cell
        print(
            f"tune {m} {ds} {arm}: study {study!r}, "
            + (f"{todo} trial(s) to run" if todo > 0 else "budget reached"),
            flush=True,
        )
        if todo > 0:
            _run_study(cfg, study, storage, base, refs[key], todo, cap, store)
        _record_best(cfg, plan, cell, storage, tracker, doc)


def _record_best(
    cfg: SweepConfig,
    plan: TunePlan,
    cell: Cell,
    storage: optuna.storages.RDBStorage,
    tracker: Tracker,
    doc: dict[str, Any],
) -> None:
    from synprune.tracking.writer import RunRecord

    m, ds, arm = cell
    study = plan.study(cfg.experiment, cell)
    best = best_trial(storage, study)
    n = len(ended_trials(storage, study))
    if best is None:
        print(f"tune {m} {ds} {arm}: no trial completed", flush=True)
        return
    objective = float(best.value or 0.0)
    params = to_reg_params(best.params)
    doc["tuned"].setdefault(m, {}).setdefault(ds, {})[arm] = {
        "params": params,
        "objective": objective,
        "trials": n,
        "study": study,
    }
    print(
        f"tune {m} {ds} {arm}: best objective {objective:.5g} after {n} trials: "
        f"{json.dumps(params)}",
        flush=True,
    )
    tags = {"model": m, "dataset": ds, "regularizer": arm, "study": study}
    tags |= {"seq_len": str(plan.seq_len), "horizon": str(plan.horizon)}
    tracker.write(
        RunRecord(
            kind="tune",
            run_name=f"tune-{m}-{ds}-{arm}",
            status="finished",
            tags=tags,
            params={k: str(v) for k, v in params.items()},
            metrics={"objective": objective, "n_trials": n},
        )
    )


def _run_study(
    cfg: SweepConfig,
    study: str,
    storage: optuna.storages.RDBStorage,
    base: TrialSpec,
    data_ref: Any,
    todo: int,
    cap: int | None,
    store: Path,
) -> None:
    dims: dict[str, Dim] = dict(cfg.tuning.space[base.regularizer.name])
    searcher = OptunaSearch(
        space=SearchSpace(dims),
        metric="objective",
        mode="min",
        study_name=study,
        storage=storage,
        seed=sampler_seed(study, len(ended_trials(storage, study))),
    )
    trainable = tune.with_resources(
        tune.with_parameters(
            tune_trainable,
            base=base.to_dict(),
            data=data_ref,
            seeds=cfg.tuning.seeds,
            threads=cfg.resources.threads,
            plugins=cfg.plugins,
            cpus_per_worker=cfg.resources.cpu,
        ),
        trial_resources(cfg.resources),
    )
    tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=todo, max_concurrent_trials=cap, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name=f"{study.replace('/', '_')}-{int(time.time())}",
            storage_path=str(store / "ray-tune"),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg.tuning.max_failures),
            callbacks=[StopTune()],
        ),
    ).fit()
