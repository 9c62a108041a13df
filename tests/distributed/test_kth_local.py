"""Single-process tests of the radix-select k-th magnitude and k-smallest masks (fast, no group).

The oracle is ``torch.kthvalue`` over the concatenation (compared bit for bit), and for masks a
stable sort of the concatenated magnitudes (ties in concatenation order).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from synprune.regularizers import distributed as D
from synprune.regularizers.distributed import kth_smallest_magnitude, smallest_k_mask

DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.float64]
_INT = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32}


def _flat_abs(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).abs() for t in tensors])


def _oracle(tensors: list[torch.Tensor], k: int) -> torch.Tensor:
    """kthvalue over the concatenation, in the (common) dtype of the tensors."""
    return torch.kthvalue(_flat_abs(tensors), k).values


def _same_bits(value: float, expected: torch.Tensor) -> bool:
    got = torch.tensor(value, dtype=torch.float64).to(expected.dtype)
    assert float(got) == value, "returned float is not representable in the shard dtype"
    if expected.dtype == torch.float64:
        return got.view(torch.int64).item() == expected.view(torch.int64).item()
    int_dtype = _INT[expected.dtype]
    return got.view(int_dtype).item() == expected.view(int_dtype).item()


def _ref_mask(tensors: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    flat = _flat_abs(tensors).double()
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    chosen[torch.sort(flat, stable=True).indices[:k]] = True
    return [m.view(t.shape) for m, t in zip(chosen.split([t.numel() for t in tensors]), tensors)]


def _random_tensors(gen: torch.Generator, dtype: torch.dtype) -> list[torch.Tensor]:
    """1-4 tensors of random rank 0-3 shapes (some empty) with ties, zeros, signs and extremes."""
    out = []
    for _ in range(int(torch.randint(1, 5, (1,), generator=gen))):
        ndim = int(torch.randint(0, 4, (1,), generator=gen))
        shape = tuple(int(s) for s in torch.randint(0, 7, (ndim,), generator=gen))
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        style = int(torch.randint(0, 4, (1,), generator=gen))
        if style == 1:  # heavy ties incl. zeros and both signs
            x = torch.randint(-2, 3, shape, generator=gen).double() * 0.25
        elif style == 2:  # wide dynamic range (subnormals / large exponents for the dtype)
            x = x * torch.exp2(torch.randint(-30, 30, shape, generator=gen).double())
        elif style == 3 and x.numel():
            x.view(-1)[0] = 0.0
            x.view(-1)[-1] = -0.0
        out.append(x.to(dtype))
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("seed", range(6))
def test_random_cases_match_kthvalue_bit_for_bit(dtype: torch.dtype, seed: int) -> None:
    gen = torch.Generator().manual_seed(1000 * seed + DTYPES.index(dtype))
    checked = 0
    while checked < 8:
        tensors = _random_tensors(gen, dtype)
        n = sum(t.numel() for t in tensors)
        if n == 0:
            continue
        for k in {1, n, int(torch.randint(1, n + 1, (1,), generator=gen))}:
            got = kth_smallest_magnitude(tensors, k)
            assert _same_bits(got, _oracle(tensors, k)), (dtype, k, [t.shape for t in tensors])
            masks = smallest_k_mask(tensors, k)
            assert sum(int(m.sum()) for m in masks) == k
            for m, r, t in zip(masks, _ref_mask(tensors, k), tensors):
                assert m.dtype == torch.bool and m.shape == t.shape
                assert torch.equal(m, r)
        checked += 1


def test_infinities_subnormals_and_signed_zeros_fp32() -> None:
    tiny = torch.finfo(torch.float32).tiny
    x = torch.tensor([-0.0, 0.0, tiny / 8, -tiny / 4, tiny, -float("inf"), float("inf"), 1.0])
    for k in range(1, x.numel() + 1):
        assert _same_bits(kth_smallest_magnitude([x], k), _oracle([x], k))
    assert kth_smallest_magnitude([x], 8) == float("inf")
    assert str(kth_smallest_magnitude([x], 1)) == "0.0"  # +0.0, as |-0.0| is +0.0


@pytest.mark.parametrize("radix_bits", [4, 8, 11, 16])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_digit_width_is_exact(radix_bits: int, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(7)
    tensors = [
        (torch.randn(300, generator=gen) * 1e-3).to(dtype),
        torch.randint(-3, 4, (40, 5), generator=gen).to(dtype),
    ]
    comm = D._comm_for(tensors, None)
    n = sum(t.numel() for t in tensors)
    for k in (1, 17, 250, n // 2, n - 1, n):
        sel = D._radix_select(tensors, k, comm, dtype, radix_bits)
        assert _same_bits(D._value(sel.key, dtype), _oracle(tensors, k))
        flat = _flat_abs(tensors).double()
        thr = float(_oracle(tensors, k))
        assert sel.less == int((flat < thr).sum()) and sel.equal == int((flat == thr).sum())


def test_chunked_and_stored_candidate_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks force the streamed, windowed and stored-candidate code paths."""
    monkeypatch.setattr(D, "_CPU_CHUNK", 64)
    gen = torch.Generator().manual_seed(3)
    tensors = [torch.randn(1000, generator=gen), torch.randn(37, 11, generator=gen), torch.ones(90)]
    n = sum(t.numel() for t in tensors)
    for k in (1, 2, 500, 1100, 1200, n):
        assert _same_bits(kth_smallest_magnitude(tensors, k), _oracle(tensors, k))
        assert all(
            torch.equal(a, b) for a, b in zip(smallest_k_mask(tensors, k), _ref_mask(tensors, k))
        )


def test_mixed_dtypes_compare_exactly_in_float32() -> None:
    a = torch.tensor([0.1, -3.0, 2.5], dtype=torch.bfloat16)
    b = torch.tensor([0.1, 2.5, 7.0], dtype=torch.float16)
    c = torch.tensor([0.1, -2.5], dtype=torch.float32)
    ref = torch.cat([a.float(), b.float(), c]).abs()
    for k in range(1, 9):
        assert kth_smallest_magnitude([a, b, c], k) == float(torch.kthvalue(ref, k).values)
    d = torch.tensor([9.0], dtype=torch.float64)
    assert kth_smallest_magnitude([a, d], 3) == 3.0 and kth_smallest_magnitude([a, d], 4) == 9.0


def test_tie_break_is_tensor_order_then_flat_index() -> None:
    a = torch.tensor([[2.0, -1.0], [1.0, 0.5]])
    b = torch.tensor([-1.0, 1.0, 3.0])
    masks = smallest_k_mask([a, b], 3)  # 0.5, then the first two of four |x| == 1 ties
    assert masks[0].tolist() == [[False, True], [True, True]]
    assert masks[1].tolist() == [False, False, False]
    masks = smallest_k_mask([a, b], 4)
    assert masks[1].tolist() == [True, False, False]


def test_k_zero_selects_nothing_and_empty_inputs() -> None:
    tensors = [torch.randn(3, 4), torch.empty(0)]
    masks = smallest_k_mask(tensors, 0)
    assert [m.shape for m in masks] == [torch.Size([3, 4]), torch.Size([0])]
    assert not any(bool(m.any()) for m in masks)
    assert smallest_k_mask([], 0) == []
    assert all(bool(m.all()) for m in smallest_k_mask(tensors, 12))


@pytest.mark.parametrize(
    ("fn", "k", "lo", "n"),
    [
        (kth_smallest_magnitude, 0, 1, 7),
        (kth_smallest_magnitude, 8, 1, 7),
        (kth_smallest_magnitude, -1, 1, 7),
        (smallest_k_mask, 8, 0, 7),
        (smallest_k_mask, -1, 0, 7),
    ],
)
def test_k_out_of_range_names_k_and_the_range(
    fn: Callable[..., object], k: int, lo: int, n: int
) -> None:
    with pytest.raises(ValueError, match=rf"k={k}\b.*\[{lo}, {n}\]"):
        fn([torch.randn(3), torch.randn(2, 2)], k)


def test_empty_input_has_no_valid_k() -> None:
    with pytest.raises(ValueError, match=r"\[1, 0\]"):
        kth_smallest_magnitude([], 1)
    with pytest.raises(ValueError, match=r"\[1, 0\]"):
        kth_smallest_magnitude([torch.empty(0, 3)], 1)


def test_non_integer_k_and_non_float_tensors_are_refused() -> None:
    with pytest.raises(TypeError, match="k must be an integer"):
        kth_smallest_magnitude([torch.randn(3)], 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        kth_smallest_magnitude([torch.arange(5)], 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_nan_is_refused(dtype: torch.dtype) -> None:
    x = torch.tensor([1.0, float("nan"), 2.0], dtype=dtype)
    with pytest.raises(ValueError, match="NaN"):
        kth_smallest_magnitude([x], 1)
    with pytest.raises(ValueError, match="NaN"):
        smallest_k_mask([torch.ones(2, dtype=dtype), x], 2)


def test_inputs_are_not_modified_and_grad_tensors_work() -> None:
    w = torch.randn(5, 4, requires_grad=True)
    before = w.detach().clone()
    masks = smallest_k_mask([w], 7)
    assert torch.equal(w.detach(), before) and int(masks[0].sum()) == 7
    assert kth_smallest_magnitude([w], 20) == float(w.detach().abs().max())
