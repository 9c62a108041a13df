"""Sweep config files (``configs/*.toml``) -> frozen, validated dataclasses -> ``TrialSpec`` grid.

Schema (every key optional unless marked; unknown keys are refused)::

    experiment = "smoke"            # required: MLflow experiment + Ray experiment name
    description = "..."
    tuned = "tuned/smoke.json"      # relative to this file: best params from `synprune tune`,
                                    # override [regularizers.*] per (model, dataset)
    plugins = ["mypkg.regs"]        # modules imported first, in the driver AND in every Ray
                                    # trial, so components they register exist everywhere
    [grid]                          # required; each axis a list (or one value)
    model = ["lstm", "patchtst"]    # dataset, regularizer, seq_len, horizon, seed likewise
    [train]                         # TrainSpec fields: epochs, batch_size, lr, patience, ...
    [models.lstm]                   # architecture params of one model (hidden_size, ...)
    [regularizers.synaptic]         # params of one regularizer (final_sparsity, ...)
    [datasets."csv:data/x.csv"]     # target, date_column for csv datasets
    [resources]                     # per trial: cpu (threads), gpu (fraction ok), workers
    [sweep]                         # max_failures (Ray retries per trial), max_concurrent
    [tuning]                        # trials, seeds, seq_len, horizon, epochs, storage,
                                    # regularizers, max_failures, max_concurrent
    [tuning.space.synaptic]         # final_sparsity=[lo,hi], start_frac, end_gap, prune_every,
                                    # schedule=["ease_in","ease_out"]; p for (mc_)dropout

Every error is a ``ConfigError`` naming the file and the key path, raised before anything runs.
``[tuning]`` is parsed in ``tuning_config``; the shared key/value checks live in ``config_checks``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synprune.config.checks import (
    check_int,
    check_keys,
    check_model,
    check_num,
    check_regularizer,
    first_line,
    get_table,
    sub_table,
)
from synprune.config.tuning import (
    DEFAULT_OPTUNA_STORAGE,
    DEFAULT_SPACE,
    Dim,
    TuningConfig,
    parse_tuning,
)
from synprune.errors import ConfigError
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec

__all__ = [
    "AXES",
    "DEFAULT_OPTUNA_STORAGE",
    "DEFAULT_SPACE",
    "Dim",
    "Resources",
    "SweepConfig",
    "TuningConfig",
    "import_plugins",
    "load_config",
    "load_tuned",
    "parse_config",
]

AXES = ("model", "dataset", "regularizer", "seq_len", "horizon", "seed")
_TOP = {
    "experiment",
    "description",
    "tuned",
    "plugins",
    "grid",
    "train",
    "models",
    "regularizers",
    "datasets",
    "resources",
    "sweep",
    "tuning",
}


@dataclass(frozen=True)
class Resources:
    """Per-trial resources: ``cpu`` (Ray CPUs = torch threads), ``gpu`` (fraction ok),
    ``workers`` (> 1: data-parallel Ray Train workers inside the trial, issue 5)."""

    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 1

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep file. ``specs()`` expands the grid into validated ``TrialSpec``s."""

    path: Path
    text: str
    experiment: str
    grid: Mapping[str, tuple[Any, ...]]
    train: TrainSpec
    models: Mapping[str, Mapping[str, Any]]
    regularizers: Mapping[str, Mapping[str, Any]]
    datasets: Mapping[str, Mapping[str, Any]]
    resources: Resources
    max_failures: int
    max_concurrent: int
    tuning: TuningConfig
    tuned_path: Path | None
    tuned: Mapping[str, Any]
    description: str = ""
    plugins: tuple[str, ...] = ()

    def err(self, msg: str) -> ConfigError:
        return ConfigError(f"{self.path}: {msg}")

    def spec_for(
        self,
        *,
        model: str,
        dataset: str,
        regularizer: str,
        seq_len: int,
        horizon: int,
        seed: int,
        reg_params: Mapping[str, Any] | None = None,
        train: TrainSpec | None = None,
    ) -> TrialSpec:
        params = dict(self.regularizers.get(regularizer, {}))
        tuned = self.tuned.get(model, {}).get(dataset, {}).get(regularizer, {})
        params.update(tuned.get("params", {}))
        params.update(reg_params or {})
        opts = self.datasets.get(dataset, {})
        try:
            return TrialSpec(
                dataset=dataset,
                model=ComponentSpec(model, self.models.get(model, {})),
                regularizer=ComponentSpec(regularizer, params),
                seq_len=seq_len,
                horizon=horizon,
                seed=seed,
                train=train or self.train,
                target=opts.get("target"),
                date_column=opts.get("date_column"),
                workers=self.resources.workers,
            )
        except ConfigError as exc:
            raise self.err(
                f"grid point model={model} dataset={dataset} regularizer="
                f"{regularizer} seq_len={seq_len} horizon={horizon} seed={seed}: "
                f"{exc}"
            ) from None

    def specs(self) -> list[TrialSpec]:
        """The grid, seed outermost (a partial sweep holds whole seeds), each spec validated."""
        g = self.grid
        out = []
        for seed, dataset, model, seq_len, horizon, reg in itertools.product(
            g["seed"], g["dataset"], g["model"], g["seq_len"], g["horizon"], g["regularizer"]
        ):
            out.append(
                self.spec_for(
                    model=model,
                    dataset=dataset,
                    regularizer=reg,
                    seq_len=seq_len,
                    horizon=horizon,
                    seed=seed,
                )
            )
        return out

    def check_models(
        self, specs: list[TrialSpec], n_features: Mapping[str, int] | None = None
    ) -> None:
        """Build each distinct model once on dummy data (surfaces bad architecture params)."""
        import torch

        from synprune.models import create_model

        seen: set[tuple[Any, ...]] = set()
        for s in specs:
            nf = (n_features or {}).get(s.dataset, 1)
            key = (
                s.model.name,
                json.dumps(dict(s.model.params), sort_keys=True),
                s.seq_len,
                s.horizon,
                nf,
            )
            if key in seen:
                continue
            seen.add(key)
            try:
                model = create_model(
                    s.model.name,
                    n_features=nf,
                    seq_len=s.seq_len,
                    horizon=s.horizon,
                    **dict(s.model.params),
                )
                with torch.no_grad():
                    y = model.eval()(torch.zeros(2, s.seq_len, nf))
                if tuple(y.shape) != (2, s.horizon):
                    raise ValueError(f"output shape {tuple(y.shape)}, expected (2, {s.horizon})")
            except Exception as exc:
                raise self.err(
                    f"[models.{s.model.name}] cannot build {s.model.name} for "
                    f"seq_len={s.seq_len}, horizon={s.horizon}, n_features={nf}: "
                    f"{first_line(exc)}"
                ) from None


# -- loading ---------------------------------------------------------------------------------
def load_config(path: str | Path) -> SweepConfig:
    """Parse and validate a sweep file; raises ``ConfigError`` naming file and key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, path, text)


def parse_config(raw: Mapping[str, Any], path: Path, text: str = "") -> SweepConfig:
    def err(msg: str) -> ConfigError:
        return ConfigError(f"{path}: {msg}")

    check_keys(raw, _TOP, "", err)
    plugins = raw.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(m, str) and m for m in plugins):
        raise err(f"plugins={plugins!r} is invalid; allowed: a list of importable module names")
    for i, mod in enumerate(plugins):
        try:
            import_plugins([mod])
        except ImportError as exc:
            raise err(f"plugins[{i}]={mod!r} cannot be imported: {exc}") from None
    exp = raw.get("experiment")
    if not isinstance(exp, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", exp):
        raise err(
            f"experiment={exp!r} is invalid; allowed: a name of letters, digits, _ . - (required)"
        )
    grid = _grid(get_table(raw, "grid", err, required=True), err)
    train_raw = get_table(raw, "train", err)
    check_keys(train_raw, {f.name for f in dataclasses.fields(TrainSpec)}, "[train].", err)
    try:
        train = TrainSpec(**train_raw)
    except ConfigError as exc:
        raise err(re.sub(r"^train\.", "[train].", str(exc))) from None
    models = {
        k: dict(sub_table(v, f"models.{k}", err)) for k, v in get_table(raw, "models", err).items()
    }
    for name, params in models.items():
        check_model(name, params, err)
    regs = {
        k: dict(sub_table(v, f"regularizers.{k}", err))
        for k, v in get_table(raw, "regularizers", err).items()
    }
    for name, params in regs.items():
        check_regularizer(name, params, f"[regularizers.{name}]", err)
    datasets = {
        k: dict(sub_table(v, f"datasets.{k}", err))
        for k, v in get_table(raw, "datasets", err).items()
    }
    for name, opts in datasets.items():
        check_keys(opts, {"target", "date_column"}, f"[datasets.{name}].", err)
    res_raw = get_table(raw, "resources", err)
    check_keys(res_raw, {"cpu", "gpu", "workers"}, "[resources].", err)
    res = Resources(**res_raw)
    check_num(res.cpu, "[resources].cpu", err, 0, 1024, "a number in (0, 1024]", low_open=True)
    check_num(res.gpu, "[resources].gpu", err, 0, 64, "a number in [0, 64] (fractions share a GPU)")
    check_int(res.workers, "[resources].workers", err, 1, 1024)
    if res.gpu > 0 and train.device == "cpu":
        raise err("[resources].gpu > 0 needs [train].device = 'cuda' or 'auto'")
    sweep = get_table(raw, "sweep", err)
    check_keys(sweep, {"max_failures", "max_concurrent"}, "[sweep].", err)
    max_failures = check_int(sweep.get("max_failures", 2), "[sweep].max_failures", err, 0, 100)
    max_conc = check_int(sweep.get("max_concurrent", 0), "[sweep].max_concurrent", err, 0, 100000)
    tuning = parse_tuning(get_table(raw, "tuning", err), err)
    tuned_path, tuned = None, {}
    if "tuned" in raw:
        if not isinstance(raw["tuned"], str) or not raw["tuned"]:
            raise err(f"tuned={raw['tuned']!r} is invalid; allowed: a path to a JSON file")
        tuned_path = (path.parent / raw["tuned"]).resolve()
        tuned = load_tuned(tuned_path, err)
    desc = raw.get("description", "")
    cfg = SweepConfig(
        path=path,
        text=text,
        experiment=exp,
        grid=grid,
        train=train,
        models=models,
        regularizers=regs,
        datasets=datasets,
        resources=res,
        max_failures=max_failures,
        max_concurrent=max_conc,
        tuning=tuning,
        tuned_path=tuned_path,
        tuned=tuned,
        description=str(desc),
        plugins=tuple(plugins),
    )
    return cfg


def import_plugins(modules: tuple[str, ...] | list[str]) -> None:
    """Import plugin modules (they register models / regularizers / datasets)."""
    import importlib

    for mod in modules:
        importlib.import_module(mod)


def load_tuned(path: Path, err: Any = None) -> dict[str, Any]:
    """``{model: {dataset: {regularizer: {"params": {...}, ...}}}}`` as written by tune."""
    err = err or (lambda m: ConfigError(m))
    if not path.is_file():
        raise err(
            f"tuned={str(path)!r}: file not found (run `synprune tune` first, or remove "
            "the `tuned` key)"
        )
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise err(f"tuned={str(path)!r}: not valid JSON ({exc})") from None
    cells = data.get("tuned") if isinstance(data, dict) else None
    if not isinstance(cells, dict):
        raise err(f"tuned={str(path)!r}: expected an object with key 'tuned'")
    for model, by_ds in cells.items():
        for ds, by_reg in (by_ds or {}).items():
            for reg, entry in (by_reg or {}).items():
                check_regularizer(
                    reg, entry.get("params", {}), f"{path.name}: tuned.{model}.{ds}.{reg}", err
                )
    return cells


# -- the grid --------------------------------------------------------------------------------
def _grid(g: Mapping[str, Any], err: Any) -> dict[str, tuple[Any, ...]]:
    from synprune.datasets import list_datasets
    from synprune.models import list_models
    from synprune.regularizers import list_regularizers

    check_keys(g, set(AXES), "[grid].", err)
    names = {"model": list_models(), "regularizer": list_regularizers(), "dataset": list_datasets()}
    bounds = {"seq_len": (1, 100_000), "horizon": (1, 10_000), "seed": (0, 2**31 - 1)}
    out: dict[str, tuple[Any, ...]] = {}
    for axis in AXES:
        vals = g.get(axis, [1] if axis == "horizon" else [0] if axis == "seed" else None)
        if vals is None:
            raise err(f"[grid].{axis} is required")
        vals = list(vals) if isinstance(vals, list) else [vals]
        if not vals:
            raise err(f"[grid].{axis} is empty; give at least one value")
        for i, v in enumerate(vals):
            key = f"[grid].{axis}[{i}]={v!r} is invalid; allowed: "
            if axis in names:
                ok = isinstance(v, str) and (
                    v in names[axis] or (axis == "dataset" and v.startswith("csv:"))
                )
                if not ok:
                    extra = ", or csv:PATH" if axis == "dataset" else ""
                    raise err(key + ", ".join(names[axis]) + extra)
            else:
                lo, hi = bounds[axis]
                if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
                    raise err(key + f"an integer in [{lo}, {hi}]")
        if len(set(vals)) != len(vals):
            raise err(f"[grid].{axis} lists a value twice: {vals}")
        out[axis] = tuple(vals)
    return out
