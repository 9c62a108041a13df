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
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synprune.errors import ConfigError
from synprune.pipeline.spec import ComponentSpec, TrainSpec, TrialSpec

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
_TUNING = {
    "trials",
    "seeds",
    "seq_len",
    "horizon",
    "epochs",
    "storage",
    "regularizers",
    "max_failures",
    "max_concurrent",
    "space",
}
DEFAULT_OPTUNA_STORAGE = "sqlite:///./synprune-runs/optuna.db"
#: default search spaces; end_frac = start_frac + end_gap * (1 - start_frac) keeps start < end
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "synaptic": {
        "final_sparsity": [0.3, 0.95],
        "start_frac": [0.0, 0.5],
        "end_gap": [0.2, 1.0],
        "prune_every": {"low": 1, "high": 50, "log": True},
        "schedule": ["ease_in", "ease_out"],
    },
    "dropout": {"p": [0.05, 0.6]},
    "mc_dropout": {"p": [0.05, 0.6]},
}
_MUST = re.compile(r"^(\w+) must be (.*), got (.*)$", re.S)


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
class Dim:
    """One tuned parameter: float/int range (``log`` optional) or categorical ``choices``."""

    kind: str  # float | int | categorical
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuningConfig:
    trials: int = 20
    seeds: tuple[int, ...] = (1000, 1001)
    seq_len: int | None = None  # None: the grid's (lower) median seq_len
    horizon: int | None = None  # None: the grid's first horizon
    epochs: int | None = None  # None: [train].epochs
    storage: str = DEFAULT_OPTUNA_STORAGE
    regularizers: tuple[str, ...] = ()  # () : grid regularizers that have a space
    max_failures: int = 1
    max_concurrent: int = 0
    space: Mapping[str, Mapping[str, Dim]] = field(default_factory=dict)


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
                    f"{_invalid(exc)}"
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

    _keys(raw, _TOP, "", err)
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
    grid = _grid(_table(raw, "grid", err, required=True), err)
    train_raw = _table(raw, "train", err)
    _keys(train_raw, {f.name for f in dataclasses.fields(TrainSpec)}, "[train].", err)
    try:
        train = TrainSpec(**train_raw)
    except ConfigError as exc:
        raise err(re.sub(r"^train\.", "[train].", str(exc))) from None
    models = {k: dict(_sub(v, f"models.{k}", err)) for k, v in _table(raw, "models", err).items()}
    for name, params in models.items():
        _check_model(name, params, err)
    regs = {
        k: dict(_sub(v, f"regularizers.{k}", err))
        for k, v in _table(raw, "regularizers", err).items()
    }
    for name, params in regs.items():
        _check_regularizer(name, params, f"[regularizers.{name}]", err)
    datasets = {
        k: dict(_sub(v, f"datasets.{k}", err)) for k, v in _table(raw, "datasets", err).items()
    }
    for name, opts in datasets.items():
        _keys(opts, {"target", "date_column"}, f"[datasets.{name}].", err)
    res_raw = _table(raw, "resources", err)
    _keys(res_raw, {"cpu", "gpu", "workers"}, "[resources].", err)
    res = Resources(**res_raw)
    _num(res.cpu, "[resources].cpu", err, 0, 1024, "a number in (0, 1024]", low_open=True)
    _num(res.gpu, "[resources].gpu", err, 0, 64, "a number in [0, 64] (fractions share a GPU)")
    _int(res.workers, "[resources].workers", err, 1, 1024)
    if res.gpu > 0 and train.device == "cpu":
        raise err("[resources].gpu > 0 needs [train].device = 'cuda' or 'auto'")
    sweep = _table(raw, "sweep", err)
    _keys(sweep, {"max_failures", "max_concurrent"}, "[sweep].", err)
    max_failures = _int(sweep.get("max_failures", 2), "[sweep].max_failures", err, 0, 100)
    max_conc = _int(sweep.get("max_concurrent", 0), "[sweep].max_concurrent", err, 0, 100000)
    tuning = _tuning(_table(raw, "tuning", err), err)
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
                _check_regularizer(
                    reg, entry.get("params", {}), f"{path.name}: tuned.{model}.{ds}.{reg}", err
                )
    return cells


# -- pieces ----------------------------------------------------------------------------------
def _keys(d: Mapping[str, Any], allowed: set[str], prefix: str, err: Any) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise err(f"unknown key {prefix}{unknown[0]}; allowed: {', '.join(sorted(allowed))}")


def _table(raw: Mapping[str, Any], key: str, err: Any, required: bool = False) -> dict[str, Any]:
    if key not in raw:
        if required:
            raise err(f"[{key}] table is required")
        return {}
    if not isinstance(raw[key], Mapping):
        raise err(f"{key} must be a table ([{key}])")
    return dict(raw[key])


def _sub(v: Any, key: str, err: Any) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise err(f"[{key}] must be a table of parameters")
    return v


def _int(v: Any, key: str, err: Any, lo: int, hi: int) -> int:
    if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: an integer in [{lo}, {hi}]")
    return v


def _num(
    v: Any, key: str, err: Any, lo: float, hi: float, allowed: str, low_open: bool = False
) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    if not ok or not ((v > lo if low_open else v >= lo) and v <= hi):
        raise err(f"{key}={v!r} is invalid; allowed: {allowed}")
    return float(v)


def _grid(g: Mapping[str, Any], err: Any) -> dict[str, tuple[Any, ...]]:
    from synprune.datasets import list_datasets
    from synprune.models import list_models
    from synprune.regularizers import list_regularizers

    _keys(g, set(AXES), "[grid].", err)
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


def _factory_params(fn: Any, skip: set[str]) -> list[str]:
    sig = inspect.signature(fn)
    return sorted(
        n
        for n, p in sig.parameters.items()
        if n not in skip and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    )


def _check_model(name: str, params: Mapping[str, Any], err: Any) -> None:
    from synprune.models import list_models
    from synprune.models.registry import get_model_factory

    if name not in list_models():
        raise err(
            f"[models.{name}]: {name!r} is not a registered model; allowed: "
            f"{', '.join(list_models())}"
        )
    allowed = _factory_params(
        get_model_factory(name), {"n_features", "seq_len", "horizon", "dropout"}
    )
    for k in params:
        if k not in allowed:
            raise err(f"unknown key [models.{name}].{k}; allowed: {', '.join(allowed)}")


def _check_regularizer(name: str, params: Mapping[str, Any], where: str, err: Any) -> None:
    from synprune.regularizers import _REGISTRY, create_regularizer, list_regularizers

    if name not in list_regularizers():
        raise err(
            f"{where}: {name!r} is not a registered regularizer; allowed: "
            f"{', '.join(list_regularizers())}"
        )
    allowed = _factory_params(_REGISTRY.get(name), set())
    for k in params:
        if k not in allowed:
            raise err(f"unknown key {where}.{k}; allowed: {', '.join(allowed) or '(none)'}")
    try:
        create_regularizer(name, **dict(params))
    except (ValueError, TypeError) as exc:
        m = _MUST.match(str(exc))
        if m:
            raise err(f"{where}.{m[1]}={m[3]} is invalid; allowed: {m[2]}") from None
        raise err(f"{where}: {exc}") from None


def _invalid(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _tuning(t: Mapping[str, Any], err: Any) -> TuningConfig:
    _keys(t, _TUNING, "[tuning].", err)
    seeds = t.get("seeds", [1000, 1001])
    if not isinstance(seeds, list) or not seeds:
        raise err(f"[tuning].seeds={seeds!r} is invalid; allowed: a non-empty list of integers")
    for i, s in enumerate(seeds):
        _int(s, f"[tuning].seeds[{i}]", err, 0, 2**31 - 1)
    kw: dict[str, Any] = {"seeds": tuple(seeds)}
    kw["trials"] = _int(t.get("trials", 20), "[tuning].trials", err, 1, 100_000)
    for key, hi in (("seq_len", 100_000), ("horizon", 10_000), ("epochs", 10_000)):
        if key in t:
            kw[key] = _int(t[key], f"[tuning].{key}", err, 1, hi)
    kw["max_failures"] = _int(t.get("max_failures", 1), "[tuning].max_failures", err, 0, 100)
    kw["max_concurrent"] = _int(
        t.get("max_concurrent", 0), "[tuning].max_concurrent", err, 0, 100000
    )
    storage = t.get("storage", DEFAULT_OPTUNA_STORAGE)
    if not isinstance(storage, str) or "://" not in storage:
        raise err(
            f"[tuning].storage={storage!r} is invalid; allowed: an RDB URL such as "
            f"{DEFAULT_OPTUNA_STORAGE}"
        )
    kw["storage"] = storage
    regs = t.get("regularizers", [])
    space_raw = t.get("space", {})
    if not isinstance(space_raw, Mapping):
        raise err("[tuning].space must be a table of [tuning.space.REGULARIZER] tables")
    space: dict[str, dict[str, Dim]] = {}
    for reg in {*DEFAULT_SPACE, *space_raw}:
        merged = {
            **DEFAULT_SPACE.get(reg, {}),
            **dict(_sub(space_raw.get(reg, {}), f"tuning.space.{reg}", err)),
        }
        space[reg] = {k: _dim(v, f"[tuning.space.{reg}].{k}", err) for k, v in merged.items()}
        _check_space(reg, space[reg], err)
    if not isinstance(regs, list) or any(r not in space for r in regs):
        raise err(
            f"[tuning].regularizers={regs!r} is invalid; allowed: a list of "
            f"{', '.join(sorted(space))}"
        )
    kw["regularizers"] = tuple(regs)
    kw["space"] = space
    return TuningConfig(**kw)


def _dim(v: Any, key: str, err: Any) -> Dim:
    if isinstance(v, list) and v and all(isinstance(x, str | bool) for x in v):
        return Dim("categorical", choices=tuple(v))
    if isinstance(v, list) and len(v) == 2:
        v = {"low": v[0], "high": v[1]}
    if isinstance(v, Mapping) and set(v) <= {"low", "high", "log"} and {"low", "high"} <= set(v):
        lo, hi, log = v["low"], v["high"], bool(v.get("log", False))
        nums = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lo, hi))
        if nums and lo < hi and (not log or lo > 0):
            kind = "int" if isinstance(lo, int) and isinstance(hi, int) else "float"
            return Dim(kind, float(lo), float(hi), log)
    raise err(
        f"{key}={v!r} is invalid; allowed: [low, high] with low < high, "
        "{low=, high=, log=true} (low > 0 for log), or a list of choices"
    )


def _check_space(reg: str, dims: Mapping[str, Dim], err: Any) -> None:
    """Every corner of the space must build the regularizer (catches out-of-range bounds)."""
    from synprune.regularizers import list_regularizers

    if reg not in list_regularizers():
        raise err(f"[tuning.space.{reg}]: {reg!r} is not a registered regularizer")
    for corner in (0, 1):
        params: dict[str, Any] = {}
        for k, d in dims.items():
            if d.kind == "categorical":
                params[k] = d.choices[corner % len(d.choices)]
            else:
                v = d.low if corner == 0 else d.high
                params[k] = int(v) if d.kind == "int" else v
        if "end_gap" in params:
            gap = params.pop("end_gap")
            if not 0 < gap <= 1:
                raise err(f"[tuning.space.{reg}].end_gap bounds must lie in (0, 1]")
            s = params.get("start_frac", 0.0)
            params["end_frac"] = s + gap * (1 - s)
        _check_regularizer(reg, params, f"[tuning.space.{reg}]", err)
