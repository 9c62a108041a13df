"""Sharded parameters (FSDP2 ``fully_shard`` / ``DTensor``) as seen by :class:`SynapticPruning`.

The pruner works on **local tensors**: for a plain parameter that is the parameter itself; for
a ``DTensor`` parameter it is ``p.to_local()``, this rank's shard, which shares storage with
the parameter (FSDP2 keeps the padded all-gather buffer behind it and hands out the unpadded
``[:length]`` view, so padding never takes part in the selection and in-place masking reaches
the next all-gather). Masks, magnitudes, gradients and optimizer state are all handled through
these local views, so a mask is shaped like the local shard.

Which process group the selection runs over (:func:`resolve_group`):

* no ``DTensor`` parameter: the ``group`` argument as given (``None`` = local selection, which
  is what DDP replicas use: identical weights give identical masks with no communication);
* ``DTensor`` parameters: every prunable parameter must be a ``DTensor`` on the same mesh with
  the same placements kind; the mesh dimension carrying ``Shard`` gives the group (FSDP2's 1-D
  mesh: the whole mesh; HSDP's 2-D ``(replicate, shard)`` mesh: the shard dimension, each
  replica group selecting identically). Only ``Replicate`` placements: ``None`` (local).
  ``Partial`` placements and several sharded mesh dimensions are refused. An explicit
  ``group`` must have the same ranks as the one derived.

What the sharded pruner guarantees (tested on FSDP2 over gloo, 2 ranks, in
``tests/distributed/test_fsdp_synaptic.py``): exactly ``floor(target * N)`` masked with ``N``
the global count (padding excluded); every rank takes the same global decision; ``pruner.masks``
are ``DTensor`` with the parameter's mesh and placements (``full_tensor()`` gathers them); the
selection is the radix select of :func:`~synprune.regularizers.distributed.smallest_k_mask` over
the local shards, ties broken by (rank in the group, tensor order, flat index in the local
shard). Without ties the global masks equal those of an unsharded pruner on the same weights.
With ties they may differ from it: for several dim-0 sharded tensors the sharded order
(rank, tensor, local index) is not the unsharded order (tensor, flat index). The all-reduces
run once per mask update (a few small int64 tensors), never per optimizer step.

Per optimizer step nothing is communicated: masked local gradients are zeroed by the
post-accumulate-grad hook (FSDP2 in torch 2.13 runs it on the sharded parameter after the
reduce-scatter) and again by the optimizer pre-step hook, and the masks are re-applied to the
local shards after ``optimizer.step()``, which the next all-gather then carries. HSDP (a 2-D
mesh) follows from the rules above but is not tested.

Sharded selection supports ``score="magnitude"`` without ``max_tensor_sparsity`` only;
``score="lamp"`` and caps are refused (:func:`refuse_unsupported`).

Torch's distributed package is imported lazily: importing the regularizers does not need it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from synprune.errors import FieldError


@functools.cache
def _dtensor_type() -> type | None:
    if not torch.distributed.is_available():
        return None
    from torch.distributed.tensor import DTensor

    return DTensor


def is_dtensor(t: object) -> bool:
    cls = _dtensor_type()
    return cls is not None and isinstance(t, cls)


def local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of ``t``: ``t.to_local()`` for a ``DTensor`` (same storage), else ``t``."""
    return t.to_local() if is_dtensor(t) else t  # type: ignore[attr-defined]


def like_param(mask: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``mask`` (shaped like the local shard) as a ``DTensor`` sharded like ``param``."""
    if not is_dtensor(param):
        return mask
    from torch.distributed.tensor import DTensor

    return DTensor.from_local(
        mask,
        param.device_mesh,  # type: ignore[attr-defined]
        param.placements,  # type: ignore[attr-defined]
        run_check=False,
        shape=param.shape,
        stride=param.stride(),
    )


def _ranks(group: object) -> list[int]:
    import torch.distributed as dist

    if group is None:
        return list(range(dist.get_world_size())) if dist.is_initialized() else [0]
    return list(dist.get_process_group_ranks(group))  # type: ignore[arg-type]


def _layout(name: str, p: torch.Tensor) -> tuple[object, tuple[int, ...]]:
    """(mesh, sharded mesh dims) of a DTensor parameter; refuses what the pruner can't do."""
    placements = p.placements  # type: ignore[attr-defined]
    if any(pl.is_partial() for pl in placements):
        raise ValueError(f"parameter {name!r} has a Partial placement {placements}; unsupported")
    sharded = tuple(i for i, pl in enumerate(placements) if pl.is_shard())
    if len(sharded) > 1:
        raise ValueError(
            f"parameter {name!r} is sharded over {len(sharded)} mesh dimensions {placements}; "
            "SynapticPruning supports one sharded mesh dimension (FSDP2, HSDP)"
        )
    return p.device_mesh, sharded  # type: ignore[attr-defined]


def resolve_group(names: Sequence[str], params: Sequence[torch.Tensor], group: object) -> object:
    """The process group the global selection runs over (see the module docstring)."""
    dt = [is_dtensor(p) for p in params]
    if not any(dt):
        return group
    if not all(dt):
        plain = [n for n, d in zip(names, dt) if not d]
        raise ValueError(
            f"prunable parameters mix DTensor shards with plain tensors {plain}: shard every "
            "prunable parameter (e.g. fully_shard the root module too) or exclude= them"
        )
    layouts = [_layout(n, p) for n, p in zip(names, params)]
    mesh, sharded = layouts[0]
    key = (mesh.mesh.tolist(), sharded)  # type: ignore[attr-defined]
    for n, (m, s) in zip(names, layouts):
        if (m.mesh.tolist(), s) != key:  # type: ignore[attr-defined]
            raise ValueError(
                f"parameter {n!r} lives on another mesh or sharding than {names[0]!r}; "
                "all prunable DTensor parameters must share one mesh and layout"
            )
    derived = mesh.get_group(sharded[0]) if sharded else None  # type: ignore[attr-defined]
    if group is not None and (derived is None or _ranks(group) != _ranks(derived)):
        where = f"sharded over ranks {_ranks(derived)}" if derived is not None else "replicated"
        raise ValueError(
            f"group= has ranks {_ranks(group)} but the DTensor parameters are {where}; "
            "leave group=None to use the mesh's group"
        )
    return derived


def refuse_unsupported(group: object, score: str, max_tensor_sparsity: float) -> None:
    """With a selection ``group`` (sharded parameters) only ``score="magnitude"`` without a
    per-tensor cap is implemented: LAMP needs each tensor whole, and caps would need
    per-tensor counts and selections across shards. ``FieldError`` for the others."""
    if group is None:
        return
    why = "for sharded parameters (DTensor / group=)"
    if score != "magnitude":
        raise FieldError("score", score, f"'magnitude' {why}: LAMP needs each tensor whole")
    if max_tensor_sparsity < 1.0:
        raise FieldError(
            "max_tensor_sparsity",
            max_tensor_sparsity,
            f"1.0 {why}: per-tensor caps across shards are not implemented",
        )


def global_sum(value: int, group: object) -> int:
    """``value`` summed over ``group`` (``None``: unchanged); one int64 all-reduce."""
    if group is None:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64)
    if dist.get_backend(group) == "nccl":  # type: ignore[arg-type]
        t = t.cuda()
    dist.all_reduce(t, group=group)
    return int(t.item())


@torch.no_grad()
def zero_masked(
    tensors: Sequence[torch.Tensor | None], masks: Sequence[torch.Tensor], counts: Sequence[int]
) -> None:
    """``local(t)[mask] = 0`` for every tensor with pruned entries (``None`` skipped)."""
    for t, m, c in zip(tensors, masks, counts):
        if c and t is not None:
            t = local(t)
            t.masked_fill_(m if m.device == t.device else m.to(t.device), 0)


def keep_factors(
    masks: Sequence[torch.Tensor], params: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """``1 - mask`` per parameter, in the local shard's dtype and device, for :func:`mul_keep`."""
    return [(~m).to(device=local(p).device, dtype=local(p).dtype) for m, p in zip(masks, params)]


@torch.no_grad()
def mul_keep(
    tensors: Sequence[torch.Tensor | None],
    factors: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    counts: Sequence[int],
) -> None:
    """Zero the masked entries of tensors whose masked entries are already (near) zero, fast:
    ``local(t) *= factor`` (about 10x faster than a bool ``masked_fill_`` on CPU); falls back
    to :func:`zero_masked` for a tensor of another dtype or device. Multiplying a finite
    value by 0 may give ``-0.0``, which equals 0; use :func:`zero_masked` where exactly ``+0``
    matters (when masks grow)."""
    for t, f, m, c in zip(tensors, factors, masks, counts):
        if c and t is not None:
            lt = local(t)
            if lt.dtype == f.dtype and lt.device == f.device:
                lt.mul_(f)
            else:
                zero_masked([lt], [m], [c])


@torch.no_grad()
def zero_optimizer_state(
    optimizers: Sequence[torch.optim.Optimizer],
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    counts: Sequence[int],
) -> None:
    """Zero the masked entries of every optimizer state tensor shaped like its parameter
    (``exp_avg``, ``exp_avg_sq``, ``momentum_buffer``, ...; scalars such as ``step`` skipped)."""
    for opt in optimizers:
        for p, m, c in zip(params, masks, counts):
            state = opt.state.get(p) if c else None
            shaped = [v for v in (state or {}).values() if isinstance(v, torch.Tensor)]
            shaped = [v for v in shaped if v.shape == p.shape]
            zero_masked(shaped, [m] * len(shaped), [c] * len(shaped))
