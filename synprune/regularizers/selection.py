"""Which parameters synaptic pruning may mask: chosen by module type, never by name substring.

Default selection (``select_prunable(model)``), for every module of ``model``:

* ``nn.Linear`` and its subclasses (this covers ``MultiheadAttention.out_proj``, a
  ``NonDynamicallyQuantizableLinear``), ``nn.Conv1d``, ``nn.Conv2d``, ``nn.Conv3d``: ``weight``;
* ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (any ``nn.RNNBase``): the input-hidden, hidden-hidden and
  projection matrices ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``weight_hr_l{k}`` of every layer
  and direction (``_reverse``), read from the module's own ``_flat_weights_names``;
* ``nn.MultiheadAttention``: ``in_proj_weight`` (packed) or ``q_proj_weight``,
  ``k_proj_weight``, ``v_proj_weight`` (when ``kdim``/``vdim`` differ from ``embed_dim``).

Biases, normalisation layers, embeddings, positional parameters and any parameter not owned by
one of those module types are never selected by default. Each parameter appears once, under
the name ``model.named_parameters()`` gives it (shared / tied parameters are deduplicated:
the first name wins). The order is that of ``model.named_parameters()``.

Name patterns (``include`` / ``exclude``) are matched against those names. A pattern is a
shell-style glob matched case-sensitively with :func:`fnmatch.fnmatchcase` (``*`` also matches
dots: ``"encoder.*"``), or a regular expression when it starts with ``re:`` (``re:`` stripped,
then :func:`re.fullmatch`). ``include`` *adds* parameters to the by-type selection (e.g. to
prune an embedding); ``exclude`` removes parameters and wins over ``include``. A pattern that
matches no parameter is an error (it is almost always a typo).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from torch import nn

from synprune.errors import FieldError

# moved to scoring.py; re-exported for existing imports
from synprune.regularizers.scoring import k_smallest_flat as k_smallest_flat
from synprune.regularizers.scoring import magnitudes as magnitudes

#: human-readable list used in error messages and docs
PRUNABLE_MODULE_TYPES = (
    "nn.Linear (incl. MultiheadAttention.out_proj), nn.Conv1d/Conv2d/Conv3d weight; "
    "nn.RNN/LSTM/GRU weight_ih_l*/weight_hh_l*/weight_hr_l*; "
    "nn.MultiheadAttention in_proj_weight or q/k/v_proj_weight"
)

_WEIGHT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RNN_WEIGHT = re.compile(r"weight_(ih|hh|hr)_l\d+(_reverse)?")
_MHA_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")

Patterns = str | Sequence[str] | None


def module_prunable_weights(module: nn.Module) -> list[nn.Parameter]:
    """The prunable parameters owned directly by ``module`` (by its type; may be empty)."""
    if isinstance(module, _WEIGHT_MODULES):
        names: Iterable[str] = ("weight",)
    elif isinstance(module, nn.RNNBase):
        names = [n for n in module._flat_weights_names if _RNN_WEIGHT.fullmatch(n)]
    elif isinstance(module, nn.MultiheadAttention):
        names = _MHA_WEIGHTS
    else:
        return []
    out = []
    for n in names:
        p = module._parameters.get(n)  # own parameters only, never a child's
        if p is None:
            continue
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"{type(module).__name__}.{n} is an uninitialized lazy parameter; "
                "run one forward pass before creating the pruner"
            )
        out.append(p)
    return out


def _as_patterns(arg: str, value: Patterns) -> list[str]:
    if value is None:
        return []
    pats = [value] if isinstance(value, str) else list(value)
    for p in pats:
        if not isinstance(p, str) or not p:
            raise FieldError(arg, value, "a parameter-name pattern or a list of them")
        if p.startswith("re:"):
            try:
                re.compile(p[3:])
            except re.error as e:
                raise FieldError(arg, p, f"a valid regular expression after 're:' ({e})") from None
    return pats


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def select_prunable(
    model: nn.Module, include: Patterns = None, exclude: Patterns = None
) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` pairs to prune, in ``model.named_parameters()`` order.

    Raises ValueError for a pattern that matches nothing and when the selection is empty
    (the message lists the module types that are prunable by default).
    """
    inc = _as_patterns("include", include)
    exc = _as_patterns("exclude", exclude)
    named = list(model.named_parameters())  # deduplicates shared parameters
    all_names = [n for n, _ in named]
    for arg, pats in (("include", inc), ("exclude", exc)):
        for pat in pats:
            if not any(_matches(n, pat) for n in all_names):
                raise FieldError(
                    arg, pat, f"a pattern matching a parameter of the model: {all_names}"
                )
    by_type = {id(p) for m in model.modules() for p in module_prunable_weights(m)}
    chosen = [
        (n, p)
        for n, p in named
        if (id(p) in by_type or any(_matches(n, pat) for pat in inc))
        and not any(_matches(n, pat) for pat in exc)
    ]
    if not chosen:
        raise ValueError(
            f"model {type(model).__name__} has nothing to prune (include={include!r}, "
            f"exclude={exclude!r}); prunable by default: {PRUNABLE_MODULE_TYPES}; "
            "use include= to name other parameters"
        )
    return chosen
