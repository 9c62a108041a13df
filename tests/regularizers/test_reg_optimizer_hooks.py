"""Masked weights stay exactly zero through every step of ANY optimizer holding pruned
parameters -- also optimizers created after the pruner and never handed to it -- via torch's
global optimizer step hooks, held weakly and removed with the pruner."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.optim import optimizer as torch_optimizer

from synprune.regularizers import SynapticPruning

LATE_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
}


def global_hook_count() -> tuple[int, int]:
    return (
        len(torch_optimizer._global_optimizer_pre_hooks),
        len(torch_optimizer._global_optimizer_post_hooks),
    )


@pytest.mark.parametrize("opt_name", sorted(LATE_OPTIMIZERS))
def test_optimizer_created_after_the_pruner(opt_name: str, mlp: Callable[..., nn.Module]) -> None:
    model = mlp()
    pr = SynapticPruning(model, 0.7, start_step=2, end_step=30, prune_every=3)  # no optimizer=
    opt = LATE_OPTIMIZERS[opt_name](model.parameters())  # created after, never handed over
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(0)
    for step in range(1, 41):
        x, y = torch.randn(8, 6, generator=g), torch.randn(8, 1, generator=g)
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        masks = pr.masks
        opt.step()
        for n, keep in masks.items():  # right after optimizer.step(), before pruner.step()
            assert torch.all(params[n][~keep] == 0), (opt_name, step, n)
        pr.step()
        for n, keep in pr.masks.items():
            assert torch.all(params[n][~keep] == 0)
            assert not torch.signbit(params[n][~keep]).any()  # +0.0, not -0.0
    assert pr.num_masked == math.floor(0.7 * pr.num_prunable)
    for n, keep in pr.masks.items():  # state of masked weights zeroed when they were masked
        bufs = [v for v in opt.state[params[n]].values() if torch.is_tensor(v) and v.dim()]
        assert bufs and all(torch.all(v[~keep] == 0) for v in bufs)
    # the masked weights' optimizer state stays zero: one more step moves none of them
    opt.zero_grad()
    model(torch.randn(8, 6, generator=g)).pow(2).mean().backward()
    opt.step()
    assert all(torch.all(params[n][~k] == 0) for n, k in pr.masks.items())


def test_adam_moments_would_move_masked_weights_without_the_hooks(
    mlp: Callable[..., nn.Module],
) -> None:
    """The hazard the global hooks remove: Adam's moments carry on after masking."""
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):  # moments build up while dense
        opt.zero_grad()
        model(torch.randn(8, 6)).pow(2).mean().backward()
        opt.step()
    pr = SynapticPruning(model, 0.5, start_step=1, end_step=2, initial_sparsity=0.5)
    pr.step()
    keep = pr.masks["0.weight"]
    pr.remove()  # no hooks: gradients and moments of masked weights act again
    opt.zero_grad()
    model(torch.randn(8, 6)).pow(2).mean().backward()
    opt.step()
    assert torch.any(model[0].weight[~keep] != 0)


def test_optimizers_lists_attached_strongly_and_met_weakly(mlp: Callable[..., nn.Module]) -> None:
    model = mlp()
    attached = torch.optim.SGD(model.parameters(), lr=0.1)
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1, optimizer=attached)
    late = torch.optim.Adam(model.parameters())
    assert pr.optimizers == [attached]
    model(torch.randn(4, 6)).sum().backward()
    late.step()  # met at its first step
    assert pr.optimizers == [attached, late]
    del late
    gc.collect()
    assert pr.optimizers == [attached]  # the pruner never keeps a met optimizer alive


def test_unrelated_optimizers_are_left_alone(mlp: Callable[..., nn.Module]) -> None:
    model, other = mlp(), mlp(seed=1)
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1, initial_sparsity=0.5)
    pr.step()
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    before = [p.detach().clone() for p in other.parameters()]
    other(torch.randn(4, 6)).sum().backward()
    opt.step()
    assert not pr._watch.holds(opt) and pr._watch.optimizers() == []
    assert all(not torch.equal(a, b) for a, b in zip(before, other.parameters()))


def test_hooks_removed_by_remove_and_by_garbage_collection(
    mlp: Callable[..., nn.Module],
) -> None:
    gc.collect()
    base = global_hook_count()
    pr = SynapticPruning(mlp(), 0.5, start_step=0, end_step=1)
    assert global_hook_count() == (base[0] + 1, base[1] + 1)
    pr.remove()
    pr.remove()  # idempotent
    assert global_hook_count() == base

    def build() -> weakref.ref:
        model = mlp()
        pruner = SynapticPruning(model, 0.5, start_step=0, end_step=1)
        opt = torch.optim.Adam(model.parameters())
        model(torch.randn(2, 6)).sum().backward()
        opt.step()
        return weakref.ref(pruner)

    ref = build()  # model, pruner and optimizer go out of scope: nothing keeps them alive
    gc.collect()
    assert ref() is None  # the global hooks hold the pruner weakly
    assert global_hook_count() == base
