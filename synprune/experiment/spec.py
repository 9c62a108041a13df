"""TrialSpec: the frozen, validated description of one trial.

A spec is what Ray and MLflow see (as a dict) and what makes a run replayable: the same spec
gives the same ``spec_id`` (a hash of its canonical JSON, defaults filled in) on every machine.
Validation happens once, in ``__post_init__``, and raises ``ConfigError`` naming the field, its
value and what is allowed -- before any data is read or any trial starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synprune.errors import ConfigError

#: model factory arguments that come from the data / regularizer, never from the spec
_MODEL_RUNTIME_ARGS = frozenset({"n_features", "seq_len", "horizon", "dropout"})


class FrozenParams(dict):
    """A read-only dict (hashable by content) used for component parameters."""

    def _readonly(self, *_: object, **__: object) -> None:
        raise TypeError("spec parameters are read-only; use TrialSpec.with_overrides()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (FrozenParams, (dict(self),))


def _check(cond: bool, field_name: str, value: object, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"{field_name}={value!r} is invalid; allowed: {allowed}")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class ComponentSpec:
    """A registered component (model or regularizer) by name, with its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", FrozenParams(sorted(dict(self.params).items())))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class TrainSpec:
    """Optimisation settings shared by every regularizer (Adam + MSE, early stopping on val)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3
    min_delta: float = 0.0
    grad_clip: float = 0.0  # 0 = off
    device: str = "cpu"  # cpu | cuda | auto
    num_threads: int = 0  # 0 = leave torch's default

    def __post_init__(self) -> None:
        _check(
            _is_int(self.epochs) and 1 <= self.epochs <= 10_000,
            "train.epochs",
            self.epochs,
            "an integer in [1, 10000]",
        )
        _check(
            _is_int(self.batch_size) and 1 <= self.batch_size <= 1 << 20,
            "train.batch_size",
            self.batch_size,
            "an integer in [1, 1048576]",
        )
        _check(_is_num(self.lr) and 0 < self.lr <= 10, "train.lr", self.lr, "a number in (0, 10]")
        _check(
            _is_num(self.weight_decay) and 0 <= self.weight_decay < 1,
            "train.weight_decay",
            self.weight_decay,
            "a number in [0, 1)",
        )
        _check(
            _is_int(self.patience) and self.patience >= 0,
            "train.patience",
            self.patience,
            "an integer >= 0 (0 disables early stopping)",
        )
        _check(
            _is_num(self.min_delta) and self.min_delta >= 0,
            "train.min_delta",
            self.min_delta,
            "a number >= 0",
        )
        _check(
            _is_num(self.grad_clip) and self.grad_clip >= 0,
            "train.grad_clip",
            self.grad_clip,
            "a number >= 0 (0 = no clipping)",
        )
        _check(
            self.device in ("cpu", "cuda", "auto"),
            "train.device",
            self.device,
            "one of cpu, cuda, auto",
        )
        _check(
            _is_int(self.num_threads) and self.num_threads >= 0,
            "train.num_threads",
            self.num_threads,
            "an integer >= 0 (0 = torch default)",
        )


def _model_names() -> list[str]:
    from synprune.models import list_models

    return list_models()


def _resolve_model(spec: ComponentSpec) -> ComponentSpec:
    """Refuse unknown models / parameters; fill in the factory's defaults."""
    from synprune.models import registry as model_registry

    names = _model_names()
    _check(spec.name in names, "model", spec.name, ", ".join(names))
    factory = model_registry.get_model_factory(spec.name)
    sig = inspect.signature(factory)
    accepted = {
        n: p.default
        for n, p in sig.parameters.items()
        if n not in _MODEL_RUNTIME_ARGS and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    unknown = sorted(set(spec.params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model.{unknown[0]} is not a parameter of model {spec.name!r}; "
            f"allowed: {', '.join(sorted(accepted)) or '(none)'}"
        )
    full = {k: v for k, v in accepted.items() if v is not inspect.Parameter.empty}
    full.update(spec.params)
    return ComponentSpec(spec.name, full)


def _resolve_regularizer(spec: ComponentSpec) -> ComponentSpec:
    """Build the regularizer once to validate its parameters; keep its resolved params."""
    from synprune.regularizers import create_regularizer, list_regularizers

    names = list_regularizers()
    _check(spec.name in names, "regularizer", spec.name, ", ".join(names))
    try:
        reg = create_regularizer(spec.name, **dict(spec.params))
    except TypeError as exc:  # unknown keyword
        raise ConfigError(f"regularizer {spec.name!r}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"regularizer.{spec.name}: {exc}") from None
    return ComponentSpec(spec.name, reg.params())


@dataclass(frozen=True)
class TrialSpec:
    """Everything that defines one trial. Construct it, or use ``TrialSpec.from_dict``."""

    dataset: str
    model: ComponentSpec
    regularizer: ComponentSpec
    seq_len: int
    horizon: int = 1
    seed: int = 0
    train: TrainSpec = field(default_factory=TrainSpec)
    target: str | None = None  # csv:PATH datasets only
    date_column: str | None = None  # csv:PATH datasets only
    workers: int = 1  # >1: data-parallel workers (Ray Train) for this one trial

    def __post_init__(self) -> None:
        from synprune.datasets import list_datasets

        if isinstance(self.model, str):
            object.__setattr__(self, "model", ComponentSpec(self.model))
        if isinstance(self.regularizer, str):
            object.__setattr__(self, "regularizer", ComponentSpec(self.regularizer))
        if isinstance(self.train, Mapping):
            object.__setattr__(self, "train", _build(TrainSpec, self.train, "train"))
        names = list_datasets()
        is_csv = isinstance(self.dataset, str) and self.dataset.startswith("csv:")
        _check(
            isinstance(self.dataset, str) and (self.dataset in names or is_csv),
            "dataset",
            self.dataset,
            ", ".join(names) + ", or csv:PATH",
        )
        if is_csv:
            _check(len(self.dataset) > 4, "dataset", self.dataset, "csv:PATH with a file path")
            _check(
                isinstance(self.target, str) and bool(self.target),
                "target",
                self.target,
                "the target column name (required for csv:PATH datasets)",
            )
        _check(
            _is_int(self.seq_len) and 1 <= self.seq_len <= 100_000,
            "seq_len",
            self.seq_len,
            "an integer in [1, 100000]",
        )
        _check(
            _is_int(self.horizon) and 1 <= self.horizon <= 10_000,
            "horizon",
            self.horizon,
            "an integer in [1, 10000]",
        )
        _check(
            _is_int(self.seed) and 0 <= self.seed < 2**31,
            "seed",
            self.seed,
            "an integer in [0, 2**31)",
        )
        _check(
            _is_int(self.workers) and 1 <= self.workers <= 1024,
            "workers",
            self.workers,
            "an integer in [1, 1024]",
        )
        object.__setattr__(self, "model", _resolve_model(self.model))
        object.__setattr__(self, "regularizer", _resolve_regularizer(self.regularizer))

    # -- identity ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what Ray and MLflow see)."""
        return {
            "dataset": self.dataset,
            "target": self.target,
            "date_column": self.date_column,
            "model": self.model.to_dict(),
            "regularizer": self.regularizer.to_dict(),
            "train": dataclasses.asdict(self.train),
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "seed": self.seed,
            "workers": self.workers,
        }

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def spec_id(self) -> str:
        """First 16 hex digits of sha256(canonical JSON): stable across machines and runs."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def flat_params(self) -> dict[str, Any]:
        """Dotted keys -> scalar values (MLflow params)."""
        return _flatten(self.to_dict())

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSpec:
        d = dict(d)
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown spec field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
            )
        for key in ("model", "regularizer"):
            v = d.get(key)
            if isinstance(v, Mapping):
                extra = sorted(set(v) - {"name", "params"})
                if extra:
                    raise ConfigError(
                        f"{key}.{extra[0]} is not allowed; use {key}.name / {key}.params"
                    )
                d[key] = ComponentSpec(v.get("name", ""), v.get("params", {}) or {})
        if isinstance(d.get("train"), Mapping):
            d["train"] = _build(TrainSpec, d["train"], "train")
        for req in ("dataset", "model", "regularizer", "seq_len"):
            if req not in d:
                raise ConfigError(f"spec field {req!r} is required")
        return cls(**d)

    def with_overrides(self, assignments: Iterable[str]) -> TrialSpec:
        """Apply ``key=value`` strings (``--set``): ``train.lr=0.01``, ``model.hidden_size=32``,
        ``regularizer.final_sparsity=0.9``, ``seed=3``. Values parse as JSON, else string."""
        d = self.to_dict()
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.lr=0.01")
            value = parse_value(raw)
            parts = key.strip().split(".")
            if parts[0] in ("model", "regularizer") and len(parts) == 2 and parts[1] != "name":
                d[parts[0]]["params"][parts[1]] = value
            elif parts[0] in ("model", "regularizer") and parts[1:] == ["name"]:
                if value != d[parts[0]]["name"]:
                    d[parts[0]] = {"name": value, "params": {}}
            elif parts[0] == "train" and len(parts) == 2:
                if parts[1] not in {f.name for f in dataclasses.fields(TrainSpec)}:
                    allowed = ", ".join(f.name for f in dataclasses.fields(TrainSpec))
                    raise ConfigError(f"--set {key}: unknown train field; allowed: {allowed}")
                d["train"][parts[1]] = value
            elif (
                len(parts) == 1
                and parts[0] in d
                and parts[0] not in ("model", "regularizer", "train")
            ):
                d[parts[0]] = value
            else:
                raise ConfigError(
                    f"--set {key}: unknown key; use a spec field (seq_len, horizon, seed, workers, "
                    f"dataset, target, date_column), train.FIELD, model.PARAM or regularizer.PARAM"
                )
        # params resolved with defaults would hide a changed name's defaults: drop defaults
        # only where the component was renamed (handled above by resetting params).
        return TrialSpec.from_dict(d)


def parse_value(raw: str) -> Any:
    """``--set`` value: JSON where it parses (numbers, true/false/null, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]} is not a field; allowed: {', '.join(sorted(allowed))}"
        )
    return cls(**values)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
