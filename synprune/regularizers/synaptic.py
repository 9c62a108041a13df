"""Synaptic pruning: global magnitude pruning inside the training loop on a cubic schedule.

``SynapticPruning`` is the public class (see its docstring for the exact contract); the
schedule is :func:`~synprune.regularizers.schedules.cubic_sparsity` (Zhu & Gupta 2017), the
scores and the capped selection live in :mod:`~synprune.regularizers.scoring`, and
``SynapticRegularizer`` (:mod:`~synprune.regularizers.synaptic_regularizer`) wraps it as the
``synaptic`` entry of the regularizer registry.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from synprune.errors import FieldError
from synprune.regularizers import scoring, sharding
from synprune.regularizers.base import check_int, check_real
from synprune.regularizers.distributed import smallest_k_mask
from synprune.regularizers.optim_hooks import (
    OptimizerWatch,
    register_weak_step_hooks,
    remove_when_collected,
    weak_hook,
)
from synprune.regularizers.schedules import scheduled_sparsity, validate_schedule
from synprune.regularizers.selection import Patterns, select_prunable

_STATE_VERSION = 1


class SynapticPruning:
    """Mask the globally smallest-|w| prunable weights of ``model`` on a cubic schedule.

    Call ``step()`` once after every ``optimizer.step()``. Its internal counter counts completed
    optimizer steps from 1. Before ``start_step`` nothing is pruned; at ``start_step`` and every
    ``prune_every``-th step after it, and at ``end_step``, the masks are recomputed so that
    exactly ``floor(target * N)`` weights are masked, where ``target =
    cubic_sparsity(step, initial_sparsity, final_sparsity, start_step, end_step, schedule)`` and
    ``N`` is the number of prunable weights of all tensors together (``floor`` with a 1e-9
    tolerance so float round-off such as ``0.29 * 100 = 28.999...`` counts 29).

    Selection: one global ranking of a score over the *still active* weights of every prunable
    tensor (which tensors: :mod:`synprune.regularizers.selection`); the ``target_count -
    already_masked`` smallest are added, so masks never regrow (already-masked weights count
    towards the target as if they scored -inf). ``score="magnitude"`` (default) ranks ``|w|``;
    ``score="lamp"`` ranks LAMP scores (Lee et al., ICLR 2021; :mod:`~.scoring`). Ties are
    broken deterministically (rank, tensor order, flat index). With ``group=None`` (one
    process, or DDP replicas that each hold the whole model) this is one ``torch.kthvalue`` on
    a preallocated buffer (:func:`~synprune.regularizers.scoring.k_smallest_flat`, no
    collectives); with a ``group`` it is
    :func:`~synprune.regularizers.distributed.smallest_k_mask` (same result).

    ``max_tensor_sparsity`` (``cap``, default 1.0 = no cap): no tensor ever has more than
    ``floor(cap * n_t)`` masked weights; the global count ``floor(target * N)`` is still met
    exactly, by pruning the next-ranked weights of other tensors
    (:func:`~synprune.regularizers.scoring.smallest_k_capped`, exact water-filling). A cap that
    cannot hold ``floor(final_sparsity * N)`` in total is refused (``FieldError`` naming both
    numbers and the smallest cap that would do). With sharded parameters (``group`` /
    ``DTensor``) only ``score="magnitude"`` without cap is supported; the others are refused.

    Masks are applied in place on the real parameters (no ``weight_orig`` reparametrisation:
    ``state_dict`` keys, ``deepcopy`` and cuDNN RNN flat weights are unaffected). Masked weights
    stay exactly zero through every ``optimizer.step()`` of *any* optimizer holding pruned
    parameters, handed to the pruner or not, created before it or after: a post-accumulate-grad
    hook zeroes their gradients (so clipping sees zeros); torch's process-wide step hooks
    (:mod:`~.optim_hooks`) zero them again just before (DDP rewrites ``.grad``) and re-apply
    the masks just after each such step; entries of optimizer state shaped like the parameter
    (``exp_avg``, ``exp_avg_sq``, ``momentum_buffer``, ...) are zeroed at an optimizer's first
    step and whenever masks grow. ``optimizer=`` / :meth:`attach_optimizer` are optional.

    Attributes: ``sparsity`` (masked / N, all prunable tensors together), ``masks``
    (``dict[name, BoolTensor]`` keyed by ``model.named_parameters()`` names, **True = kept /
    active, False = pruned**, as in ``torch.nn.utils.prune``; fresh tensors on the parameter's
    device), ``state_dict()`` / ``load_state_dict()`` (step counter and masks: resume is
    bit-identical), ``report()``, ``tensor_sparsity()``, ``remove()`` (drop the hooks; masked
    weights stay zero). Keep a reference to the pruner while training: its hooks hold it
    weakly (so they never keep a model alive) and are removed when it is garbage collected.

    ``group``: a process group over which the prunable parameters are *disjoint shards*
    (``N`` and ranking global); ``None`` for one process or DDP (masks are not module buffers;
    replicas select locally and identically). ``DTensor`` parameters (FSDP2; build the pruner
    after ``fully_shard``) set the group from their mesh: see :mod:`~.sharding`.
    Memory: one bool per prunable weight, plus a float32 scratch buffer of the same length
    allocated at the first update.
    """

    def __init__(
        self,
        model: nn.Module,
        final_sparsity: float,
        start_step: int,
        end_step: int,
        prune_every: int = 10,
        initial_sparsity: float = 0.0,
        schedule: str = "ease_in",
        include: Patterns = None,
        exclude: Patterns = None,
        optimizer: torch.optim.Optimizer | None = None,
        group: object = None,
        max_tensor_sparsity: float = 1.0,
        score: str = "magnitude",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise FieldError("model", model, "a torch.nn.Module")
        (self.initial_sparsity, self.final_sparsity, self.start_step, self.end_step,
         self.schedule) = validate_schedule(
            initial_sparsity, final_sparsity, start_step, end_step, schedule
        )  # fmt: skip
        self.prune_every = check_int("prune_every", prune_every, 1)
        self.max_tensor_sparsity = check_real(
            "max_tensor_sparsity", max_tensor_sparsity, 0.0, 1.0, low_open=True
        )
        if score not in scoring.SCORES:
            raise FieldError("score", score, f"one of {', '.join(scoring.SCORES)}")
        self.score = score
        chosen = select_prunable(model, include, exclude)
        self._names: list[str] = [n for n, _ in chosen]
        self._params: list[nn.Parameter] = [p for _, p in chosen]
        self.group = sharding.resolve_group(self._names, self._params, group)
        # Internal masks, True = PRUNED: one flat bool tensor (all tensors in selection order)
        # with per-parameter views, so a mask update is a handful of whole-model tensor ops.
        self._sizes = [sharding.local(p).numel() for p in self._params]  # this rank's shard
        self._caps = scoring.tensor_caps(self._sizes, self.max_tensor_sparsity)
        sharding.refuse_unsupported(self.group, self.score, self.max_tensor_sparsity)
        self._flat = torch.zeros(sum(self._sizes), dtype=torch.bool, device=self._params[0].device)
        self._pruned = self._views(self._flat)
        self._buf: torch.Tensor | None = None  # |w| scratch buffer, allocated at 1st update
        self._factors: list[torch.Tensor] | None = None  # float keep masks, see _keep()
        self._counts: list[int] = [0] * len(self._params)  # pruned per tensor (local)
        self._applied = False  # masks already re-applied since the last step() (post-hook)
        self._n_total = sharding.global_sum(sum(self._sizes), self.group)
        self._n_masked = 0  # global
        self._step = 0
        if self.max_tensor_sparsity < 1.0:  # not sharded here: local sizes are global
            scoring.check_cap_feasible(
                self.max_tensor_sparsity, self._sizes, self.final_sparsity, self._n_total,
                self.target_count(self.final_sparsity),
            )  # fmt: skip
        self._watch = OptimizerWatch(self._params)
        # Every hook reaches the pruner through a weak reference (a closure over `self` held by
        # a parameter's C++ hook table would keep pruner and model alive forever); all of them
        # are removed by remove() or when the pruner is collected.
        handles: list[RemovableHandle] = [
            p.register_post_accumulate_grad_hook(weak_hook(self, "_zero_grad_of", i))
            for i, p in enumerate(self._params)
            if p.requires_grad
        ]
        handles += register_weak_step_hooks(self, "_on_pre_step", "_on_post_step")
        self._remove_hooks = remove_when_collected(self, handles)
        if optimizer is not None:
            self.attach_optimizer(optimizer)

    # ----------------------------------------------------------------- public surface
    @property
    def sparsity(self) -> float:
        """Fraction of all prunable weights now masked."""
        return self._n_masked / self._n_total

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """``{name: BoolTensor}``, True = kept / active, False = pruned (fresh tensors;
        ``DTensor`` sharded like the parameter for ``DTensor`` parameters)."""
        self._sync_device()
        return {
            n: sharding.like_param(~m, p)
            for n, m, p in zip(self._names, self._pruned, self._params)
        }

    @property
    def current_step(self) -> int:
        """Number of completed ``step()`` calls (optimizer steps)."""
        return self._step

    @property
    def num_prunable(self) -> int:
        """N: prunable weights of all tensors together (of all ranks with ``group``)."""
        return self._n_total

    @property
    def num_masked(self) -> int:
        return self._n_masked

    @property
    def parameter_names(self) -> list[str]:
        return list(self._names)

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Optimizers holding pruned parameters: those attached (held strongly), then those
        met at a step (held weakly: listed while they live)."""
        return self._watch.optimizers()

    def target_sparsity(self, step: int | None = None) -> float:
        """Scheduled sparsity at ``step`` (default: the current step); 0 before start_step."""
        step = self._step if step is None else step
        if step < self.start_step:
            return 0.0
        return scheduled_sparsity(
            step, self.initial_sparsity, self.final_sparsity, self.start_step, self.end_step,
            self.schedule,
        )  # fmt: skip

    def target_count(self, sparsity: float) -> int:
        """``floor(sparsity * N)`` (1e-9 tolerance against float round-off)."""
        return min(math.floor(sparsity * self._n_total + 1e-9), self._n_total)

    def step(self) -> None:
        """Advance one optimizer step; update the masks when due; re-apply them."""
        self._step += 1
        s = self._step
        if self.start_step <= s <= self.end_step and (
            (s - self.start_step) % self.prune_every == 0 or s == self.end_step
        ):
            self._prune_to(self.target_count(self.target_sparsity(s)))
        if not self._applied:
            self._apply_masks()
        self._applied = False

    def attach_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero ``optimizer``'s state of masked weights now and keep a (strong) reference to it
        (optional: the global step hooks find every optimizer holding pruned parameters at its
        first step anyway)."""
        if self._watch.holds(optimizer):
            self._watch.keep(optimizer)
            self._watch.fresh(optimizer)
            self._zero_optimizer_state([optimizer])

    def remove(self) -> None:
        """Remove every hook this pruner registered; masked weights keep their zeros."""
        self._remove_hooks()  # idempotent

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "step": self._step,
            "num_masked": self._n_masked,
            "masks": self.masks,
            "config": {
                "final_sparsity": self.final_sparsity,
                "initial_sparsity": self.initial_sparsity,
                "start_step": self.start_step,
                "end_step": self.end_step,
                "prune_every": self.prune_every,
                "schedule": self.schedule,
                "max_tensor_sparsity": self.max_tensor_sparsity,
                "score": self.score,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore step counter and masks, zero the masked weights and optimizer state.

        The pruner's own configuration (schedule, steps) is kept as constructed; parameter
        names and shapes must match those of this pruner.
        """
        masks = state["masks"]
        if sorted(masks) != sorted(self._names):
            raise ValueError(
                f"pruner state masks {sorted(masks)} do not match the prunable parameters "
                f"{sorted(self._names)}"
            )
        for i, name in enumerate(self._names):
            keep = sharding.local(masks[name])
            if tuple(keep.shape) != tuple(self._pruned[i].shape):
                raise ValueError(
                    f"mask {name!r} has shape {tuple(keep.shape)}, "
                    f"parameter has {tuple(self._pruned[i].shape)}"
                )
            self._pruned[i].copy_(~keep.to(device=self._flat.device, dtype=torch.bool))
        counts = torch.stack([m.sum() for m in self._pruned]).tolist()
        self._counts = [int(c) for c in counts]
        over = [n for n, c, cap in zip(self._names, self._counts, self._caps) if c > cap]
        if over:
            raise ValueError(
                f"pruner state masks more than max_tensor_sparsity={self.max_tensor_sparsity} "
                f"of tensor(s) {over}"
            )
        self._n_masked = int(state.get("num_masked", sum(self._counts)))
        self._step = int(state["step"])
        self._apply_masks(exact=True)
        self._zero_optimizer_state(self._watch.optimizers())

    def report(self) -> dict[str, Any]:
        """Per-tensor ``numel`` / ``pruned`` / ``sparsity`` (local shard) and global figures."""
        tensors = {
            n: {"numel": k, "pruned": c, "sparsity": c / k if k else 0.0}
            for n, k, c in zip(self._names, self._sizes, self._counts)
        }
        return {
            "step": self._step,
            "target_sparsity": self.target_sparsity(),
            "tensors": tensors,
            "global": {
                "numel": self._n_total,
                "pruned": self._n_masked,
                "sparsity": self.sparsity,
            },
        }

    def tensor_sparsity(self) -> dict[str, float]:
        """``{parameter name: fraction of its weights masked}`` (local shard when sharded)."""
        return {n: c / k if k else 0.0 for n, k, c in zip(self._names, self._sizes, self._counts)}

    def __repr__(self) -> str:
        return (
            f"SynapticPruning(tensors={len(self._params)}, N={self._n_total}, "
            f"sparsity={self.sparsity:.4f}, step={self._step}, final={self.final_sparsity}, "
            f"window=[{self.start_step}, {self.end_step}], every={self.prune_every}, "
            f"schedule={self.schedule!r}, score={self.score!r}, "
            f"max_tensor_sparsity={self.max_tensor_sparsity})"
        )

    # ----------------------------------------------------------------- internals
    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return [
            v.view(sharding.local(p).shape) for v, p in zip(flat.split(self._sizes), self._params)
        ]

    def _sync_device(self) -> None:
        """Follow ``model.to(device)``: keep the masks on the parameters' device."""
        dev = self._params[0].device
        if self._flat.device != dev:
            self._flat = self._flat.to(dev)
            self._pruned = self._views(self._flat)
            self._buf = self._factors = None

    def _keep(self) -> list[torch.Tensor]:
        """Float keep factors (1 active, 0 masked) per tensor, rebuilt after mask changes."""
        if self._factors is None:
            self._factors = sharding.keep_factors(self._pruned, self._params)
        return self._factors

    def _zero_grad_of(self, i: int, p: torch.Tensor) -> None:
        sharding.mul_keep([p.grad], self._keep()[i : i + 1], [self._pruned[i]], [self._counts[i]])

    @torch.no_grad()
    def _on_pre_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Before ``optimizer.step()`` (global hook): zero its state of masked weights the
        first time it is seen; zero masked gradients (a second line of defence for gradients
        written after accumulation, e.g. DDP copies all-reduced buckets back into .grad)."""
        if not self._watch.holds(optimizer):
            return
        if self._watch.fresh(optimizer):
            self._zero_optimizer_state([optimizer])
        grads = [p.grad for p in self._params]
        sharding.mul_keep(grads, self._keep(), self._pruned, self._counts)

    def _on_post_step(self, optimizer: torch.optim.Optimizer) -> None:
        """After ``optimizer.step()`` (global hook): re-apply the masks."""
        if self._watch.holds(optimizer):
            self._apply_masks()
            self._applied = True

    def _apply_masks(self, exact: bool = False) -> None:
        """Zero the masked weights: ``exact`` (masked_fill, exactly +0) after masks change,
        else the faster multiply by the keep factors (the entries are 0 already)."""
        if exact:
            self._factors = None
            sharding.zero_masked(self._params, self._pruned, self._counts)
        else:
            sharding.mul_keep(self._params, self._keep(), self._pruned, self._counts)

    def _zero_optimizer_state(self, optimizers: list[torch.optim.Optimizer]) -> None:
        sharding.zero_optimizer_state(optimizers, self._params, self._pruned, self._counts)

    @torch.no_grad()
    def _prune_to(self, target_count: int) -> None:
        """Mask the ``target_count - num_masked`` lowest-scored among the active weights."""
        k_new = target_count - self._n_masked
        if k_new <= 0:
            return
        self._sync_device()
        flat = self._flat
        # |w| of every prunable weight (local shard), concatenated in selection order
        scores = self._buf = scoring.magnitudes(
            [sharding.local(p) for p in self._params], self._buf, flat.device
        )
        if self.score == "lamp":  # masked weights are 0: they add nothing to the denominators
            scores = scoring.lamp_scores(scores, self._sizes)
        any_pruned = any(self._counts)
        active = ~flat if any_pruned else None
        if active is not None:
            scores = scores[active]  # compaction keeps the order -> deterministic tie-break
        if self.max_tensor_sparsity < 1.0:  # exact water-filling under per-tensor caps
            left = [n - c for n, c in zip(self._sizes, self._counts)]
            room = [cap - c for cap, c in zip(self._caps, self._counts)]
            sel = scoring.smallest_k_capped(scores, k_new, left, room)
        elif self.group is None:  # single process / DDP replicas: one kthvalue, no collectives
            sel = scoring.k_smallest_flat(scores, k_new)
        else:  # disjoint shards: exact global radix select over all ranks
            sel = smallest_k_mask([scores], k_new, group=self.group)[0]
        if active is None:
            flat |= sel
        else:
            flat[active] = sel
        self._counts = [int(c) for c in torch.stack([m.sum() for m in self._pruned]).tolist()]
        self._n_masked += k_new
        self._apply_masks(exact=True)
        self._zero_optimizer_state(self._watch.optimizers())
