"""Which key of the sweep file a bad value came from.

The values themselves are validated by the component constructors (``resolve_regularizer``,
``resolve_model``), ``TrainSpec`` and ``TrialSpec`` -- nowhere else. Their
``FieldError`` says *which field* (its ``prefix`` is the place in the spec); this module says
*which key of the file* set it: a table, a swept field, an extra arm, the tuned file, the
grid's axes, [resources] or [tuning].
"""

from __future__ import annotations

import dataclasses

from synprune.config.checks import leaf_paths, located, merged, toml_key
from synprune.config.grid import ArmSource, Point
from synprune.config.tables import ConfigTables
from synprune.errors import ConfigError, FieldError
from synprune.experiment.resolve import resolve_model, resolve_regularizer
from synprune.experiment.spec import ComponentSpec, TrialSpec


def _is_name(exc: FieldError, kind: str) -> bool:
    """The error is about a component's *name* (unknown model / regularizer)."""
    return exc.field == kind and not exc.prefix


def _name_key(arm: ArmSource) -> str:
    return "[grid]." if arm.where.startswith("[grid].regularizers.") else arm.where


def _reg(name: str) -> str:
    return f"[regularizers.{toml_key(name)}]."


def check_unused(cfg: ConfigTables) -> None:
    """What no grid point uses, so no spec validated it: ``[regularizers.*]`` tables of
    regularizers off the grid, and tuned entries of (model, dataset, regularizer) cells off it.
    Everything the grid uses was validated once, by its specs (:func:`locate` names the key)."""
    path = cfg.path
    used = {part for arm in cfg.arms for part in (arm.regularizer, *arm.regularizer.split("+"))}
    # parts before composites: a value a composite inherits is blamed on the part's table
    for name in sorted(set(cfg.regularizers) - used, key=lambda n: ("+" in n, n)):
        try:
            resolve_regularizer(name, cfg.reg_table(name))
        except FieldError as exc:
            raise located(
                exc, path, _reg(name)[:-1] + ": " if _is_name(exc, "regularizer") else _reg(name)
            ) from None
    on_grid = {arm.regularizer for arm in cfg.arms}
    for model, by_ds in cfg.tuned.items():
        for ds, by_reg in by_ds.items():
            for reg, entry in by_reg.items():
                if model in cfg.grid["model"] and ds in cfg.grid["dataset"] and reg in on_grid:
                    continue  # validated by the specs of its cell
                params = merged(cfg.reg_table(reg), entry.get("params", {}))
                try:
                    resolve_regularizer(reg, params)
                except FieldError as exc:
                    name = cfg.tuned_path.name if cfg.tuned_path else "tuned"
                    where = f"{name}: tuned.{model}.{ds}.{reg}.params."
                    raise located(exc, path, where) from None


def _swept_context(point: Point, skip: str = "") -> str:
    """``with [grid].regularizers.synaptic.start_frac=0.85: `` -- the point's swept values
    (but ``skip``), each by its key, before the key a bad value came from."""
    items = [f"{point.arm.where}{q}={v!r}" for q, v in point.reg_combo if q != skip]
    return f"with {', '.join(items)}: " if items else ""


def locate(cfg: ConfigTables, exc: FieldError, point: Point) -> FieldError:
    """``exc`` from the spec of ``point``, named by the key of the file that set the field."""
    path, p, f = cfg.path, exc.prefix, exc.field
    m, ds, name = point.model, point.dataset, point.arm.regularizer
    if p.startswith("train."):
        where = "[grid].train." if f in dict(point.train_combo) else "[train]."
        return located(exc, path, where, "train.")
    if p.startswith("model."):
        swept = p.removeprefix("model.") + f in dict(point.model_combo)
        key = f"[grid].models.{toml_key(m)}." if swept else f"[models.{toml_key(m)}]."
        return located(
            exc, path, f"for seq_len={point.seq_len}, horizon={point.horizon}: {key}", "model."
        )
    if p.startswith("regularizer."):
        rest = p.removeprefix("regularizer.")
        ctx = _swept_context(point)
        if rest + f in dict(point.reg_combo):
            return located(
                exc, path, _swept_context(point, rest + f) + point.arm.where, "regularizer."
            )
        if rest + f in leaf_paths(cfg.tuned_params(m, ds, name)):
            tuned = cfg.tuned_path.name if cfg.tuned_path else "tuned"
            return located(
                exc, path, f"{ctx}{tuned}: tuned.{m}.{ds}.{name}.params.", "regularizer."
            )
        part = rest.split(".")[0]
        own = leaf_paths(cfg.regularizers.get(name, {}))
        if "+" in name and part in name.split("+") and rest + f not in own:
            return located(exc, path, ctx + _reg(part), f"regularizer.{part}.")
        return located(exc, path, ctx + _reg(name), "regularizer.")
    if f == "workers":
        return located(exc, path, "[resources].")
    if f == "protocol":  # the top-level key, refused for this grid point's dataset
        return located(exc, path, f"for dataset={ds}: ")
    if f in ("target", "date_column", "missing_value", "season"):
        return located(exc, path, f"[datasets.{toml_key(str(ds))}].")
    return located(exc, path, _name_key(point.arm) if f == "regularizer" else "[grid].")


def check_tuning(cfg: ConfigTables) -> None:
    """[tuning]'s window, seeds and epochs, and the model tables of models off the grid's
    axis, through the same constructors (``TrialSpec`` at the grid's first point)."""
    path, t, g = cfg.path, cfg.tuning, cfg.grid
    seq_len = (
        t.seq_len if t.seq_len is not None else sorted(g["seq_len"])[(len(g["seq_len"]) - 1) // 2]
    )
    horizon = t.horizon if t.horizon is not None else g["horizon"][0]
    try:
        train = cfg.train if t.epochs is None else dataclasses.replace(cfg.train, epochs=t.epochs)
    except FieldError as exc:
        raise located(exc, path, "[tuning].", "train.") from None
    for model in g["model"]:
        for seed in t.seeds:
            try:
                TrialSpec(
                    dataset=g["dataset"][0],
                    model=ComponentSpec(model, cfg.models.get(model, {})),
                    regularizer=ComponentSpec("none"),
                    seq_len=seq_len,
                    horizon=horizon,
                    seed=seed,
                    train=train,
                    target=cfg.datasets.get(g["dataset"][0], {}).get("target"),
                )
            except FieldError as exc:
                if exc.prefix.startswith("model."):
                    where = f"with [tuning].seq_len={seq_len}, horizon={horizon}: "
                    where += f"[models.{toml_key(model)}]."
                    raise located(exc, path, where, "model.") from None
                key = "[tuning].seeds: " if exc.field == "seed" else "[tuning]."
                raise located(exc, path, key) from None
            except ConfigError as exc:
                raise cfg.err(f"[tuning]: {exc}") from None
    for model, arch in cfg.models.items():
        if model in g["model"]:
            continue  # checked by every grid point
        for seq_len in g["seq_len"]:
            try:
                resolve_model(model, arch, seq_len, g["horizon"][0])
            except FieldError as exc:
                if _is_name(exc, "model"):
                    raise located(exc, path, f"[models.{toml_key(model)}]: ") from None
                where = f"for seq_len={seq_len}: [models.{toml_key(model)}]."
                raise located(exc, path, where, "model.") from None
