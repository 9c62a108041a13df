"""Composite regularizers ``a+b`` (e.g. ``synaptic+dropout``): several parts, one hook set.

Built by ``create_regularizer("synaptic+dropout", synaptic={...}, dropout={...})``: the params
are keyed by part name, each a mapping validated by that part's own constructor (a missing
part takes its defaults). How the hooks compose -- the contract:

* ``model_kwargs()``: the parts' dicts merged; two parts setting the same key to different
  values is refused at construction (``FieldError``; e.g. ``none+dropout``, or ``dropout`` and
  ``mc_dropout`` with different ``p``).
* ``attach`` and ``after_optimizer_step``: every part, in the order of the name (``a`` then
  ``b``). Each part sees the same model, total steps and optimizer.
* ``predict``: at most one part may override :meth:`Regularizer.predict` (refused otherwise);
  that part predicts (``predict`` and ``forecaster``), else the default single eval-mode pass.
* ``optimizer_kwargs()``: the parts' dicts merged; two parts setting the same optimizer
  argument is refused at construction (``FieldError``), so e.g. weight decay is set once.
* ``loss_penalty()``: the sum of the parts' penalties (``None`` when no part has one).
* ``settled()``: all parts settled. ``settle_fraction()``: the largest of the parts'.
* ``metrics()``: merged; a key reported by several parts is logged once per part as
  ``"<part>.<key>"``.
* ``tensor_sparsity()``: merged; a tensor reported by several parts gets the largest fraction.
* ``params()`` / ``state_dict()``: ``{part: part's dict}``; ``load_state_dict`` takes the same
  shape and hands each part its own entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from synprune.errors import FieldError
from synprune.regularizers.base import Regularizer


def _overrides_predict(reg: Regularizer) -> bool:
    return type(reg).predict is not Regularizer.predict


class CompositeRegularizer(Regularizer):
    """Parts ``{name: Regularizer}`` (in hook order) behind one ``Regularizer``; see the module
    docstring. ``name`` is the parts' names joined by ``+``."""

    def __init__(self, parts: Mapping[str, Regularizer]) -> None:
        if len(parts) < 2:
            raise ValueError(f"a composite regularizer needs >= 2 parts, got {list(parts)}")
        self.parts: dict[str, Regularizer] = dict(parts)
        self.name = "+".join(self.parts)
        for a, ra in self.parts.items():  # e.g. dropout+mc_dropout: mc_dropout IS dropout
            for b, rb in self.parts.items():
                if a != b and isinstance(rb, type(ra)):
                    raise FieldError(
                        "regularizer",
                        self.name,
                        f"parts of which none extends another (here {b} is {a} plus more: "
                        f"{self.name} would train exactly like {b} alone; use {b})",
                    )
        self._merge_model_kwargs()  # refuse conflicts now, before any model is built
        self._merge_optimizer_kwargs()
        predictors = [n for n, r in self.parts.items() if _overrides_predict(r)]
        if len(predictors) > 1:
            raise FieldError(
                "regularizer",
                self.name,
                f"parts of which at most one overrides predict (here: {', '.join(predictors)})",
            )
        self._predictor = self.parts[predictors[0]] if predictors else None

    def _merge_model_kwargs(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        setter: dict[str, str] = {}
        for pname, reg in self.parts.items():
            for key, value in reg.model_kwargs().items():
                if key in merged and merged[key] != value:
                    raise FieldError(
                        "regularizer",
                        self.name,
                        f"parts that do not set model argument {key!r} differently (here "
                        f"{setter[key]} sets {merged[key]!r} and {pname} sets {value!r})",
                    )
                merged[key] = value
                setter.setdefault(key, pname)
        return merged

    def model_kwargs(self) -> dict[str, Any]:
        return self._merge_model_kwargs()

    def _merge_optimizer_kwargs(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        setter: dict[str, str] = {}
        for pname, reg in self.parts.items():
            for key, value in reg.optimizer_kwargs().items():
                if key in merged:
                    raise FieldError(
                        "regularizer",
                        self.name,
                        f"parts of which at most one sets optimizer argument {key!r} (here "
                        f"{setter[key]} and {pname})",
                    )
                merged[key], setter[key] = value, pname
        return merged

    def optimizer_kwargs(self) -> dict[str, Any]:
        return self._merge_optimizer_kwargs()

    def loss_penalty(self) -> torch.Tensor | None:
        terms = [t for t in (reg.loss_penalty() for reg in self.parts.values()) if t is not None]
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else torch.stack(terms).sum()

    def settle_fraction(self) -> float:
        return max(reg.settle_fraction() for reg in self.parts.values())

    def attach(
        self, model: nn.Module, total_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        for reg in self.parts.values():
            reg.attach(model, total_steps, optimizer)

    def after_optimizer_step(self, step: int) -> None:
        for reg in self.parts.values():
            reg.after_optimizer_step(step)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._predictor is not None:
            return self._predictor.predict(model, x)
        return super().predict(model, x)

    def forecaster(self, model: nn.Module) -> nn.Module:
        if self._predictor is not None:  # the part that predicts also exports its prediction
            return self._predictor.forecaster(model)
        return super().forecaster(model)

    def settled(self) -> bool:
        return all(reg.settled() for reg in self.parts.values())

    def metrics(self) -> dict[str, float]:
        per_part = {n: reg.metrics() for n, reg in self.parts.items()}
        seen = Counter(k for m in per_part.values() for k in m)
        return {
            (k if seen[k] == 1 else f"{n}.{k}"): v
            for n, m in per_part.items()
            for k, v in m.items()
        }

    def tensor_sparsity(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for reg in self.parts.values():
            for name, frac in reg.tensor_sparsity().items():
                out[name] = max(frac, out.get(name, 0.0))
        return out

    def params(self) -> dict[str, Any]:
        return {n: reg.params() for n, reg in self.parts.items()}

    def state_dict(self) -> dict[str, Any]:
        return {n: reg.state_dict() for n, reg in self.parts.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if sorted(state) != sorted(self.parts):
            raise ValueError(
                f"{self.name} state has parts {sorted(state)}, expected {sorted(self.parts)}"
            )
        for n, reg in self.parts.items():
            reg.load_state_dict(state[n])
