"""Exact global k-th smallest magnitude and k-smallest masks, optionally across ranks.

Algorithm: radix select over IEEE bit patterns
----------------------------------------------
For a finite or infinite IEEE float ``x``, clearing the sign bit gives ``|x|``, and the bit
pattern of ``|x|`` read as an unsigned (equivalently: non-negative signed) integer is monotone
in the value: the exponent field sits above the mantissa field, and within one exponent the
mantissa is ordered like the value (subnormals have exponent 0 and sit below every normal;
``inf`` is the largest pattern). Hence ``|a| <= |b|  <=>  key(a) <= key(b)`` with
``key(x) = bits(|x|)``, an integer of 15 (fp16/bf16), 31 (fp32) or 63 (fp64) significant bits.
NaN patterns lie above ``inf`` and would break the order of ``torch.kthvalue``, so NaN is refused.

The k-th smallest key is found by *radix select* (most-significant digit first), the selection
analogue of radix sort, as used for k-selection on GPUs (Alabi, Blanchard, Gordon & Steinbach,
"Fast k-selection algorithms for graphics processing units", ACM JEA 17, 2012): the key bits are
split into digits ``w_1 + ... + w_P = bits`` (e.g. 11 + 10 + 10 for fp32). Pass ``p`` counts,
over the candidates whose higher digits equal the prefix chosen so far, how many fall into each
of the ``2**w_p`` values of the next digit. The counts are summed over ranks with one
``all_reduce`` of a small int64 tensor. Every rank then picks the same digit ``d``: the first
bin whose cumulative count reaches the remaining rank ``k'``; ``k'`` drops by the count below
``d`` and ``d`` is appended to the prefix.

Exactness: by induction, after pass ``p`` the prefix equals the top ``w_1 + ... + w_p`` bits of the
k-th smallest key, and ``k'`` is its rank among the keys sharing that prefix (the global
histogram counts every element of every rank exactly once). After the last pass the prefix *is*
the k-th smallest key; it is an integer, so the float it encodes is bit for bit the value
``torch.kthvalue`` returns over the concatenation of all ``|x|``. No floating-point arithmetic
is involved and every rank makes the same decisions from the same all-reduced integers.

Cost: memory O(bins + chunk) beyond the local shard (the shard is streamed in chunks, and the
candidates of later passes are kept only once they fit in one chunk); communication per call is a
fixed handful of small int64 all-reduces (about 33 KB for fp32), independent of the number of
weights. Local work is a few vectorised sweeps (``torch.bincount``) over the shard.

Tie-break (``smallest_k_mask``): all elements with key below the threshold are taken, and of
those equal to it the first ``k - #below`` in the global order (rank, tensor index, row-major
flat index); each rank learns how many ties lower ranks hold from one all-reduced vector of
``world_size`` int64 (skipped when all ties are taken anyway).

Without an initialised process group (or with a one-rank group) everything is local and the
result is the single-process value. Every rank of ``group`` must call these functions together
with the same ``k``; the histograms live on the shards' device (the current CUDA device for
nccl, CPU for gloo).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.distributed as dist

__all__ = ["kth_smallest_magnitude", "smallest_k_mask"]

# float dtype -> (integer dtype of the same width, significant bits of |x|'s pattern)
_KEYS: dict[torch.dtype, tuple[torch.dtype, int]] = {
    torch.float16: (torch.int16, 15),
    torch.bfloat16: (torch.int16, 15),
    torch.float32: (torch.int32, 31),
    torch.float64: (torch.int64, 63),
}
_ORDER = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Digit width per pass (bits): fp32 -> 11+10+10 (3 passes), fp16/bf16 -> 8+7, fp64 -> 6 passes.
# Measured in benchmarks/bench_distributed.py (--radix): 11 bits beat 8 (one sweep fewer) and
# 16 (a 64 K-bin bincount and a 0.5 MB all-reduce per pass).
RADIX_BITS = 11
_CPU_CHUNK = 1 << 18  # elements per streamed chunk on CPU (stays in cache)
_DEVICE_CHUNK = 1 << 24  # on accelerators (fewer kernel launches)
_STORE_LIMIT = 1 << 18  # keep a rank's candidate keys once at most this many remain


@dataclass(frozen=True)
class _Comm:
    group: object
    world: int
    rank: int
    device: torch.device  # where the all-reduced tensors live
    active: bool  # True when collectives must be issued

    def all_reduce(self, t: torch.Tensor) -> None:
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.group)


@dataclass(frozen=True)
class _Selection:
    key: int  # bit pattern of the k-th smallest |x|
    less: int  # global number of elements with a smaller key
    equal: int  # global number of elements with exactly this key


def _comm_for(tensors: Sequence[torch.Tensor], group: object) -> _Comm:
    local = next((t.device for t in tensors), torch.device("cpu"))
    if not (dist.is_available() and dist.is_initialized()):
        return _Comm(None, 1, 0, local, False)
    pg = cast("dist.ProcessGroup | None", group)
    world, rank = dist.get_world_size(pg), dist.get_rank(pg)
    if rank < 0:
        raise ValueError("this process is not a member of the given process group")
    device = torch.device("cpu")
    if "nccl" in str(dist.get_backend(pg)) and torch.cuda.is_available():
        device = next(
            (t.device for t in tensors if t.is_cuda),
            torch.device("cuda", torch.cuda.current_device()),
        )
    return _Comm(group, world, rank, device, world > 1)


def _check_k(k: int, lo: int, n: int) -> int:
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}") from None
    if not lo <= k <= n:
        raise ValueError(
            f"k={k} is out of range: k must be in [{lo}, {n}] "
            f"(N_global={n} elements over all ranks)"
        )
    return k


def _header(tensors: Sequence[torch.Tensor], comm: _Comm) -> tuple[int, torch.dtype]:
    """All-reduce (element count, dtypes present, unsupported count); return (N_global, dtype).

    The common dtype is the one dtype present, else float32 (fp16 + bf16, exact), or float64
    when any shard is float64. Errors are raised on every rank alike (no rank is left waiting).
    """
    head = [0] * (len(_ORDER) + 2)
    for t in tensors:
        head[0] += t.numel()
        if t.dtype in _KEYS:
            head[1 + _ORDER.index(t.dtype)] |= int(t.numel() > 0)
        else:
            head[-1] += 1
    buf = torch.tensor(head, dtype=torch.int64, device=comm.device)
    comm.all_reduce(buf)
    n, *present, bad = buf.tolist()
    if bad:
        raise TypeError(
            f"tensors must be float16, bfloat16, float32 or float64; {bad} tensor(s) "
            "over all ranks have another dtype"
        )
    kinds = [dt for dt, c in zip(_ORDER, present) if c]
    if torch.float64 in kinds:
        return n, torch.float64
    return n, kinds[0] if len(kinds) == 1 else torch.float32


def _digit_widths(nbits: int, radix_bits: int) -> list[int]:
    passes = -(-nbits // radix_bits)
    base, extra = divmod(nbits, passes)
    return [base + 1] * extra + [base] * (passes - extra)


def _keys(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Non-negative integer keys ordered like |x| (``x`` flat, any supported float dtype)."""
    return x.to(dtype).abs().view(_KEYS[dtype][0])


def _chunks(tensors: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    for t in tensors:
        flat = t.detach().reshape(-1)
        step = _CPU_CHUNK if flat.device.type == "cpu" else _DEVICE_CHUNK
        for i in range(0, flat.numel(), step):
            yield flat[i : i + step]


def _radix_select(
    tensors: Sequence[torch.Tensor],
    k: int,
    comm: _Comm,
    dtype: torch.dtype,
    radix_bits: int = RADIX_BITS,
) -> _Selection:
    """Key of the k-th smallest |x| (1 <= k <= N_global) with global counts below / equal."""
    nbits = _KEYS[dtype][1]
    shift, prefix, k_rem, less = nbits, 0, k, 0
    local_candidates = sum(t.numel() for t in tensors)
    stored: list[torch.Tensor] | None = None  # local candidate keys, once they fit in a chunk
    widths = _digit_widths(nbits, radix_bits)
    for p, width in enumerate(widths):
        shift -= width
        bins, first, last = 1 << width, p == 0, p == len(widths) - 1
        keep = not last and (stored is not None or local_candidates <= _STORE_LIMIT)
        new_store: list[torch.Tensor] = []
        partial: dict[torch.device, torch.Tensor] = {}  # per-device histograms; slot -1: NaN
        source = stored if stored is not None else _chunks(tensors)
        for chunk in source:
            nan, edge = None, 0  # edge: 1 when digits carry two edge bins (below/above)
            if stored is not None:  # small stored candidate keys: filter them
                keys = chunk[(chunk >> (shift + width)) == prefix]
                digits = (keys >> shift) & (bins - 1)
            else:
                mags = chunk.to(dtype).abs()
                keys = mags.view(_KEYS[dtype][0])
                if first:  # a sum of magnitudes is NaN iff one of them is (+inf stays +inf)
                    nan = torch.isnan(mags.sum())
                    digits = keys >> shift  # < bins: the key has nbits significant bits
                elif keep:  # candidates now fit in memory: extract them for later passes
                    keys = keys[(keys >> (shift + width)) == prefix]
                    digits = (keys >> shift) & (bins - 1)
                else:  # candidates are the keys with (keys >> shift) in the window
                    # [prefix << width, (prefix + 1) << width): fold the rest into 2 edge bins
                    digits = (keys >> shift).sub_(prefix << width).clamp_(-1, bins).add_(1)
                    edge = 1
            if keep:
                new_store.append(keys)
            hist = partial.get(keys.device)
            if hist is None:
                hist = partial[keys.device] = torch.zeros(
                    bins + 1, dtype=torch.int64, device=keys.device
                )
            hist[:bins] += torch.bincount(digits, minlength=bins + 2 * edge)[edge : bins + edge]
            if nan is not None:
                hist[bins] += nan
        total = torch.zeros(bins + 1, dtype=torch.int64, device=comm.device)
        for hist in partial.values():
            total += hist.to(comm.device)
        local = total.clone()
        comm.all_reduce(total)
        local_cpu, global_cpu = torch.stack((local, total)).cpu()
        if first and global_cpu[bins] > 0:
            raise ValueError(
                "tensors contain NaN (on at least one rank); the magnitude order is undefined"
            )
        cum = global_cpu[:bins].cumsum(0)
        digit = int((cum < k_rem).sum())  # first bin whose cumulative count reaches k_rem
        below = int(cum[digit - 1]) if digit else 0
        less, k_rem = less + below, k_rem - below
        prefix = (prefix << width) | digit
        local_candidates = int(local_cpu[digit])
        stored = new_store if keep else None
    return _Selection(prefix, less, int(global_cpu[digit]))


def _value(key: int, dtype: torch.dtype) -> float:
    return float(torch.tensor(key, dtype=_KEYS[dtype][0]).view(dtype).item())


def kth_smallest_magnitude(tensors: Sequence[torch.Tensor], k: int, group: object = None) -> float:
    """Exact k-th smallest ``|x|`` (1-based) over the union of all tensors of all ranks.

    Args:
        tensors: this rank's shard: float16/bfloat16/float32/float64 tensors of any shapes and
            devices (may be empty, or an empty list). Shards of different ranks are disjoint.
            Mixed dtypes are compared in float32 (float64 if any shard is float64); exact.
        k: 1-based rank over all ``N_global`` elements; the same on every rank.
        group: process group (default group when ``torch.distributed`` is initialised);
            without an initialised process group the computation is single-process.

    Returns:
        The value, bit for bit equal to
        ``torch.kthvalue(torch.cat([t.abs().flatten() for every rank's t]), k).values``,
        as a Python float. The weights are never gathered: radix select with all-reduced
        count histograms (see the module docstring for the algorithm and its exactness).

    Raises:
        ValueError: ``k`` outside ``[1, N_global]`` or a NaN anywhere (on every rank alike).
        TypeError: a non-float tensor on some rank, or ``k`` not an integer.
    """
    comm = _comm_for(tensors, group)
    n, dtype = _header(tensors, comm)
    k = _check_k(k, 1, n)
    return _value(_radix_select(tensors, k, comm, dtype).key, dtype)


def smallest_k_mask(
    tensors: Sequence[torch.Tensor], k: int, group: object = None
) -> list[torch.Tensor]:
    """Bool masks selecting exactly ``k`` elements of smallest ``|x|`` over all tensors and ranks.

    Everything strictly below the k-th smallest magnitude ``t`` is selected; of the elements
    equal to ``t``, the first ``k - #below`` in the global order (lower rank first, then tensor
    order in ``tensors``, then row-major flat index) are selected. Every rank derives the same
    global decision, identical to a single-process call over the concatenation of all ranks'
    lists in rank order. ``k == 0`` selects nothing.

    Args:
        tensors: this rank's shard (see :func:`kth_smallest_magnitude`).
        k: number of elements to select over all ranks, ``0 <= k <= N_global``.
        group: process group, as in :func:`kth_smallest_magnitude`.

    Returns:
        One bool tensor per input, same shape and device; ``True`` marks a selected element.

    Raises:
        ValueError: ``k`` outside ``[0, N_global]`` or a NaN anywhere (on every rank alike).
    """
    comm = _comm_for(tensors, group)
    n, dtype = _header(tensors, comm)
    k = _check_k(k, 0, n)
    if k == 0:
        return [torch.zeros_like(t, dtype=torch.bool) for t in tensors]
    sel = _radix_select(tensors, k, comm, dtype)
    keys = [_keys(t.detach().reshape(-1), dtype) for t in tensors]
    masks = [key < sel.key for key in keys]
    ties = [key == sel.key for key in keys]
    need = k - sel.less  # ties to take over all ranks, 1 <= need <= sel.equal
    if need == sel.equal:  # every tie is taken: no exchange needed (same branch on all ranks)
        return [(m | e).view(t.shape) for m, e, t in zip(masks, ties, tensors)]
    counts = [int(e.sum()) for e in ties]
    per_rank = torch.zeros(comm.world, dtype=torch.int64, device=comm.device)
    per_rank[comm.rank] = sum(counts)
    comm.all_reduce(per_rank)  # ties held by every rank
    budget = need - int(per_rank[: comm.rank].sum())  # ties left for this rank (may be <= 0)
    out = []
    for m, e, t, c in zip(masks, ties, tensors, counts):
        if budget > 0 and c:
            m |= e & (torch.cumsum(e, 0) <= budget)
        budget -= c
        out.append(m.view(t.shape))
    return out
