"""Sweep config files (``configs/*.toml``) -> a validated ``SweepConfig`` -> ``TrialSpec`` grid.

Schema (every key optional unless marked; unknown keys are refused)::

    experiment = "smoke"            # required: MLflow experiment + Ray experiment name
    description = "..."
    tuned = "tuned/smoke.json"      # relative to this file: best params from `synprune tune`,
                                    # override [regularizers.*] per (model, dataset); `tune`
                                    # writes it, `sweep` needs it (run tune first)
    protocol = "paper"              # leak_free | paper | m4, for every trial (default: m4 for
                                    # M4 datasets, else leak_free; see synprune.datasets.windows)
    plugins = ["mypkg.regs"]        # modules imported first, in the driver AND in every Ray
                                    # trial, so components they register exist everywhere
    [grid]                          # required: axes, swept fields, [[grid.extra]] arms
                                    # (see synprune.config.grid)
    [train]                         # TrainSpec fields: epochs, batch_size, lr, patience, ...
    [models.lstm]                   # architecture fields of one model (hidden_size, ...)
    [regularizers.synaptic]         # params of one regularizer (final_sparsity, ...)
    [regularizers."synaptic+dropout".synaptic]   # a composite's part, over [regularizers.synaptic]
    [datasets."csv:data/x.csv"]     # target, date_column, missing_value (csv; missing_value
                                    # also for air_quality), season (any dataset)
    [resources]                     # per trial: cpu (threads), gpu (fraction ok), workers
    [sweep]                         # max_failures (Ray retries per trial), max_concurrent
    [tuning]                        # see synprune.config.tuning
    [stats]                         # primary = ["synaptic", "dropout"], margin = 0.01 (see
                                    # synprune.config.stats_table; read by `synprune stats`)

A trial's regularizer params: its table(s) < the tuned file's entry for (model, dataset,
regularizer) (:mod:`synprune.config.tuned`) < its swept / extra-arm fields.

``[train] min_epochs`` (the ``equal`` stopping rule's floor, :mod:`synprune.experiment.train`)
unset and not swept: every spec of the grid gets the same value, ``ceil(f * epochs)`` with
``f`` the largest ``settle_fraction()`` of the grid's regularizers -- the epoch where the
latest-ending regularizer schedule of the grid ends, so a sweep's arms share it (and so does
``synprune tune``, for its own epochs: :meth:`SweepConfig.min_epochs_for`).

Values are validated by ``TrialSpec`` and the component constructors only; this
module adds the file and the key to their ``FieldError`` (``x.toml: [regularizers.synaptic].
final_sparsity=1.2 is invalid; allowed: a number in [0, 1)``). Loading expands the whole grid,
so every error is raised before anything runs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
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
    check_num,
    first_line,
    get_table,
    located,
    merged,
    set_path,
    sub_table,
    toml_key,
)
from synprune.config.grid import AXES, ArmSource, Point, parse_grid
from synprune.config.stats_table import StatsOptions, parse_stats_table
from synprune.config.tables import ConfigTables, Resources
from synprune.config.tuned import tuned_key
from synprune.config.tuning import (
    DEFAULT_OPTUNA_STORAGE,
    DEFAULT_SPACE,
    Dim,
    TuningConfig,
    parse_tuning,
)
from synprune.config.validate import check_tuning, check_unused, locate
from synprune.errors import ConfigError, FieldError
from synprune.experiment.params import thaw
from synprune.experiment.resolve import default_min_epochs, settle_fraction
from synprune.experiment.spec import PROTOCOLS, ComponentSpec, TrainSpec, TrialSpec

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
    "parse_config",
]

_TOP = {
    "experiment",
    "description",
    "tuned",
    "plugins",
    "protocol",
    "grid",
    "train",
    "models",
    "regularizers",
    "datasets",
    "resources",
    "sweep",
    "tuning",
    "stats",
}


@dataclass(frozen=True)
class SweepConfig(ConfigTables):
    """A validated sweep file. ``specs()`` is the grid as validated ``TrialSpec``s."""

    text: str
    experiment: str
    resources: Resources
    max_failures: int
    max_concurrent: int
    description: str = ""
    plugins: tuple[str, ...] = ()
    protocol: str | None = None  # every trial's protocol; None: the dataset's default
    stats: StatsOptions = dataclasses.field(
        default_factory=StatsOptions
    )  # [stats]: primary comparison and margin
    notes: tuple[str, ...] = ()  # warnings about the file (the CLI prints them on stderr)

    # -- parameters of one trial -------------------------------------------------------------
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
        """The spec of one point with nothing swept: tables, then tuned, then ``reg_params``."""
        arm = ArmSource(regularizer, f"[grid].regularizers.{toml_key(regularizer)}.", {})
        point = Point(seed, dataset, model, (), seq_len, horizon, (), arm, ())
        t = train or self.train
        shared = self.min_epochs_for(t.epochs)
        if t.min_epochs is None and shared is not None:
            t = dataclasses.replace(t, min_epochs=shared)
        return self.spec_at(point, train=t, reg_params=reg_params)

    # -- the stopping rule's min_epochs, shared by the grid ---------------------------------
    @property
    def shares_min_epochs(self) -> bool:
        """``[train] min_epochs`` is neither set nor swept: the grid shares one value."""
        return self.train.min_epochs is None and "min_epochs" not in self.train_sweeps

    @functools.cached_property
    def grid_settle_fraction(self) -> float:
        """The largest ``settle_fraction()`` over the grid's regularizers (as each trial
        builds it: tables, tuned entry, swept fields)."""
        return max((f for _, f in self._first_pass), default=0.0)

    def min_epochs_for(self, epochs: int) -> int | None:
        """The ``min_epochs`` every trial of ``epochs`` epochs gets (``None``: the config
        sets it): ``ceil(grid_settle_fraction * epochs)``."""
        if not self.shares_min_epochs:
            return None
        return default_min_epochs(self.grid_settle_fraction, epochs)

    def spec_at(
        self,
        point: Point,
        *,
        train: TrainSpec | None = None,
        reg_params: Mapping[str, Any] | None = None,
    ) -> TrialSpec:
        """The validated spec of a grid point; a bad value names its file and key."""
        name = point.arm.regularizer
        params = merged(self.reg_table(name), self.tuned_params(point.model, point.dataset, name))
        params = merged(params, reg_params or {})
        for path, value in point.reg_combo:
            set_path(params, path, value)
        arch = dict(self.models.get(point.model, {}))
        for path, value in point.model_combo:
            set_path(arch, path, value)
        opts = self.datasets.get(point.dataset, {})
        try:
            t = train or self.train
            if point.train_combo:
                t = TrainSpec.from_mapping({**dataclasses.asdict(t), **dict(point.train_combo)})
            return TrialSpec(
                dataset=point.dataset,
                model=ComponentSpec(point.model, arch),
                regularizer=ComponentSpec(name, params),
                seq_len=point.seq_len,
                horizon=point.horizon,
                seed=point.seed,
                train=t,
                target=opts.get("target"),
                date_column=opts.get("date_column"),
                missing_value=opts.get("missing_value"),
                season=opts.get("season"),
                workers=self.resources.workers,
                protocol=self.protocol,
                swept=point.swept(),
            )
        except FieldError as exc:
            raise locate(self, exc, point) from None
        except ConfigError as exc:
            raise self.err(
                f"grid point model={point.model} dataset={point.dataset} arm={point.label()} "
                f"seq_len={point.seq_len} horizon={point.horizon} seed={point.seed}: {exc}"
            ) from None

    # -- the grid ----------------------------------------------------------------------------
    @functools.cached_property
    def _expanded(self) -> tuple[TrialSpec, ...]:
        out: list[TrialSpec] = []
        seen: dict[str, str] = {}
        for spec, _ in self._first_pass:
            shared = self.min_epochs_for(spec.train.epochs)
            if shared is not None and shared != spec.train.min_epochs:
                train = dataclasses.replace(spec.train, min_epochs=shared)
                spec = dataclasses.replace(spec, train=train)
            if spec.spec_id in seen:
                raise self.err(
                    f"[grid] gives the same trial twice, as arm {seen[spec.spec_id]} and as arm "
                    f"{spec.arm} (model={spec.model.name} dataset={spec.dataset} "
                    f"seq_len={spec.seq_len} seed={spec.seed}); drop one of them"
                )
            seen[spec.spec_id] = spec.arm
            out.append(spec)
        return tuple(out)

    @functools.cached_property
    def _first_pass(self) -> tuple[tuple[TrialSpec, float], ...]:
        """Each grid point's spec (``min_epochs`` its own) with its regularizer's
        ``settle_fraction()``."""
        from synprune.config.grid import Grid

        grid = Grid(self.grid, self.arms, self.model_sweeps, self.train_sweeps, self.cuts)
        fractions: dict[str, float] = {}
        out = []
        for point in grid.points():
            spec = self.spec_at(point)
            r = spec.regularizer
            key = json.dumps([r.name, thaw(r.params)], sort_keys=True, default=repr)
            if key not in fractions:
                fractions[key] = settle_fraction(r.name, r.params)
            out.append((spec, fractions[key]))
        return tuple(out)

    def specs(self) -> list[TrialSpec]:
        """The grid, seed outermost (a partial sweep holds whole seeds), each spec validated.

        Needs the ``tuned`` file when the config names one (``synprune tune`` writes it)."""
        if self.tuned_path is not None and not self.tuned_path.is_file():
            raise self.err(
                f"tuned={str(self.tuned_path)!r}: file not found; run `synprune tune --config "
                f"{self.path}` first (it writes that file), or remove the `tuned` key"
            )
        return list(self._expanded)

    @property
    def fingerprint(self) -> str:
        """A stable hash of the resolved grid (its sorted ``spec_id arm`` lines), 16 hex
        digits; the runtime stores it on the MLflow experiment to refuse a different grid
        under the same experiment name."""
        lines = sorted(f"{s.spec_id} {s.arm}" for s in self.specs())
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]

    def check_models(
        self, specs: list[TrialSpec], n_features: Mapping[str, int] | None = None
    ) -> None:
        """Build each distinct model once on dummy data with the datasets' real channel
        counts (surfaces what depends on n_features, and the output shape)."""
        import torch

        from synprune.models import create_model

        seen: set[tuple[Any, ...]] = set()
        for s in specs:
            nf = (n_features or {}).get(s.dataset, 1)
            arch = dict(s.model.params)
            key = (s.model.name, json.dumps(arch, sort_keys=True), s.seq_len, s.horizon, nf)
            if key in seen:
                continue
            seen.add(key)
            where = f"for seq_len={s.seq_len}, horizon={s.horizon}, n_features={nf}: "
            try:
                model = create_model(
                    s.model.name, n_features=nf, seq_len=s.seq_len, horizon=s.horizon, **arch
                )
                with torch.no_grad():
                    y = model.eval()(torch.zeros(2, s.seq_len, nf))
            except FieldError as exc:
                raise located(exc, self.path, f"{where}[models.{s.model.name}].") from None
            except Exception as exc:
                raise self.err(
                    f"[models.{s.model.name}] cannot build {s.model.name} {where}{first_line(exc)}"
                ) from None
            if tuple(y.shape) != (2, s.horizon):
                raise self.err(
                    f"[models.{s.model.name}] {where}output shape {tuple(y.shape)}, "
                    f"expected (2, {s.horizon})"
                )


# -- loading ---------------------------------------------------------------------------------
def load_config(path: str | Path) -> SweepConfig:
    """Parse and validate a sweep file; raises ``ConfigError`` naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); a sweep file is TOML text"
        ) from None
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
    protocol = raw.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise err(f"protocol={protocol!r} is invalid; allowed: {', '.join(PROTOCOLS)}")
    grid = parse_grid(get_table(raw, "grid", err, required=True), err)
    try:
        train = TrainSpec.from_mapping(get_table(raw, "train", err))
    except FieldError as exc:
        raise located(exc, path, "[train].", "train.") from None
    tables = {}
    for kind in ("models", "regularizers", "datasets"):
        tables[kind] = {
            k: dict(sub_table(v, f"{kind}.{toml_key(k)}", err))
            for k, v in get_table(raw, kind, err).items()
        }
    notes = []
    for name, opts in tables["datasets"].items():
        keys = {"target", "date_column", "missing_value", "season"}
        check_keys(opts, keys, f"[datasets.{toml_key(name)}].", err)
        for key in ("target", "date_column"):
            if key in opts and (not isinstance(opts[key], str) or not opts[key]):
                raise err(
                    f"[datasets.{toml_key(name)}].{key}={opts[key]!r} is invalid; allowed: "
                    "a column name (a string)"
                )
        if name not in grid.axes["dataset"]:
            notes.append(
                f"warning: {path}: [datasets.{toml_key(name)}] is for a dataset not on "
                f"[grid].dataset ({', '.join(grid.axes['dataset'][:8])}); it is not used"
            )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise err(f"description={description!r} is invalid; allowed: a string")
    res_raw = get_table(raw, "resources", err)
    check_keys(res_raw, {"cpu", "gpu", "workers"}, "[resources].", err)
    res = Resources(**res_raw)  # workers: validated by the specs
    check_num(res.cpu, "[resources].cpu", err, 0, 1024, "a number in (0, 1024]", low_open=True)
    check_num(res.gpu, "[resources].gpu", err, 0, 64, "a number in [0, 64] (fractions share a GPU)")
    if res.gpu > 0 and train.device == "cpu":
        raise err("[resources].gpu > 0 needs [train].device = 'cuda' or 'auto'")
    sweep = get_table(raw, "sweep", err)
    check_keys(sweep, {"max_failures", "max_concurrent"}, "[sweep].", err)
    max_failures = check_int(sweep.get("max_failures", 2), "[sweep].max_failures", err, 0, 100)
    max_conc = check_int(sweep.get("max_concurrent", 0), "[sweep].max_concurrent", err, 0, 100000)
    tuning = parse_tuning(get_table(raw, "tuning", err), err, path)
    tuned_path, tuned = tuned_key(raw, path, err)
    stats_opts = parse_stats_table(raw.get("stats"), err)
    cfg = SweepConfig(
        path=path,
        text=text,
        experiment=exp,
        grid=grid.axes,
        arms=grid.arms,
        model_sweeps=grid.models,
        train_sweeps=grid.train,
        cuts=grid.cuts,
        train=train,
        models=tables["models"],
        regularizers=tables["regularizers"],
        datasets=tables["datasets"],
        resources=res,
        max_failures=max_failures,
        max_concurrent=max_conc,
        tuning=tuning,
        tuned_path=tuned_path,
        tuned=tuned,
        description=description,
        plugins=tuple(plugins),
        protocol=protocol,
        stats=stats_opts,
        notes=tuple(notes),
    )
    cfg._expanded  # noqa: B018  -- every grid point validated once, now, before anything runs
    check_unused(cfg)  # the tables and tuned entries no grid point uses
    check_tuning(cfg)
    return cfg


def import_plugins(modules: tuple[str, ...] | list[str]) -> None:
    """Import plugin modules (they register models / regularizers / datasets)."""
    import importlib

    for mod in modules:
        importlib.import_module(mod)
