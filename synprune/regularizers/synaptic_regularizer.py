"""The ``synaptic`` regularizer: :class:`SynapticPruning` driven by the training loop's hooks."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from synprune.errors import FieldError
from synprune.regularizers.base import Regularizer, check_int, check_real
from synprune.regularizers.registry import register_regularizer
from synprune.regularizers.schedules import validate_schedule
from synprune.regularizers.scoring import SCORES
from synprune.regularizers.synaptic import SynapticPruning


@register_regularizer("synaptic")
class SynapticRegularizer(Regularizer):
    """Registry entry ``synaptic``: :class:`SynapticPruning` with step bounds as fractions.

    ``attach(model, total_steps, optimizer)`` sets ``start_step = floor(start_frac * T)`` and
    ``end_step = clip(round(end_frac * T), start_step + 1, T)`` (so a tiny ``T`` still gives
    ``start < end``) and builds the pruner (which keeps masked weights zero through every
    optimizer's steps; ``optimizer`` only has its state zeroed right away);
    ``after_optimizer_step`` calls ``pruner.step()``; ``metrics() == {"sparsity": ...}``;
    ``tensor_sparsity()`` gives each pruned tensor's masked fraction.

    Args (each a ``regularizers.synaptic.<field>`` config key):
        final_sparsity: in [0, 1). initial_sparsity: in [0, final_sparsity].
        start_frac: in [0, 1). end_frac: in (start_frac, 1]. prune_every: >= 1.
        schedule: ``"ease_in"`` (paper code) or ``"ease_out"`` (Zhu & Gupta 2017).
        max_tensor_sparsity: per-tensor cap in [final_sparsity, 1] (1 = no cap); see
            :class:`SynapticPruning` (a cap the model's tensor sizes cannot honour is refused
            at ``attach``).
        score: ``"magnitude"`` or ``"lamp"`` (Lee et al., ICLR 2021).
        early_stop_during_schedule: ``False`` (default): ``settled()`` only once the schedule
            has reached ``end_step``, so early stopping and the best-weight checkpoint consider
            only epochs of the fully pruned model. ``True``: ``settled()`` is always True --
            every epoch counts, as in the paper's code (which could then report a checkpoint
            from before pruning finished).
    """

    def __init__(
        self,
        *,
        final_sparsity: float = 0.5,
        initial_sparsity: float = 0.0,
        start_frac: float = 0.1,
        end_frac: float = 0.8,
        prune_every: int = 10,
        schedule: str = "ease_in",
        max_tensor_sparsity: float = 1.0,
        score: str = "magnitude",
        early_stop_during_schedule: bool = False,
    ) -> None:
        self.initial_sparsity, self.final_sparsity, _, _, self.schedule = validate_schedule(
            initial_sparsity, final_sparsity, 0, 1, schedule
        )
        self.start_frac = check_real("start_frac", start_frac, 0.0, 1.0, high_open=True)
        self.end_frac = check_real("end_frac", end_frac, self.start_frac, 1.0, low_open=True)
        self.prune_every = check_int("prune_every", prune_every, 1)
        self.max_tensor_sparsity = check_real(
            "max_tensor_sparsity", max_tensor_sparsity, self.final_sparsity, 1.0
        )
        if score not in SCORES:
            raise FieldError("score", score, f"one of {', '.join(SCORES)}")
        self.score = score
        if not isinstance(early_stop_during_schedule, bool):
            raise FieldError(
                "early_stop_during_schedule", early_stop_during_schedule, "true or false"
            )
        self.early_stop_during_schedule = early_stop_during_schedule
        self.pruner: SynapticPruning | None = None
        self._pending: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        return {
            "final_sparsity": self.final_sparsity,
            "initial_sparsity": self.initial_sparsity,
            "start_frac": self.start_frac,
            "end_frac": self.end_frac,
            "prune_every": self.prune_every,
            "schedule": self.schedule,
            "max_tensor_sparsity": self.max_tensor_sparsity,
            "score": self.score,
            "early_stop_during_schedule": self.early_stop_during_schedule,
        }

    def step_bounds(self, total_steps: int) -> tuple[int, int]:
        """``(start_step, end_step)`` for a run of ``total_steps`` optimizer steps."""
        total = check_int("total_steps", total_steps, 1)
        start = math.floor(self.start_frac * total)  # < total since start_frac < 1
        end = min(max(round(self.end_frac * total), start + 1), total)
        return start, end

    def attach(
        self, model: nn.Module, total_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        start, end = self.step_bounds(total_steps)
        self.pruner = SynapticPruning(
            model, final_sparsity=self.final_sparsity, start_step=start, end_step=end,
            prune_every=self.prune_every, initial_sparsity=self.initial_sparsity,
            schedule=self.schedule, optimizer=optimizer,
            max_tensor_sparsity=self.max_tensor_sparsity, score=self.score,
        )  # fmt: skip
        if self._pending is not None:
            self.load_state_dict(self._pending)
            self._pending = None

    def after_optimizer_step(self, step: int) -> None:
        if self.pruner is None:
            raise RuntimeError("synaptic regularizer: call attach(model, total_steps) first")
        if step != self.pruner.current_step + 1:
            raise RuntimeError(
                f"synaptic regularizer: got step {step} but the pruner has completed "
                f"{self.pruner.current_step} steps (load its state_dict when resuming)"
            )
        self.pruner.step()

    def settle_fraction(self) -> float:
        """``end_frac`` (``settled()`` from step ``round(end_frac * T)`` on), or ``0.0`` with
        ``early_stop_during_schedule=True``."""
        return 0.0 if self.early_stop_during_schedule else self.end_frac

    def settled(self) -> bool:
        """The pruning schedule has reached ``end_step`` (final sparsity is in place); always
        True with ``early_stop_during_schedule=True``."""
        if self.early_stop_during_schedule:
            return True
        return self.pruner is not None and self.pruner.current_step >= self.pruner.end_step

    def metrics(self) -> dict[str, float]:
        return {"sparsity": self.pruner.sparsity if self.pruner is not None else 0.0}

    def tensor_sparsity(self) -> dict[str, float]:
        return self.pruner.tensor_sparsity() if self.pruner is not None else {}

    def state_dict(self) -> dict[str, Any]:
        return {"pruner": self.pruner.state_dict() if self.pruner is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Before ``attach`` the state is kept and applied by ``attach``."""
        if self.pruner is None:
            self._pending = state
        elif state.get("pruner") is not None:
            self.pruner.load_state_dict(state["pruner"])
