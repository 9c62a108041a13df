"""The ``[grid]`` of a sweep file: fixed axes, swept fields, extra arms and cuts.

::

    [grid]
    model = ["lstm", "patchtst"]      # fixed axes: model, dataset, regularizer, seq_len,
    dataset = ["bitcoin"]             #   horizon (default 1), seed (default 0);
    regularizer = ["none", "dropout", "synaptic", "synaptic+dropout"]   # a list or one value
    seq_len = [7, 14]
    seed = [0, 1, 2]
    # swept fields: dotted keys (TOML reads them as nested tables; both spellings work)
    regularizers.synaptic.final_sparsity = [0.2, 0.4]       # only synaptic's trials
    regularizers.synaptic.score = ["magnitude", "lamp"]     # crossed with the line above
    regularizers."synaptic+dropout".synaptic.final_sparsity = [0.3, 0.5]   # only the composite's
    models.lstm.hidden_size = [32, 64]                      # only lstm's trials
    train.lr = [1e-3, 3e-4]                                 # every trial

    [[grid.extra]]                    # an extra arm beside the regularizer axis, crossed with
    regularizer = "synaptic"          # model x dataset x seq_len x horizon x seed (and model /
    early_stop_during_schedule = true # train sweeps) only; its fields (one value or a list)
    final_sparsity = 0.8              # label the arm like swept fields

    [[grid.cut]]                      # fewer windows / seeds for costly cells: grid points
    where = { model = "patchtst", dataset = "air_quality" }   # matching every `where` key
    seq_len = [14]                    # keep only these values of the other axes (seq_len,
    seed = [0, 1]                     # horizon, seed); arms are never cut within a block

Collections of series (``m4_hourly``): ``series = "sample:100"`` (a deterministic sample,
``numpy.random.default_rng(0)``; ``"sample:100:7"`` draws with seed 7), ``"all"`` or a list of
ids (``["H1", "H7"]``) turns each such name on the dataset axis into one value per series,
``m4_hourly:H1``, ... (each its own block in ``stats``; see ``synprune.datasets.m4_series``).
One series can also be named directly (``dataset = ["m4_hourly:H7"]``). A cut's ``where``
may name the collection (``{ dataset = "m4_hourly" }``) to match all of its series.

Rules. A field swept under ``regularizers.<name>`` multiplies the trials of the regularizer
named exactly ``<name>`` on the axis: ``none`` is never repeated, and a composite ``a+b`` is
swept only through its own key (``regularizers."a+b".a.FIELD``) -- a composite takes each
part's *table* (``[regularizers.a]``, then ``[regularizers."a+b".a]`` over it) but not the
parts' sweeps, so adding ``synaptic+dropout`` to a grid that sweeps synaptic adds one arm, not
one per synaptic value. ``models.<name>`` likewise multiplies only that model's trials,
``train`` every trial. Every swept field (and every field of an extra arm) is recorded in
``TrialSpec.swept`` and labels the trial's ``arm``, e.g. ``synaptic[final_sparsity=0.4,
score=lamp]``, ``none[train.lr=0.0003]``, ``synaptic+dropout[synaptic.final_sparsity=0.5]``.
Two grid points that are the same trial are refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from synprune.config.checks import Err, check_keys, leaf_paths, name_list, toml_key, value_list
from synprune.errors import ConfigError
from synprune.experiment.params import label_value

AXES = ("model", "dataset", "regularizer", "seq_len", "horizon", "seed")
_NAME_AXES = ("model", "dataset", "regularizer")
#: the most trials one sweep file may hold: larger grids are refused before they are expanded
MAX_TRIALS = 100_000
_DEFAULTS: dict[str, tuple[Any, ...]] = {"horizon": (1,), "seed": (0,)}
_SWEEPS = ("regularizers", "models", "train")

Combo = tuple[tuple[str, Any], ...]  # (path, value) pairs, sorted by path


@dataclass(frozen=True)
class ArmSource:
    """A regularizer on the axis (with its swept fields) or one ``[[grid.extra]]`` entry."""

    regularizer: str
    where: str  # config key prefix of its fields: "[grid].regularizers.synaptic."
    fields: Mapping[str, tuple[Any, ...]]  # path in the regularizer's params -> values

    def combos(self) -> list[Combo]:
        return _combos(self.fields)


@dataclass(frozen=True)
class Point:
    """One grid point before it becomes a ``TrialSpec``."""

    seed: int
    dataset: str
    model: str
    model_combo: Combo
    seq_len: int
    horizon: int
    train_combo: Combo
    arm: ArmSource
    reg_combo: Combo

    def swept(self) -> tuple[str, ...]:
        return tuple(
            [f"regularizer.{p}" for p, _ in self.reg_combo]
            + [f"model.{p}" for p, _ in self.model_combo]
            + [f"train.{p}" for p, _ in self.train_combo]
        )

    def label(self) -> str:
        """The arm label this point will get (for messages, before a spec exists)."""
        items = [(p, v) for p, v in self.reg_combo]
        items += [(f"model.{p}", v) for p, v in self.model_combo]
        items += [(f"train.{p}", v) for p, v in self.train_combo]
        if not items:
            return self.arm.regularizer
        inner = ",".join(f"{p}={label_value(v)}" for p, v in sorted(items))
        return f"{self.arm.regularizer}[{inner}]"


_CUT_WHERE = ("model", "dataset", "seq_len", "horizon")
_CUT_KEEP = ("seq_len", "horizon", "seed")


@dataclass(frozen=True)
class Cut:
    """``[[grid.cut]]``: grid points matching ``where`` keep only the ``keep`` axis values."""

    where: Mapping[str, tuple[Any, ...]]
    keep: Mapping[str, tuple[Any, ...]]

    def drops(self, point: Point) -> bool:
        if not all(_matches(k, getattr(point, k), v) for k, v in self.where.items()):
            return False
        return any(getattr(point, k) not in v for k, v in self.keep.items())


def _matches(axis: str, value: Any, values: tuple[Any, ...]) -> bool:
    """``value`` is one of ``values``; a series ``m4_hourly:H1`` also matches ``m4_hourly``."""
    if value in values:
        return True
    return axis == "dataset" and isinstance(value, str) and value.partition(":")[0] in values


@dataclass(frozen=True)
class Grid:
    axes: Mapping[str, tuple[Any, ...]]
    arms: tuple[ArmSource, ...]
    models: Mapping[str, Mapping[str, tuple[Any, ...]]]
    train: Mapping[str, tuple[Any, ...]]
    cuts: tuple[Cut, ...] = ()

    def size(self) -> int:
        """How many points the grid has before cuts, counted without expanding it: the
        product of the axes, each model's and the train sweeps' combinations, and the arms'."""
        a = self.axes
        models = sum(_n_combos(self.models.get(m, {})) for m in a["model"])
        arms = sum(_n_combos(arm.fields) for arm in self.arms)
        n = len(a["seed"]) * len(a["dataset"]) * len(a["seq_len"]) * len(a["horizon"])
        return n * models * arms * _n_combos(self.train)

    def points(self) -> Iterator[Point]:
        """Seed outermost (a partial sweep holds whole seeds), then dataset, model (and its
        sweeps), seq_len, horizon, train sweeps, arms."""
        a = self.axes
        models = [(m, c) for m in a["model"] for c in _combos(self.models.get(m, {}))]
        arms = [(arm, c) for arm in self.arms for c in arm.combos()]
        for seed, ds, (m, mc), seq_len, horizon, tc, (arm, rc) in itertools.product(
            a["seed"], a["dataset"], models, a["seq_len"], a["horizon"], _combos(self.train), arms
        ):
            point = Point(seed, ds, m, mc, seq_len, horizon, tc, arm, rc)
            if not any(cut.drops(point) for cut in self.cuts):
                yield point


def _n_combos(fields: Mapping[str, tuple[Any, ...]]) -> int:
    n = 1
    for values in fields.values():
        n *= len(values)
    return n


def _combos(fields: Mapping[str, tuple[Any, ...]]) -> list[Combo]:
    keys = sorted(fields)
    return [
        tuple(zip(keys, vals, strict=True))
        for vals in itertools.product(*(fields[k] for k in keys))
    ]


def parse_grid(g: Mapping[str, Any], err: Err) -> Grid:
    """Shape of ``[grid]``; values are validated later, by the specs built from it."""
    check_keys(g, {*AXES, *_SWEEPS, "extra", "cut", "series"}, "[grid].", err)
    axes: dict[str, tuple[Any, ...]] = {}
    for axis in AXES:
        if axis not in g and axis not in _DEFAULTS:
            raise err(f"[grid].{axis} is required")
        read = name_list if axis in _NAME_AXES else value_list
        axes[axis] = read(g[axis], f"[grid].{axis}", err) if axis in g else _DEFAULTS[axis]
    collections = _expand_series(axes["dataset"], g.get("series"), err)
    axes["dataset"] = tuple(d for ds in axes["dataset"] for d in collections.get(ds, [ds]))
    regs = _tables(g.get("regularizers", {}), "[grid].regularizers", err)
    models = _tables(g.get("models", {}), "[grid].models", err)
    for kind, sweeps, axis in (("regularizer", regs, "regularizer"), ("model", models, "model")):
        for name in sweeps:
            if name not in axes[axis]:
                raise err(
                    f"[grid].{kind}s.{toml_key(name)} sweeps a {kind} that is not on the "
                    f"[grid].{axis} axis ({', '.join(map(str, axes[axis]))})"
                )
    train = g.get("train", {})
    if not isinstance(train, Mapping):
        raise err("[grid].train must hold dotted keys train.FIELD = [values]")
    arms = [
        ArmSource(r, f"[grid].regularizers.{toml_key(r)}.", regs.get(r, {}))
        for r in axes["regularizer"]
    ]
    extra = g.get("extra", [])
    if not isinstance(extra, list) or not all(isinstance(e, Mapping) for e in extra):
        raise err("[grid].extra must be [[grid.extra]] tables")
    for i, e in enumerate(extra):
        where = f"[grid.extra][{i}]."
        name = e.get("regularizer")
        if not isinstance(name, str) or not name:
            raise err(f"{where}regularizer is required: the regularizer this arm runs")
        leaves = leaf_paths({k: v for k, v in e.items() if k != "regularizer"})
        arms.append(
            ArmSource(name, where, {p: value_list(v, where + p, err) for p, v in leaves.items()})
        )
    grid = Grid(
        axes=axes,
        arms=tuple(arms),
        models=models,
        train={k: value_list(v, f"[grid].train.{k}", err) for k, v in leaf_paths(train).items()},
        cuts=_cuts(g.get("cut", []), axes, err),
    )
    n = grid.size()
    if n > MAX_TRIALS:
        raise err(
            f"[grid] holds {n:,} trials (before cuts); allowed: at most {MAX_TRIALS:,} per "
            "sweep file -- split it into several configs (one per dataset or model)"
        )
    return grid


def _expand_series(datasets: tuple[Any, ...], selector: Any, err: Err) -> dict[str, list[str]]:
    """``{collection: [NAME:ID, ...]}`` for each collection of series on the dataset axis,
    selected by ``[grid].series``; refuses a collection without ``series`` and the reverse."""
    from synprune.datasets.m4_series import select_series
    from synprune.datasets.registry import SERIES_IDS

    found = [d for d in datasets if isinstance(d, str) and d in SERIES_IDS]
    if selector is None:
        if found:
            n = len(SERIES_IDS[found[0]])
            raise err(
                f"[grid].dataset {found[0]!r} holds {n} series: choose them with [grid].series "
                f'= "all", "sample:N" (a deterministic sample) or a list of ids, or name one '
                f"series as {found[0]}:{SERIES_IDS[found[0]][0]}"
            )
        return {}
    if not found:
        raise err(
            f"[grid].series={selector!r} selects series, but no collection of series is on "
            f"[grid].dataset; collections: {', '.join(sorted(SERIES_IDS))}"
        )
    out: dict[str, list[str]] = {}
    for d in found:
        try:
            out[d] = select_series(d, selector, "[grid].series")
        except ConfigError as exc:
            raise err(str(exc)) from None
    return out


def _cuts(raw: Any, axes: Mapping[str, tuple[Any, ...]], err: Err) -> tuple[Cut, ...]:
    """``[[grid.cut]]`` tables; every value must be on its axis, so a typo cannot cut nothing."""
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) for c in raw):
        raise err("[grid].cut must be [[grid.cut]] tables")
    cuts = []
    for i, c in enumerate(raw):
        at = f"[grid.cut][{i}]."
        check_keys(c, {"where", *_CUT_KEEP}, at, err)
        where = c.get("where")
        if not isinstance(where, Mapping) or not where:
            raise err(f'{at}where is required: a table of axis values, e.g. {{ model = "x" }}')
        check_keys(where, set(_CUT_WHERE), f"{at}where.", err)
        parts: dict[str, dict[str, tuple[Any, ...]]] = {"where": {}, "keep": {}}
        for kind, table, prefix in (("where", where, f"{at}where."), ("keep", c, at)):
            for axis, v in table.items():
                if axis == "where":
                    continue
                values = value_list(v, prefix + axis, err)
                unknown = [
                    x for x in values if not any(_matches(axis, a, (x,)) for a in axes[axis])
                ]
                if unknown:
                    raise err(
                        f"{prefix}{axis}={unknown!r} is not on the [grid].{axis} axis "
                        f"({', '.join(map(str, axes[axis]))})"
                    )
                parts[kind][axis] = values
        if not parts["keep"]:
            raise err(f"{at} names no axis to cut; allowed: {', '.join(_CUT_KEEP)}")
        overlap = set(parts["where"]) & set(parts["keep"])
        if overlap:
            raise err(f"{at}{sorted(overlap)[0]} is both matched (where) and cut")
        cuts.append(Cut(parts["where"], parts["keep"]))
    return tuple(cuts)


def _tables(d: Any, key: str, err: Err) -> dict[str, dict[str, tuple[Any, ...]]]:
    """``{name: {field path: values}}`` from ``[grid].regularizers`` / ``[grid].models``."""
    if not isinstance(d, Mapping) or not all(isinstance(v, Mapping) for v in d.values()):
        raise err(
            f"{key} must hold dotted keys {key.removeprefix('[grid].')}.NAME.FIELD = [values]"
        )
    return {
        name: {
            p: value_list(v, f"{key}.{toml_key(name)}.{p}", err) for p, v in leaf_paths(t).items()
        }
        for name, t in d.items()
    }
