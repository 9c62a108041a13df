"""TrialSpec: the frozen, validated description of one trial.

A spec is what Ray and MLflow see (as a dict) and what makes a run replayable: the same spec
gives the same ``spec_id`` on every machine.

**One validation path.** ``__post_init__`` checks the spec's own fields (dataset, seq_len, ...,
``train``) and hands the components to their constructors: the model is built on the meta
device through ``create_model`` (no memory, no random draw) and the regularizer through
``create_regularizer``. Every refusal is a :class:`~synprune.errors.FieldError` whose ``prefix``
is the field's place in the spec: ``""`` (top level: ``seq_len``, ``model`` = the name, ...),
``"train."``, ``"model."`` or ``"regularizer."`` (then the constructor's own prefix, e.g. a
composite's part ``"synaptic."``). Callers (the config layer, the CLI) say where a value came
from by replacing that prefix (:func:`relocate`), never by parsing text.

**Resolved.** ``model.params`` hold the architecture the model actually builds (defaults that
depend on seq_len resolved by the model's ``resolved_arch()``), ``regularizer.params`` the
constructor's ``params()`` (a composite ``a+b``: ``{a: {...}, b: {...}}``); ``to_dict()``
holds no ``None``.

**Identity.** ``spec_id`` = first 16 hex digits of sha256 of the canonical JSON of ``to_dict()``
*without* ``swept``. ``swept`` (the fields a sweep grid varied for this trial) only labels the
trial: :attr:`TrialSpec.arm`, e.g. ``synaptic[final_sparsity=0.4,score=lamp]``. The same
training settings are the same trial whatever grid produced them; a grid that would give one
trial two labels is refused by the config layer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synprune.errors import ConfigError, FieldError
from synprune.experiment.params import flatten, freeze, label_value, parse_value, thaw
from synprune.experiment.resolve import (
    default_min_epochs,
    default_protocol,
    protocol_model_defaults,
    resolve_model,
    resolve_regularizer,
    settle_fraction,
)


def relocate(err: FieldError, spec_prefix: str, where: str) -> FieldError:
    """``err`` raised at spec place ``spec_prefix`` (e.g. ``"regularizer."``), re-prefixed as
    ``where`` + the rest of its prefix: ``relocate(e, "train.", "x.toml: [train].")``."""
    rest = err.prefix[len(spec_prefix) :] if err.prefix.startswith(spec_prefix) else err.prefix
    return FieldError(err.field, err.value, err.allowed, prefix=where + rest)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


Rules = dict[str, tuple[Callable[[Any], bool], str]]


def _apply(rules: Rules, obj: object, prefix: str) -> None:
    for name, (ok, allowed) in rules.items():
        value = getattr(obj, name)
        if not ok(value):
            raise FieldError(name, value, allowed, prefix=prefix)


@dataclass(frozen=True)
class ComponentSpec:
    """A registered component (model or regularizer) by name, with its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", freeze(dict(self.params or {})))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": thaw(self.params)}


#: ``[train] stopping``: equal (one rule for every arm), fixed (no early stop), per_arm (old)
STOPPING_RULES = ("equal", "fixed", "per_arm")
_TRAIN_RULES: Rules = {
    "epochs": (lambda v: _is_int(v) and 1 <= v <= 10_000, "an integer in [1, 10000]"),
    "batch_size": (lambda v: _is_int(v) and 1 <= v <= 1 << 20, "an integer in [1, 1048576]"),
    "lr": (lambda v: _is_num(v) and 0 < v <= 10, "a number in (0, 10]"),
    "patience": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0 disables early stopping)"),
    "min_delta": (lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    "grad_clip": (lambda v: _is_num(v) and v >= 0, "a number >= 0 (0 = no clipping)"),
    "device": (lambda v: isinstance(v, str) and v in ("cpu", "cuda", "auto"), "cpu, cuda or auto"),
    "num_threads": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0 = torch default)"),
    "stopping": (lambda v: v in STOPPING_RULES, "equal, fixed or per_arm"),
    "min_epochs": (
        lambda v: v is None or (_is_int(v) and v >= 0),
        "an integer >= 0 (unset: the epoch where the latest-ending regularizer schedule ends)",
    ),
}
#: train fields that moved elsewhere: the refusal says where
_MOVED_TRAIN = {
    "weight_decay": (
        "not a train field: weight decay is the regularizer weight_decay (decoupled, AdamW), "
        "set once: --regularizer weight_decay --set regularizer.weight_decay=0.01, or a "
        "composite such as synaptic+weight_decay (config: [regularizers.weight_decay] "
        "weight_decay = 0.01)"
    ),
}
#: ``protocol``: leak_free (default), paper (the paper code's splits/scaling), m4 (M4 datasets)
PROTOCOLS = ("leak_free", "paper", "m4")


@dataclass(frozen=True)
class TrainSpec:
    """Optimisation settings shared by every regularizer (AdamW + MSE, stopping on val).

    Defaults follow the paper's code where it is known (batch 64, 20 epochs, patience 3,
    Adam lr 1e-3); the optimizer is AdamW with the regularizer's ``weight_decay`` (0 unless
    the ``weight_decay`` regularizer sets it: Adam). ``stopping`` / ``min_epochs``: see
    :mod:`synprune.experiment.train`; ``min_epochs=None`` is resolved by ``TrialSpec``
    (:func:`default_min_epochs`). Refusals are ``FieldError`` with prefix ``"train."``.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 3
    min_delta: float = 0.0
    grad_clip: float = 0.0  # 0 = off
    device: str = "cpu"  # cpu | cuda | auto
    num_threads: int = 0  # 0 = leave torch's default
    stopping: str = "equal"  # equal | fixed | per_arm (see experiment.train)
    min_epochs: int | None = None  # None: resolved by TrialSpec from the regularizer schedule

    def __post_init__(self) -> None:
        _apply(_TRAIN_RULES, self, "train.")
        if self.min_epochs is not None and self.min_epochs > self.epochs:
            raise FieldError(
                "min_epochs",
                self.min_epochs,
                f"an integer in [0, epochs={self.epochs}]",
                prefix="train.",
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainSpec:
        """``TrainSpec(**values)``; an unknown key is a ``FieldError`` listing the fields."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in sorted(set(values) & set(_MOVED_TRAIN)):
            raise FieldError(key, values[key], _MOVED_TRAIN[key], prefix="train.")
        for key in sorted(set(values) - set(names)):
            raise FieldError(
                key, values[key], f"a train field: {', '.join(names)}", prefix="train."
            )
        return cls(**values)


_TOP_RULES: Rules = {
    "seq_len": (lambda v: _is_int(v) and 1 <= v <= 100_000, "an integer in [1, 100000]"),
    "horizon": (lambda v: _is_int(v) and 1 <= v <= 10_000, "an integer in [1, 10000]"),
    "seed": (lambda v: _is_int(v) and 0 <= v < 2**31, "an integer in [0, 2**31)"),
    "workers": (lambda v: _is_int(v) and 1 <= v <= 1024, "an integer in [1, 1024]"),
    "season": (
        lambda v: v is None or (_is_int(v) and 1 <= v <= 10_000),
        "an integer in [1, 10000] (rows per seasonal cycle; unset: the dataset's)",
    ),
}
_SWEPT_ALLOWED = "dotted paths of this spec's fields: regularizer.FIELD, model.FIELD, train.FIELD"


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
    missing_value: float | None = None  # the code of a missing cell (csv:PATH, air_quality)
    workers: int = 1  # >1: data-parallel workers (Ray Train) for this one trial
    #: leak_free | paper | m4 (None: resolved, m4 for M4 datasets, else leak_free)
    protocol: str | None = None
    #: rows per seasonal cycle for the seasonal-naive reference and the MASE scale (None: the
    #: dataset's own ``SeriesData.season``)
    season: int | None = None
    #: fields a sweep grid varied for this trial (``regularizer.final_sparsity``,
    #: ``regularizer.synaptic.final_sparsity``, ``model.hidden_size``, ``train.lr``); they
    #: label the trial (``arm``) and are not part of ``spec_id``
    swept: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from synprune.datasets import check_dataset_name, check_protocol

        for key in ("model", "regularizer"):
            if isinstance(getattr(self, key), str):
                object.__setattr__(self, key, ComponentSpec(getattr(self, key)))
        if isinstance(self.train, Mapping):
            object.__setattr__(self, "train", TrainSpec.from_mapping(self.train))
        check_dataset_name(self.dataset)  # registered, m4_hourly:H1..H414 or csv:PATH
        is_csv = self.dataset.startswith("csv:")
        if is_csv and not (isinstance(self.target, str) and self.target):
            raise FieldError("target", self.target, "the target column (csv:PATH datasets)")
        mv = self.missing_value
        if mv is not None and not _is_num(mv):
            raise FieldError("missing_value", mv, "a finite number (the code of a missing cell)")
        _apply(_TOP_RULES, self, "")
        if self.protocol is None:
            object.__setattr__(self, "protocol", default_protocol(self.dataset))
        check_protocol(self.protocol, self.dataset, self.horizon)  # m4: M4 data, its horizon
        m, r = self.model, self.regularizer
        params = {**protocol_model_defaults(self.protocol, m.name), **m.params}
        arch = resolve_model(m.name, params, self.seq_len, self.horizon)
        object.__setattr__(self, "model", ComponentSpec(m.name, arch))
        try:
            reg_params = resolve_regularizer(r.name, r.params)
        except FieldError as exc:
            raise exc if exc.field == "regularizer" else exc.with_prefix("regularizer.") from None
        object.__setattr__(self, "regularizer", ComponentSpec(r.name, reg_params))
        # min_epochs unset: this spec's own regularizer decides (a sweep sets the grid's max);
        # remembered so that with_overrides re-resolves it after a new epochs / regularizer
        object.__setattr__(self, "_derived_min_epochs", self.train.min_epochs is None)
        if self.train.min_epochs is None:
            frac = settle_fraction(r.name, reg_params)
            resolved = default_min_epochs(frac, self.train.epochs)
            object.__setattr__(self, "train", dataclasses.replace(self.train, min_epochs=resolved))
        swept = self.swept
        if isinstance(swept, str) or not isinstance(swept, Iterable):
            raise FieldError("swept", swept, _SWEPT_ALLOWED)
        object.__setattr__(self, "swept", tuple(sorted(set(swept))))
        for path in self.swept:
            self.value_at(path)

    # -- identity ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what Ray and MLflow see); no ``None`` values."""
        d: dict[str, Any] = {
            "dataset": self.dataset,
            "model": self.model.to_dict(),
            "regularizer": self.regularizer.to_dict(),
            "train": dataclasses.asdict(self.train),
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "seed": self.seed,
            "workers": self.workers,
            "protocol": self.protocol,
            "swept": list(self.swept),
        }
        for key in ("target", "date_column", "missing_value", "season"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    def canonical_json(self) -> str:
        """The identity: ``to_dict()`` without ``swept``, keys sorted, no spaces."""
        d = self.to_dict()
        d.pop("swept")
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @property
    def spec_id(self) -> str:
        """First 16 hex digits of sha256(canonical JSON): stable across machines and runs."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @property
    def arm(self) -> str:
        """``regularizer name[field=value,...]`` over the swept fields in sorted order
        (``regularizer.`` dropped, ``model.`` / ``train.`` kept), or the bare name."""
        if not self.swept:
            return self.regularizer.name
        labels = {p.removeprefix("regularizer."): self.value_at(p) for p in self.swept}
        inner = ",".join(f"{k}={label_value(labels[k])}" for k in sorted(labels))
        return f"{self.regularizer.name}[{inner}]"

    def label(self) -> str:
        """``lstm synthetic dropout[p=0.3] L=8 H=1 seed=0``: the trial on the console."""
        return (
            f"{self.model.name} {self.dataset} {self.arm} L={self.seq_len} H={self.horizon} "
            f"seed={self.seed}"
        )

    def run_name(self) -> str:
        """``lstm-synthetic-dropout[p=0.3]-L8-H1-s0``: the trial's MLflow run name."""
        return (
            f"{self.model.name}-{self.dataset}-{self.arm}-L{self.seq_len}-H{self.horizon}"
            f"-s{self.seed}"
        )

    def value_at(self, path: str) -> Any:
        """The value of a dotted spec path (``regularizer.synaptic.p``, ``train.lr``, ...)."""
        head, _, rest = str(path).partition(".")
        value: Any = None
        if head == "train" and rest in {f.name for f in dataclasses.fields(TrainSpec)}:
            return getattr(self.train, rest)
        if head in ("model", "regularizer") and rest:
            value = getattr(self, head).params
            for part in rest.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    raise FieldError("swept", path, _SWEPT_ALLOWED)
                value = value[part]
            if not isinstance(value, Mapping):
                return value
        raise FieldError("swept", path, _SWEPT_ALLOWED)

    def flat_params(self) -> dict[str, Any]:
        """Dotted keys -> scalar values (MLflow params), ``arm`` instead of ``swept``."""
        d = self.to_dict()
        d.pop("swept")
        return {**flatten(d), "arm": self.arm}

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSpec:
        d = dict(d)
        allowed = sorted(f.name for f in dataclasses.fields(cls))
        for key in sorted(set(d) - set(allowed)):
            raise FieldError(key, d[key], f"a spec field: {', '.join(allowed)}")
        for key in ("model", "regularizer"):
            v = d.get(key)
            if isinstance(v, Mapping):
                for extra in sorted(set(v) - {"name", "params"}):
                    raise FieldError(extra, v[extra], "name, params", prefix=f"{key}.")
                d[key] = ComponentSpec(v.get("name", ""), v.get("params") or {})
        for req in ("dataset", "model", "regularizer", "seq_len"):
            if req not in d:
                raise ConfigError(f"spec field {req!r} is required")
        d["swept"] = tuple(d.get("swept") or ())
        return cls(**d)

    def with_overrides(self, assignments: Iterable[str]) -> TrialSpec:
        """Apply ``key=value`` strings (``--set``): ``train.lr=0.01``, ``model.hidden_size=32``,
        ``regularizer.final_sparsity=0.9``, ``regularizer.synaptic.final_sparsity=0.5`` (a
        part of a composite), ``regularizer.name=dropout``, ``seed=3``. Values parse as JSON,
        else string. A new seq_len / horizon / protocol re-resolves the model's defaults that
        depend on them (parameters equal to the old defaults are dropped first); a protocol
        left at its default follows a new dataset (``m4`` for M4 data)."""
        d = self.to_dict()
        given: set[str] = set()
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.lr=0.01")
            parts = key.strip().split(".")
            value = parse_value(raw)
            if parts[0] in ("model", "regularizer") and parts[1:] == ["name"]:
                if value != d[parts[0]]["name"]:
                    d[parts[0]] = {"name": value, "params": {}}
                    d["swept"] = [p for p in d["swept"] if not p.startswith(parts[0] + ".")]
            elif parts[0] in ("model", "regularizer") and len(parts) >= 2:
                node = d[parts[0]]["params"]
                for p in parts[1:-1]:
                    node = node.setdefault(p, {})
                    if not isinstance(node, dict):
                        raise ConfigError(f"--set {key}: {p!r} is not a table")
                node[parts[-1]] = value
                given.add(key.strip())
            elif parts[0] == "train" and len(parts) == 2:
                d["train"][parts[1]] = value  # unknown names: FieldError from TrainSpec
                given.add(key.strip())
            elif len(parts) == 1 and parts[0] in _TOP_KEYS:
                d[parts[0]] = value
                given.add(parts[0])
            else:
                raise ConfigError(
                    f"--set {key}: unknown key; use a spec field ({', '.join(_TOP_KEYS)}), "
                    "train.FIELD, model.FIELD, regularizer.FIELD or regularizer.PART.FIELD "
                    "(a part of a composite)"
                )
        if getattr(self, "_derived_min_epochs", False) and "train.min_epochs" not in given:
            d["train"]["min_epochs"] = None  # re-resolved for the new epochs / regularizer
        if "protocol" not in given and self.protocol == default_protocol(self.dataset):
            d["protocol"] = None  # a default protocol follows a new dataset (m4 for M4 data)
        protocol = d["protocol"] or default_protocol(d["dataset"])
        window = (d["seq_len"], d["horizon"], protocol)
        if d["model"]["name"] == self.model.name and window != (
            self.seq_len,
            self.horizon,
            self.protocol,
        ):
            defaults = protocol_model_defaults(self.protocol, self.model.name)
            old = resolve_model(self.model.name, defaults, self.seq_len, self.horizon)
            d["model"]["params"] = {
                k: v
                for k, v in d["model"]["params"].items()
                if f"model.{k}" in given or old.get(k, _MISSING) != v
            }
        return TrialSpec.from_dict(d)


#: the scalar spec fields ``--set`` may change
_TOP_KEYS = (
    *("dataset", "seq_len", "horizon", "seed", "workers", "protocol"),
    *("target", "date_column", "missing_value", "season"),
)
_MISSING = object()
