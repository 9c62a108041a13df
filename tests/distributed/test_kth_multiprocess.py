"""Real gloo process groups (2 and 3 ranks, spawned): the distributed k-th magnitude and masks.

Each spawn runs a batch of cases. Every rank regenerates the same cases from a seed, keeps its
own shard, computes and saves its results to a file; the pytest process compares them with
``torch.kthvalue`` and a single-process ``smallest_k_mask`` over the concatenation.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.distributed as dist
from gloo_ranks import run_ranks

from synprune.regularizers.distributed import kth_smallest_magnitude, smallest_k_mask

pytestmark = pytest.mark.distributed

Case = tuple[str, list[list[torch.Tensor]], list[int]]  # name, shards per rank, ks


def _cases(world: int) -> list[Case]:
    """Deterministic cases; shards[r] is rank r's tensor list."""
    g = torch.Generator().manual_seed(20 + world)

    def ties(*shape: int) -> torch.Tensor:  # values in {-1, -0.5, 0, 0.5, 1}
        return torch.randint(-2, 3, shape, generator=g).float() * 0.5

    cases: list[Case] = []
    shards = [[ties(7, 5), torch.empty(0), ties(3, 2, 4)] for _ in range(world)]
    shards[-1] = [ties(13)]
    cases.append(("fp32 heavy ties, zeros, negatives, 2-D/3-D, empty", shards, []))
    shards = [
        [torch.randn(4, 6, generator=g).bfloat16(), torch.randn(2, 3, 5, generator=g).bfloat16()]
    ]
    shards += [[torch.randn(50, generator=g).bfloat16()] for _ in range(world - 1)]
    cases.append(("bf16 natural ties", shards, []))
    shards = [
        [(torch.randn(9, 4, generator=g) * 1e-5).half(), ties(6).half()] for _ in range(world)
    ]
    cases.append(("fp16 subnormals and ties", shards, []))
    shards = [[] for _ in range(world)]
    shards[1] = [torch.randn(3, 3, generator=g), torch.zeros(0, 4)]
    cases.append(("all weights on one rank, empty lists elsewhere", shards, []))
    shards = [[torch.full((4, 4), -0.25)] for _ in range(world)]
    cases.append(("all equal: tie-break by rank", shards, []))
    shards = [[torch.randn(5, generator=g).double(), ties(4).double()] for _ in range(world)]
    cases.append(("fp64", shards, []))
    shards = [[torch.randn(6, generator=g).bfloat16()] for _ in range(world)]
    shards[0].append(torch.randn(6, generator=g).half())
    cases.append(("mixed bf16/fp16 across ranks", shards, []))
    shards = [[torch.randn(150_000 + 1000 * r, generator=g), ties(300)] for r in range(world)]
    cases.append(("fp32 larger than a chunk", shards, []))
    for _name, shards, ks in cases:
        n = sum(t.numel() for shard in shards for t in shard)
        ks.extend(sorted({1, 2, n // 3, n // 2, n - 1, n} - {0}))
    return cases


def _worker(rank: int, world: int) -> dict[str, object]:
    results = []
    for _, shards, ks in _cases(world):
        mine = shards[rank]
        values = [kth_smallest_magnitude(mine, k) for k in ks]
        masks = [smallest_k_mask(mine, k) for k in [0, *ks]]
        results.append((values, masks))
    return {"results": results, "extra": _checks_needing_a_group(rank, world)}


def _checks_needing_a_group(rank: int, world: int) -> dict[str, object]:
    """Errors raised on every rank alike; bytes communicated independent of N; no all_gather."""
    out: dict[str, object] = {}
    x = torch.randn(10)
    bad = [x.clone()]
    if rank == world - 1:
        bad[0][3] = float("nan")
    for name, call in [
        ("nan", lambda: kth_smallest_magnitude(bad, 1)),
        ("k_range", lambda: kth_smallest_magnitude([x], 10 * world + 1)),
        ("k_range_mask", lambda: smallest_k_mask([x], -1)),
        ("int_dtype", lambda: smallest_k_mask([x] if rank else [torch.arange(3)], 1)),
    ]:
        try:
            call()
            out[name] = "no error"
        except (ValueError, TypeError) as e:
            out[name] = f"{type(e).__name__}: {e}"
    # the group is still in step after the errors
    out["after_errors"] = kth_smallest_magnitude([torch.full((2,), float(rank + 1))], 2 * world)

    sent: list[tuple[str, int]] = []
    real_all_reduce, real_all_gather = dist.all_reduce, dist.all_gather

    def all_reduce(t: torch.Tensor, *a: object, **kw: object) -> object:
        sent.append(("all_reduce", t.numel() * t.element_size()))
        return real_all_reduce(t, *a, **kw)

    def all_gather(
        out_list: list[torch.Tensor], t: torch.Tensor, *a: object, **kw: object
    ) -> object:
        sent.append(("all_gather", t.numel() * t.element_size()))
        return real_all_gather(out_list, t, *a, **kw)

    dist.all_reduce, dist.all_gather = all_reduce, all_gather
    try:
        g = torch.Generator().manual_seed(rank)
        for n in (1_000, 300_000):
            sent.clear()
            kth_smallest_magnitude([torch.randn(n, generator=g)], n)
            out[f"bytes_{n}"] = list(sent)
        sent.clear()
        smallest_k_mask([torch.zeros(5)], 3 * world)  # ties straddle ranks: one tie exchange
        out["bytes_mask_ties"] = list(sent)
    finally:
        dist.all_reduce, dist.all_gather = real_all_reduce, real_all_gather
    return out


@pytest.fixture(scope="module", params=[2, 3], ids=lambda w: f"world{w}")
def spawned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Spawn one gloo group of ``world`` ranks running every case; (world, per-rank results)."""
    world = request.param
    return world, run_ranks(_worker, world, tmp_path_factory.mktemp(f"gloo{world}"), 60)


def _bits(value: float | torch.Tensor) -> int:
    return int(torch.as_tensor(value).double().view(torch.int64))


def test_kth_is_bit_exact_on_every_rank(spawned: tuple) -> None:
    world, per_rank = spawned
    for c, (name, shards, ks) in enumerate(_cases(world)):
        everything = [t for shard in shards for t in shard]
        dtype = functools.reduce(torch.promote_types, [t.dtype for t in everything])
        flat = torch.cat([t.reshape(-1).to(dtype) for t in everything]).abs()
        for i, k in enumerate(ks):
            oracle = _bits(torch.kthvalue(flat, k).values)
            got = [_bits(per_rank[r]["results"][c][0][i]) for r in range(world)]
            assert got == [oracle] * world, (name, k)


def test_masks_select_exactly_k_like_a_single_process_run(spawned: tuple) -> None:
    world, per_rank = spawned
    for c, (name, shards, ks) in enumerate(_cases(world)):
        everything = [t for shard in shards for t in shard]
        for i, k in enumerate([0, *ks]):
            single = smallest_k_mask(everything, k)  # the same decision, one process
            joined = [m for r in range(world) for m in per_rank[r]["results"][c][1][i]]
            assert sum(int(m.sum()) for m in joined) == k, (name, k)
            assert len(joined) == len(single)
            for a, b in zip(joined, single):
                assert a.dtype == torch.bool and a.shape == b.shape and torch.equal(a, b), (name, k)


def test_errors_on_every_rank_and_constant_small_communication(spawned: tuple) -> None:
    world, per_rank = spawned
    for r, ex in enumerate(d["extra"] for d in per_rank):
        assert ex["nan"].startswith("ValueError") and "NaN" in ex["nan"], (r, ex["nan"])
        assert ex["k_range"].startswith("ValueError") and f"[1, {10 * world}]" in ex["k_range"]
        assert ex["k_range_mask"].startswith("ValueError") and "k=-1" in ex["k_range_mask"]
        assert ex["int_dtype"].startswith("TypeError"), ex["int_dtype"]
        assert ex["after_errors"] == float(world)  # the group is still in step
        small, large = ex["bytes_1000"], ex["bytes_300000"]
        assert small == large, "bytes communicated must not depend on the number of weights"
        assert all(op == "all_reduce" for op, _ in small)
        assert sum(b for _, b in small) < 64 * 1024
        ties = ex["bytes_mask_ties"]
        assert ties[-1] == ("all_reduce", 8 * world)  # the per-rank tie counts
        assert all(op == "all_reduce" for op, _ in ties)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_shards_single_process_match_cpu() -> None:
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(1000, 7, generator=g), torch.randint(-2, 3, (500,), generator=g).float()]
    xc = [t.cuda() for t in x]
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        for k in (1, 3000, 7500):
            assert kth_smallest_magnitude([t.to(dtype) for t in xc], k) == kth_smallest_magnitude(
                [t.to(dtype) for t in x], k
            )
            got = smallest_k_mask([t.to(dtype) for t in xc], k)
            ref = smallest_k_mask([t.to(dtype) for t in x], k)
            assert all(a.is_cuda and torch.equal(a.cpu(), b) for a, b in zip(got, ref))
