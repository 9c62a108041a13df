"""Exact global k-th magnitude over 2 spawned ranks: radix select vs all_gather + kthvalue.

For each size (total weights, split over 2 ranks, fp32 randn, k = 0.8 N as at 80 % sparsity) it
prints the bytes each rank hands to collectives for one threshold (the sum of the tensor bytes
passed to all_reduce / all_gather: buffers, inputs and output lists), the median (and min) wall
time of one threshold on rank 0, and whether both methods give the same float bit for bit.
``--radix`` adds a table comparing digit widths (bins per pass) of the radix select.
The 1e8 row runs only where CUDA is present (nccl on 2 GPUs, else gloo with CUDA shards).

    python benchmarks/bench_distributed.py [--quick] [--radix]

Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from synprune.regularizers import distributed as D

WORLD = 2
_SENT: list[int] = []  # bytes handed to collectives on this rank since the last clear()


def _install_byte_counters() -> None:
    real_all_reduce, real_all_gather = dist.all_reduce, dist.all_gather

    def all_reduce(t: torch.Tensor, *a: object, **kw: object) -> object:
        _SENT.append(t.numel() * t.element_size())
        return real_all_reduce(t, *a, **kw)

    def all_gather(out: list[torch.Tensor], t: torch.Tensor, *a: object, **kw: object) -> object:
        _SENT.append(t.numel() * t.element_size() + sum(o.numel() * o.element_size() for o in out))
        return real_all_gather(out, t, *a, **kw)

    dist.all_reduce, dist.all_gather = all_reduce, all_gather


def gather_kthvalue(shard: torch.Tensor, k: int, group: object = None) -> float:
    """Baseline: gather every shard (sizes first, as shards may differ) and run kthvalue."""
    size = torch.tensor([shard.numel()], dtype=torch.int64, device=shard.device)
    sizes = [torch.empty_like(size) for _ in range(dist.get_world_size(group))]
    dist.all_gather(sizes, size, group=group)
    parts = [torch.empty(int(s), dtype=shard.dtype, device=shard.device) for s in sizes]
    dist.all_gather(parts, shard, group=group)  # equal sizes here (gloo/nccl need them)
    return float(torch.kthvalue(torch.cat(parts).abs(), k).values)


def _measure(
    fn: Callable[[], float], reps: int, device: torch.device, group: object = None
) -> tuple[float, float, int, float]:
    """(value, median seconds, bytes of one call) on this rank."""
    _SENT.clear()
    value = fn()
    sent = sum(_SENT)
    times = []
    for _ in range(reps):
        dist.barrier(group=group)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return value, statistics.median(times), sent, min(times)


def _bench_size(
    rank: int, n: int, device: torch.device, group: object, reps: int, radix: bool
) -> tuple[tuple, tuple, list]:
    g = torch.Generator(device=device).manual_seed(rank)
    shard = torch.randn(n // WORLD, generator=g, device=device)
    k = int(0.8 * n)
    r = reps if n < 10**7 else max(3, reps // 2)
    ours = _measure(lambda: D.kth_smallest_magnitude([shard], k, group), r, device, group)
    base = _measure(lambda: gather_kthvalue(shard, k, group), r, device, group)
    by_width = []
    if radix and n >= 10**6:
        comm = D._comm_for([shard], group)
        for bits in (8, 11, 16):
            t = _measure(
                lambda b=bits: D._radix_select([shard], k, comm, torch.float32, b).key,
                r,
                device,
                group,
            )
            by_width.append((n, bits, D._digit_widths(31, bits), t[1], t[2], t[3]))
    return ours, base, by_width


def _worker(rank: int, tmp: str, sizes: list[int], reps: int, radix: bool) -> None:
    torch.set_num_threads(1)  # 2 ranks on a 2-core machine
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo",
        init_method=f"file://{tmp}/store",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(minutes=10),
    )
    _install_byte_counters()
    # CUDA rows: nccl when every rank has its own GPU, else gloo with CUDA shards
    nccl = torch.cuda.is_available() and torch.cuda.device_count() >= WORLD
    cuda_group = dist.new_group(backend="nccl") if nccl else None
    rows, radix_rows = [], []
    for n in sizes:
        on_cuda = n >= 10**8 and torch.cuda.is_available()
        group = cuda_group if on_cuda else None
        label = "nccl" if on_cuda and nccl else f"gloo{'+cuda' if on_cuda else ''}"
        device = torch.device("cuda", rank % torch.cuda.device_count()) if on_cuda else None
        ours, base, by_width = _bench_size(
            rank, n, device or torch.device("cpu"), group, reps, radix
        )
        rows.append((n, label, ours, base))
        radix_rows += by_width
    if rank == 0:
        _print(rows, radix_rows)
    dist.destroy_process_group()


def _bits(v: float) -> int:
    return int(torch.tensor(v, dtype=torch.float64).view(torch.int64))


def _ms(median: float, best: float) -> str:
    return f"{median * 1e3:.2f} ({best * 1e3:.2f})"


def _fmt_bytes(b: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1000 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    return ""


def _print(rows: list, radix_rows: list) -> None:
    print(f"\nexact k-th |w| (k = 0.8 N, fp32) over {WORLD} ranks; bytes per rank per threshold")
    head = (
        f"{'weights':>8} {'backend':>9} | {'radix bytes':>11} {'ms (min)':>15} | "
        f"{'gather bytes':>12} {'ms (min)':>15} | {'speed-up':>8} {'equal':>5}"
    )
    print(head)
    print("-" * len(head))
    for n, dev, (v1, t1, b1, m1), (v2, t2, b2, m2) in rows:
        same = _bits(v1) == _bits(v2)
        ok = "yes" if same else "NO"
        print(
            f"{n:>8.0e} {dev:>9} | {_fmt_bytes(b1):>11} {_ms(t1, m1):>15} | "
            f"{_fmt_bytes(b2):>12} {_ms(t2, m2):>15} | {t2 / t1:>7.1f}x {ok:>5}"
        )
    if radix_rows:
        print("\nradix digit width (bins per pass), same shards and k")
        print(f"{'weights':>8} {'bits':>4} {'digits (bits)':>15} {'ms (min)':>15} {'bytes':>9}")
        for n, bits, widths, t, b, m in radix_rows:
            digits = "+".join(map(str, widths))
            print(f"{n:>8.0e} {bits:>4} {digits:>15} {_ms(t, m):>15} {_fmt_bytes(b):>9}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e5 and 1e6 only, fewer repeats")
    parser.add_argument("--radix", action="store_true", help="also compare digit widths")
    args = parser.parse_args(argv)
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    if torch.cuda.is_available() and not args.quick:
        sizes.append(10**8)
    reps = 5 if args.quick else 11
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(tmp, sizes, reps, args.radix), nprocs=WORLD, join=True)


if __name__ == "__main__":
    main()
