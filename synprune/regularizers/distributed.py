"""Exact global k-th smallest magnitude and k-smallest masks, optionally across ranks.

PLACEHOLDER (single-process reference): concatenates and uses torch.kthvalue. The
distributed radix-select version (issue 5) replaces the internals and keeps these signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def kth_smallest_magnitude(tensors: Sequence[torch.Tensor], k: int, group: object = None) -> float:
    """Exact k-th smallest |x| (1-based) over the union of all tensors (of all ranks)."""
    flat = torch.cat([t.detach().reshape(-1).abs().float() for t in tensors])
    n = flat.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] (number of elements), got {k}")
    return float(torch.kthvalue(flat.cpu(), k).values)


def smallest_k_mask(
    tensors: Sequence[torch.Tensor], k: int, group: object = None
) -> list[torch.Tensor]:
    """Bool masks selecting exactly ``k`` elements of smallest |x| over all tensors.

    Ties at the threshold are broken deterministically: lower rank first, then tensor order,
    then flat (row-major) index. ``k == 0`` selects nothing.
    """
    n = sum(t.numel() for t in tensors)
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}] (number of elements), got {k}")
    if k == 0:
        return [torch.zeros_like(t, dtype=torch.bool) for t in tensors]
    thr = kth_smallest_magnitude(tensors, k, group)
    mags = [t.detach().abs() for t in tensors]
    less = [m < thr for m in mags]
    n_less = sum(int(x.sum()) for x in less)
    need = k - n_less  # this many of the ties (== thr) are taken, in flat order
    out = []
    for m, lt in zip(mags, less, strict=True):
        eq = (m == thr).reshape(-1)
        take = eq & (torch.cumsum(eq, 0) <= need)
        need -= int(take.sum())
        out.append(lt | take.reshape(m.shape))
    return out
