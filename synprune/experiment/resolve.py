"""Components resolved by their own constructors, once per configuration.

``resolve_regularizer`` builds a regularizer (a composite ``a+b`` too) and returns its full
``params()``; ``resolve_model`` builds a model on the meta device (no memory, no random draw)
and returns the architecture it really builds. Both remember what they built, keyed by the
registered factory too (a re-registered name is never answered from a stale build), so the
specs of a grid that share a configuration build it once (issue 20.6). Also here: the
protocol's model defaults and the ``equal`` stopping rule's default ``min_epochs``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from synprune.errors import ConfigError, FieldError
from synprune.experiment.params import thaw


def default_min_epochs(settle_fraction: float, epochs: int) -> int:
    """``ceil(settle_fraction * epochs)``: the first epoch by whose end a regularizer that
    settles after that fraction of the planned steps has settled (a 1e-9 slack absorbs
    float error, e.g. ``0.8 * 20``). The loop never stops before an eligible epoch anyway."""
    return min(epochs, max(0, math.ceil(settle_fraction * epochs - 1e-9)))


def settle_fraction(name: str, params: Mapping[str, Any]) -> float:
    """``settle_fraction()`` of regularizer ``name`` built with ``params`` (validated)."""
    return _described(name, params)[1]


def default_protocol(dataset: str) -> str:
    """``m4`` for the M4 datasets (``m4_hourly``, ``m4_hourly:H123``), else ``leak_free``."""
    return "m4" if isinstance(dataset, str) and dataset.startswith("m4_") else "leak_free"


#: model fields the paper's code fixed (one recurrent / encoder layer, no RevIN), the defaults
#: of ``protocol="paper"`` wherever a model has the field; explicit params win
PAPER_MODEL_DEFAULTS: Mapping[str, Any] = {"num_layers": 1, "revin": False}


def protocol_model_defaults(protocol: str | None, model: str) -> dict[str, Any]:
    """Model params a protocol sets unless given (``paper``: ``PAPER_MODEL_DEFAULTS``)."""
    if protocol != "paper":
        return {}
    from synprune.models import model_fields

    try:
        fields = model_fields(model)
    except FieldError:  # unknown model: resolve_model names it
        return {}
    return {k: v for k, v in PAPER_MODEL_DEFAULTS.items() if k in fields}


# -- components: validated and resolved by their own constructors ------------------------------
def resolve_regularizer(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Build regularizer ``name`` (a composite ``a+b`` too) with ``params``; return its full
    ``params()``. Raises the constructor's ``FieldError`` (``field="regularizer"`` for the
    name, a part's errors prefixed ``"<part>."``)."""
    return dict(_described(name, params)[0])


#: (name, params JSON, factories) -> (full params, settle_fraction): specs sharing a regularizer
#: configuration build it once; keyed by the registered factories too, so a re-registered
#: name is never answered from a stale build
_DESCRIBED: dict[tuple[str, str, tuple[Any, ...]], tuple[dict[str, Any], float]] = {}


def _described(name: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """Regularizer ``name`` built once with ``params``: its ``params()`` and
    ``settle_fraction()``; remembered under both the given and the full params."""
    from synprune.regularizers import REGULARIZERS, create_regularizer, parts

    factories = tuple(REGULARIZERS.get(p) for p in parts(name))
    key = (name, json.dumps(thaw(params), sort_keys=True, default=repr), factories)
    if key not in _DESCRIBED:
        try:
            reg = create_regularizer(name, **thaw(params))
        except TypeError as exc:  # a plugin factory taking **kwargs refused a keyword
            raise ConfigError(f"regularizer {name!r}: {exc}") from None
        full = thaw(reg.params())
        if len(_DESCRIBED) >= 4096:
            _DESCRIBED.clear()
        value = (full, float(reg.settle_fraction()))
        _DESCRIBED[key] = value
        _DESCRIBED[(name, json.dumps(full, sort_keys=True, default=repr), factories)] = value
    full, fraction = _DESCRIBED[key]
    return thaw(full), fraction


def resolve_model(
    name: str, params: Mapping[str, Any], seq_len: int, horizon: int
) -> dict[str, Any]:
    """The architecture model ``name`` builds for ``seq_len`` / ``horizon`` from ``params``.

    Built once on the meta device through ``create_model`` (its checks are the validation);
    the full architecture comes from the model's ``resolved_arch()`` when it has one, else
    from ``params`` over the signature defaults (``None`` defaults left out). Cached.
    """
    from synprune.models import get_model_factory

    factory = get_model_factory(name)  # unknown name: FieldError(field="model"), top level
    key = (name, json.dumps(thaw(params), sort_keys=True, default=repr), seq_len, horizon, factory)
    if key not in _ARCHS:
        arch = _resolve_model(name, thaw(params), seq_len, horizon)
        if len(_ARCHS) >= 4096:
            _ARCHS.clear()
        _ARCHS[key] = arch
        # a spec rebuilt from its resolved architecture (dataclasses.replace, from_dict) finds it
        full = (name, json.dumps(dict(arch), sort_keys=True, default=repr), seq_len, horizon)
        _ARCHS[(*full, factory)] = arch
    return dict(_ARCHS[key])


#: resolved architectures by (name, params JSON, seq_len, horizon, factory)
_ARCHS: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}


def _resolve_model(
    name: str, params: dict[str, Any], seq_len: int, horizon: int
) -> tuple[tuple[str, Any], ...]:
    import torch

    from synprune.models import create_model, model_fields
    from synprune.models.registry import REQUIRED

    try:
        with torch.device("meta"):
            model = create_model(name, n_features=1, seq_len=seq_len, horizon=horizon, **params)
    except FieldError as exc:
        raise exc if exc.field == "model" else exc.with_prefix("model.") from None
    except TypeError as exc:  # e.g. a plugin's required argument missing
        raise ConfigError(f"model {name!r}: {exc}") from None
    resolved = getattr(model, "resolved_arch", None)
    arch = dict(resolved()) if callable(resolved) else {**model_fields(name), **params}
    return tuple(sorted((k, v) for k, v in arch.items() if v is not None and v is not REQUIRED))
