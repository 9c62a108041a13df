"""Which weights to mask next: scores, exact k-smallest selection, per-tensor caps.

Pure tensor functions used by :class:`~synprune.regularizers.synaptic.SynapticPruning`. All of
them work on *flat* buffers: the prunable tensors flattened and concatenated in selection order
(tensor order, then row-major flat index), described by ``sizes`` (elements per tensor).
Ties are always broken by position in that buffer, i.e. by (tensor order, flat index).

Scores (``score=`` of the pruner; smaller = pruned first):

* ``"magnitude"``: ``|w|`` -- global magnitude pruning (Zhu & Gupta 2017; Han et al. 2015).
* ``"lamp"``: the layer-adaptive magnitude-based pruning score of Lee, Park, Mo, Ahn & Shin,
  ICLR 2021, "Layer-adaptive Sparsity for the Magnitude-based Pruning" (arXiv:2010.07611),
  eq. (2): for a weight ``u`` of tensor ``W``,

      score(u) = u**2 / sum(v**2 for v in W if |v| >= |u|)

  (``u`` itself included in the denominator). A tensor's largest weight scores 1; the scores
  are ranked globally, which gives a layer-wise sparsity without per-layer hyperparameters.
  Computed per tensor from one ascending sort by ``|w|`` and reversed cumulative sums of the
  squares (float64), the denominator of a run of tied ``|w|`` being the suffix sum from the
  run's *first* element (exactly "``|v| >= |u|``"; the authors' code uses the position in the
  sort instead, which gives tied weights different scores). A weight with a zero denominator
  (all of ``|v| >= |u|`` are zero) scores 0. Masked weights are exactly zero and add nothing
  to any denominator.

Per-tensor cap (``max_tensor_sparsity``): :func:`smallest_k_capped` selects exactly ``k``
elements, at most ``room[t]`` from tensor ``t``, equal to the greedy choice "walk the global
order and take each element unless its tensor is full" (proof at the function).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from synprune.errors import FieldError

SCORES: tuple[str, ...] = ("magnitude", "lamp")


def k_smallest_flat(mags: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of exactly ``k`` smallest entries of the 1-D non-negative tensor ``mags``.

    Single-process twin of :func:`synprune.regularizers.distributed.smallest_k_mask` applied
    to one flat tensor (identical result: everything below the k-th smallest value, then the
    ties equal to it in index order), without collectives: one ``torch.kthvalue`` and one or
    two comparisons (about 4x faster than the radix select for LSTM-64-sized models; similar
    at 2M weights, see benchmarks/bench_pruning.py). NaN is refused.
    """
    n = mags.numel()
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}] (number of elements), got {k}")
    if k == 0:
        return torch.zeros_like(mags, dtype=torch.bool)
    if bool(torch.isnan(mags.sum())):  # a sum of magnitudes is NaN iff one of them is
        raise ValueError("weights contain NaN; the magnitude order is undefined")
    thr = torch.kthvalue(mags, k).values
    sel = mags <= thr
    extra = int(sel.sum()) - k  # ties at the threshold beyond the k-th: drop the last ones
    if extra > 0:
        ties = mags == thr
        keep_ties = int(ties.sum()) - extra
        sel &= ~ties | (torch.cumsum(ties, 0) <= keep_ties)
    return sel


def magnitudes(
    tensors: Sequence[torch.Tensor], buf: torch.Tensor | None, device: torch.device
) -> torch.Tensor:
    """``|x|`` of all ``tensors``, flattened and concatenated in order, on ``device``.

    Written into ``buf`` when it fits (same length, dtype, device), else into a new buffer, which
    is returned for reuse. float64 if any tensor is float64, else float32 (exact for
    fp16/bf16/fp32 weights, so the ranking equals the one of the weights' own dtype).
    """
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    n = sum(t.numel() for t in tensors)
    if buf is None or buf.dtype != dtype or buf.numel() != n or buf.device != device:
        buf = torch.empty(n, dtype=dtype, device=device)
    torch.cat([t.detach().reshape(-1).to(device) for t in tensors], out=buf)
    return buf.abs_()


_INT_VIEW = {torch.float16: torch.int16, torch.bfloat16: torch.int16,
             torch.float32: torch.int32, torch.float64: torch.int64}  # fmt: skip


def _sort_nonnegative(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, indices)`` of a non-negative float tensor sorted ascending (stable). The IEEE
    bit pattern of ``x >= 0`` read as a signed integer is monotone in the value, and integer
    keys take torch's radix sort (about 7x faster than the float sort on CPU)."""
    if x.dtype not in _INT_VIEW:
        return torch.sort(x, stable=True)
    keys, order = torch.sort(x.contiguous().view(_INT_VIEW[x.dtype]), stable=True)
    return keys.view(x.dtype), order


def lamp_scores(mags: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """LAMP scores (Lee et al., ICLR 2021, eq. 2; see the module docstring) of the flat buffer
    ``mags = |w|`` made of tensors of ``sizes`` elements; float64, same layout as ``mags``."""
    out = torch.empty(mags.numel(), dtype=torch.float64, device=mags.device)
    for seg, dst in zip(mags.split(list(sizes)), out.split(list(sizes))):
        n = seg.numel()
        if n == 0:
            continue
        vals, order = _sort_nonnegative(seg)
        vals = vals.to(torch.float64)  # ascending |w|
        sq = vals * vals
        suffix = sq.flip(0).cumsum(0).flip(0)  # suffix[i] = sum_{j >= i} sq[j]
        # first index of each run of equal |w|: positions where a run starts, carried forward
        starts = torch.ones(n, dtype=torch.bool, device=seg.device)
        starts[1:] = vals[1:] != vals[:-1]
        pos = torch.arange(n, device=seg.device)
        first = torch.where(starts, pos, 0).cummax(0).values
        den = suffix[first]  # sum of v^2 over |v| >= |u|
        score = torch.where(den > 0, sq / den.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
        dst.index_copy_(0, order, score)
    return out


def tensor_caps(sizes: Sequence[int], cap: float) -> list[int]:
    """``floor(cap * n_t)`` per tensor (1e-9 tolerance against float round-off)."""
    return [min(math.floor(cap * n + 1e-9), n) for n in sizes]


def min_feasible_cap(sizes: Sequence[int], count: int) -> float:
    """Smallest cap (rounded up to 4 decimals) with ``sum(tensor_caps(sizes, cap)) >= count``."""
    lo, hi = 0.0, 1.0
    for _ in range(64):  # bisection on a monotone step function
        mid = (lo + hi) / 2
        if sum(tensor_caps(sizes, mid)) >= count:
            hi = mid
        else:
            lo = mid
    return min(math.ceil(hi * 1e4 - 1e-6) / 1e4, 1.0)


def check_cap_feasible(
    cap: float, sizes: Sequence[int], final_sparsity: float, n_total: int, need: int
) -> None:
    """Refuse (``FieldError``) a cap under which ``need = floor(final_sparsity * N)`` weights
    cannot all be masked; the message names both counts and the smallest cap that would do."""
    room = sum(tensor_caps(sizes, cap))
    if need > room:
        raise FieldError(
            "max_tensor_sparsity",
            cap,
            f">= {min_feasible_cap(sizes, need)} here: final_sparsity={final_sparsity} must "
            f"mask {need} of the {n_total} prunable weights, but floor(max_tensor_sparsity * "
            f"n) per tensor allows only {room}",
        )


def smallest_k_capped(
    scores: torch.Tensor, k: int, sizes: Sequence[int], room: Sequence[int]
) -> torch.Tensor:
    """Bool mask of exactly ``k`` of the 1-D ``scores`` (tensors of ``sizes`` elements, in
    order), the smallest first, taking at most ``room[t]`` from tensor ``t``.

    Water-filling in a few vectorised passes: select the ``k`` smallest among the tensors still
    open; every open tensor holding more than its ``room`` is *clamped* to its own ``room``
    smallest and closed, ``k`` drops by those, and the pass repeats on the rest (each pass closes
    at least one tensor, so there are at most ``len(sizes)`` passes; usually one or two).

    Exactness: order all elements by (score, position). The capped greedy walk takes elements
    in that order, skipping full tensors, until it has ``k``; it never takes more than the
    uncapped first ``k`` in any prefix, so it ends at or after position ``k`` and therefore
    reaches every element among the first ``k``. A tensor with more than ``room[t]`` of them
    is thus filled by the walk with its ``room[t]`` first elements -- the clamp. The walk's
    choice in the other tensors is the capped greedy walk for ``k - sum(clamped rooms)`` over
    them alone, which the next pass computes.
    """
    sizes, room = list(sizes), [max(int(r), 0) for r in room]
    n_t = len(sizes)
    if len(room) != n_t or sum(sizes) != scores.numel():
        raise ValueError("sizes/room do not describe scores")
    if k > sum(min(r, n) for r, n in zip(room, sizes)):
        raise ValueError(f"cannot select {k} elements: the per-tensor caps allow {sum(room)}")
    device = scores.device
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    seg = torch.repeat_interleave(
        torch.arange(n_t, device=device), torch.tensor(sizes, device=device)
    )
    sel = torch.zeros(scores.numel(), dtype=torch.bool, device=device)
    open_ = torch.ones(scores.numel(), dtype=torch.bool, device=device)
    is_open = [True] * n_t
    while k > 0:
        idx = open_.nonzero().squeeze(1)
        pick = k_smallest_flat(scores[idx], k)
        counts = torch.bincount(seg[idx[pick]], minlength=n_t).tolist()
        over = [t for t in range(n_t) if is_open[t] and counts[t] > room[t]]
        if not over:
            sel[idx[pick]] = True
            break
        for t in over:  # clamp: the tensor's own room[t] smallest, then close it
            a, b = offsets[t], offsets[t + 1]
            sel[a:b] = k_smallest_flat(scores[a:b], room[t])
            open_[a:b] = False
            is_open[t] = False
            k -= room[t]
    return sel
