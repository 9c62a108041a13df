"""Synaptic pruning: global magnitude pruning inside the training loop on a cubic schedule.

``SynapticPruning`` is the public class (see its docstring for the exact contract);
``SynapticRegularizer`` wraps it as the ``synaptic`` entry of the regularizer registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from synprune.regularizers import sharding
from synprune.regularizers.base import Regularizer, check_int, check_real
from synprune.regularizers.distributed import smallest_k_mask
from synprune.regularizers.schedules import cubic_sparsity, validate_schedule
from synprune.regularizers.selection import Patterns, k_smallest_flat, magnitudes, select_prunable

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

    Selection: one global ranking of ``|w|`` over the *still active* weights of every prunable
    tensor (see :mod:`synprune.regularizers.selection`); the ``target_count - already_masked``
    smallest are added, so masks never regrow. Ties are broken deterministically (rank, tensor
    order, flat index). With ``group=None`` (one process, or DDP replicas that each hold the
    whole model) this is one ``torch.kthvalue`` on a preallocated buffer
    (:func:`~synprune.regularizers.selection.k_smallest_flat`, no collectives); with a
    ``group`` it is :func:`~synprune.regularizers.distributed.smallest_k_mask` (same result).

    Masks are applied in place on the real parameters (no ``weight_orig`` reparametrisation:
    ``state_dict`` keys, ``deepcopy`` and cuDNN RNN flat weights are unaffected). Masked weights
    stay exactly zero: their gradients are zeroed by a post-accumulate-grad hook (so gradient
    clipping sees zeros too), the matching entries of every optimizer state tensor shaped like
    the parameter (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``momentum_buffer``, ...)
    are zeroed when they get masked, and the masks are re-applied in ``step()``. With an
    ``optimizer`` (constructor or :meth:`attach_optimizer`) step hooks also zero the masked
    gradients just before and re-apply the masks just after ``optimizer.step()``, so weights
    are zero right after it (also under DDP, which rewrites ``.grad`` after accumulation).
    Without one, optimizer state is not touched and weights are guaranteed zero only after
    ``pruner.step()``.

    Attributes: ``sparsity`` (masked / N, all prunable tensors together), ``masks``
    (``dict[name, BoolTensor]`` keyed by ``model.named_parameters()`` names, **True = kept /
    active, False = pruned**, as in ``torch.nn.utils.prune``; fresh tensors on the parameter's
    device), ``state_dict()`` / ``load_state_dict()`` (step counter and masks: resume is
    bit-identical), ``report()``, ``remove()`` (drop the hooks; masked weights stay zero).

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
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        (self.initial_sparsity, self.final_sparsity, self.start_step, self.end_step,
         self.schedule) = validate_schedule(
            initial_sparsity, final_sparsity, start_step, end_step, schedule
        )  # fmt: skip
        self.prune_every = check_int("prune_every", prune_every, 1)
        chosen = select_prunable(model, include, exclude)
        self._names: list[str] = [n for n, _ in chosen]
        self._params: list[nn.Parameter] = [p for _, p in chosen]
        self.group = sharding.resolve_group(self._names, self._params, group)
        # Internal masks, True = PRUNED: one flat bool tensor (all tensors in selection order)
        # with per-parameter views, so a mask update is a handful of whole-model tensor ops.
        self._sizes = [sharding.local(p).numel() for p in self._params]  # this rank's shard
        self._flat = torch.zeros(sum(self._sizes), dtype=torch.bool, device=self._params[0].device)
        self._pruned = self._views(self._flat)
        self._buf: torch.Tensor | None = None  # |w| scratch buffer, allocated at 1st update
        self._counts: list[int] = [0] * len(self._params)  # pruned per tensor (local)
        self._applied = False  # masks already re-applied since the last step() (post-hook)
        self._n_total = sharding.global_sum(sum(self._sizes), self.group)
        self._n_masked = 0  # global
        self._step = 0
        self._optimizers: list[torch.optim.Optimizer] = []
        self._handles: list[RemovableHandle] = [
            p.register_post_accumulate_grad_hook(self._grad_hook(i))
            for i, p in enumerate(self._params)
            if p.requires_grad
        ]
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

    def target_sparsity(self, step: int | None = None) -> float:
        """Scheduled sparsity at ``step`` (default: the current step); 0 before start_step."""
        step = self._step if step is None else step
        if step < self.start_step:
            return 0.0
        return cubic_sparsity(
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
        """Zero the optimizer's state of masked weights now and whenever masks grow; zero
        masked gradients before and re-apply the masks after each ``optimizer.step()``."""
        if any(o is optimizer for o in self._optimizers):
            return
        self._optimizers.append(optimizer)
        self._handles.append(optimizer.register_step_pre_hook(self._pre_step_hook))
        self._handles.append(optimizer.register_step_post_hook(self._post_step_hook))
        self._zero_optimizer_state([optimizer])

    def remove(self) -> None:
        """Remove every hook this pruner registered; masked weights keep their zeros."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._optimizers.clear()

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
        self._n_masked = int(state.get("num_masked", sum(self._counts)))
        self._step = int(state["step"])
        self._apply_masks()
        self._zero_optimizer_state(self._optimizers)

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

    def __repr__(self) -> str:
        return (
            f"SynapticPruning(tensors={len(self._params)}, N={self._n_total}, "
            f"sparsity={self.sparsity:.4f}, step={self._step}, final={self.final_sparsity}, "
            f"window=[{self.start_step}, {self.end_step}], every={self.prune_every}, "
            f"schedule={self.schedule!r})"
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
            self._buf = None

    def _grad_hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(p: torch.Tensor) -> None:
            sharding.zero_masked([p.grad], [self._pruned[i]], [self._counts[i]])

        return hook

    @torch.no_grad()
    def _pre_step_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # Second line of defence for gradients written after accumulation (e.g. DDP copies
        # all-reduced buckets back into .grad): the optimizer must never see them.
        sharding.zero_masked([p.grad for p in self._params], self._pruned, self._counts)

    def _post_step_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._apply_masks()
        self._applied = True

    def _apply_masks(self) -> None:
        sharding.zero_masked(self._params, self._pruned, self._counts)

    def _zero_optimizer_state(self, optimizers: list[torch.optim.Optimizer]) -> None:
        sharding.zero_optimizer_state(optimizers, self._params, self._pruned, self._counts)

    @torch.no_grad()
    def _prune_to(self, target_count: int) -> None:
        """Mask the ``target_count - num_masked`` smallest |w| among the active weights."""
        k_new = target_count - self._n_masked
        if k_new <= 0:
            return
        self._sync_device()
        flat = self._flat
        # |w| of every prunable weight (local shard), concatenated in selection order
        mags = self._buf = magnitudes(
            [sharding.local(p) for p in self._params], self._buf, flat.device
        )
        any_pruned = any(self._counts)
        active = ~flat if any_pruned else None
        if active is not None:
            mags = mags[active]  # compaction keeps the order -> deterministic tie-break
        if self.group is None:  # single process / DDP replicas: one kthvalue, no collectives
            sel = k_smallest_flat(mags, k_new)
        else:  # disjoint shards: exact global radix select over all ranks
            sel = smallest_k_mask([mags], k_new, group=self.group)[0]
        if active is None:
            flat |= sel
        else:
            flat[active] = sel
        self._counts = [int(c) for c in torch.stack([m.sum() for m in self._pruned]).tolist()]
        self._n_masked += k_new
        self._apply_masks()
        self._zero_optimizer_state(self._optimizers)


class SynapticRegularizer(Regularizer):
    """Registry entry ``synaptic``: :class:`SynapticPruning` with step bounds as fractions.

    ``attach(model, total_steps, optimizer)`` sets ``start_step = floor(start_frac * T)`` and
    ``end_step = clip(round(end_frac * T), start_step + 1, T)`` (so a tiny ``T`` still gives
    ``start < end``) and hands the optimizer to the pruner; ``after_optimizer_step`` calls
    ``pruner.step()``; ``metrics() == {"sparsity": ...}``.
    """

    name = "synaptic"

    def __init__(
        self,
        *,
        final_sparsity: float = 0.5,
        initial_sparsity: float = 0.0,
        start_frac: float = 0.1,
        end_frac: float = 0.8,
        prune_every: int = 10,
        schedule: str = "ease_in",
    ) -> None:
        self.initial_sparsity, self.final_sparsity, _, _, self.schedule = validate_schedule(
            initial_sparsity, final_sparsity, 0, 1, schedule
        )
        self.start_frac = check_real("start_frac", start_frac, 0.0, 1.0, high_open=True)
        self.end_frac = check_real("end_frac", end_frac, self.start_frac, 1.0, low_open=True)
        self.prune_every = check_int("prune_every", prune_every, 1)
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

    def settled(self) -> bool:
        """The pruning schedule has reached ``end_step`` (final sparsity is in place)."""
        return self.pruner is not None and self.pruner.current_step >= self.pruner.end_step

    def metrics(self) -> dict[str, float]:
        return {"sparsity": self.pruner.sparsity if self.pruner is not None else 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"pruner": self.pruner.state_dict() if self.pruner is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Before ``attach`` the state is kept and applied by ``attach``."""
        if self.pruner is None:
            self._pending = state
        elif state.get("pruner") is not None:
            self.pruner.load_state_dict(state["pruner"])
