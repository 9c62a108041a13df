"""SynapticPruning on sharded parameters: FSDP2 ``fully_shard`` and hand-made DTensor shards.

2 real gloo ranks (spawned), CPU. FSDP2 runs on CPU/gloo in torch 2.13, so part A shards the
real LSTM forecaster with ``fully_shard`` (uneven dim-0 shards: the 1-row head weight leaves
rank 1 an empty shard) and checks, at every prune update, that the gathered global masks equal
those of a single-process pruner stepped in lockstep on the gathered full weights (tie-free
float weights). Part B uses ``distribute_tensor(..., [Shard(0)])`` with heavy ties and zeros
and checks the exact count and the documented tie-break (rank, tensor, local flat index).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
import torch.distributed as dist
from gloo_ranks import run_ranks
from torch import nn

from synprune.regularizers.selection import k_smallest_flat

pytestmark = pytest.mark.distributed

WORLD = 2


def _fsdp_lstm(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor, init_device_mesh

    from synprune.models import create_model
    from synprune.regularizers import SynapticPruning

    torch.manual_seed(0)
    model = create_model("lstm", n_features=3, seq_len=6, horizon=1, hidden_size=5, num_layers=2)
    ref = copy.deepcopy(model)  # unsharded twin, driven by the gathered full weights
    mesh = init_device_mesh("cpu", (world,))
    for layer in model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    kw = dict(final_sparsity=0.6, start_step=2, end_step=8, prune_every=2)
    pruner = SynapticPruning(model, optimizer=opt, **kw)  # group taken from the DTensor mesh
    ref_pruner = SynapticPruning(ref, **kw)
    gen = torch.Generator().manual_seed(7 + rank)
    out: dict[str, Any] = {
        "group_ranks": dist.get_process_group_ranks(pruner.group),
        "N": pruner.num_prunable,
        "N_ref": ref_pruner.num_prunable,
        "checks": [],
    }
    ref_params = dict(ref.named_parameters())
    for _ in range(9):
        x, y = torch.randn(8, 6, 3, generator=gen), torch.randn(8, 1, generator=gen)
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        grads = [
            p.grad.to_local()[~m.to_local()].abs().max().item()
            for p, m in zip(pruner._params, pruner.masks.values())
            if (~m.to_local()).any()
        ]
        opt.step()
        with torch.no_grad():  # the same weights, unsharded
            for n, p in model.named_parameters():
                ref_params[n].copy_(p.full_tensor())
        pruner.step()
        ref_pruner.step()
        masks = pruner.masks
        params = dict(model.named_parameters())
        full = {n: m.full_tensor() for n, m in masks.items()}
        with torch.no_grad():
            y_sharded, y_ref = model(x), ref(x)  # forward sees the pruned shards
        out["checks"].append(
            {
                "step": pruner.current_step,
                "num_masked": pruner.num_masked,
                "ref_num_masked": ref_pruner.num_masked,
                "full_pruned": sum(int((~m).sum()) for m in full.values()),
                "masks_equal_ref": all(torch.equal(full[n], ref_pruner.masks[n]) for n in full),
                "all_dtensor": all(isinstance(m, DTensor) for m in masks.values()),
                "placements_like_param": all(
                    m.placements == params[n].placements for n, m in masks.items()
                ),
                "local_shapes_like_shard": all(
                    m.to_local().shape == params[n].to_local().shape for n, m in masks.items()
                ),
                "max_masked_local_weight": max(
                    [0.0]
                    + [
                        params[n].to_local().detach()[~m.to_local()].abs().max().item()
                        for n, m in masks.items()
                        if (~m.to_local()).any()
                    ]
                ),
                "max_masked_adam": max(
                    [0.0]
                    + [
                        opt.state[params[n]][k].to_local()[~m.to_local()].abs().max().item()
                        for n, m in masks.items()
                        for k in ("exp_avg", "exp_avg_sq")
                        if (~m.to_local()).any()
                    ]
                ),
                "forward_max_diff": (y_sharded - y_ref).abs().max().item(),
                "max_masked_local_grad_after_backward": max([0.0, *grads]),
            }
        )
    out["target_count"] = pruner.target_count(0.6)
    out["local_sizes"] = {n: t["numel"] for n, t in pruner.report()["tensors"].items()}
    return out


def _tied_values(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(-2, 3, shape, generator=gen).float() * 0.5  # {-1, -.5, 0, .5, 1}


def _dtensor_ties(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.tensor import Shard, distribute_tensor, init_device_mesh

    from synprune.regularizers import SynapticPruning

    mesh = init_device_mesh("cpu", (world,))
    gen = torch.Generator().manual_seed(3)  # same full weights on every rank
    net = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3), nn.Linear(3, 1))
    for lin in net:
        w = _tied_values(gen, *lin.weight.shape)
        lin.weight = nn.Parameter(distribute_tensor(w, mesh, [Shard(0)]))
    pruner = SynapticPruning(
        net, final_sparsity=0.75, initial_sparsity=0.3, start_step=1, end_step=3, prune_every=1
    )
    steps = []
    for _ in range(3):
        local_w = [lin.weight.to_local().detach().clone() for lin in net]
        pruner.step()
        local_keep = [m.to_local().clone() for m in pruner.masks.values()]
        steps.append({"local_w": local_w, "local_keep": local_keep, "num": pruner.num_masked})
    resumed = SynapticPruning(net, final_sparsity=0.75, start_step=1, end_step=3)
    resumed.load_state_dict(pruner.state_dict())  # DTensor masks in the state dict
    resume_ok = resumed.num_masked == pruner.num_masked and all(
        torch.equal(a.to_local(), b.to_local())
        for a, b in zip(resumed.masks.values(), pruner.masks.values())
    )
    err = ""
    try:  # a plain tensor among DTensor shards is refused (it would be counted twice)
        SynapticPruning(nn.Sequential(net[0], nn.Linear(2, 2)), 0.5, 1, 2)
    except ValueError as e:
        err = str(e)
    return {"steps": steps, "N": pruner.num_prunable, "mix_error": err, "resume_ok": resume_ok}


def _worker(rank: int, world: int) -> dict[str, Any]:
    return {"fsdp": _fsdp_lstm(rank, world), "ties": _dtensor_ties(rank, world)}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_ranks(_worker, WORLD, tmp_path_factory.mktemp("fsdp"))


def test_fsdp2_masks_equal_unsharded_run(ranks: list[dict[str, Any]]) -> None:
    for r in ranks:
        f = r["fsdp"]
        assert f["group_ranks"] == [0, 1]
        assert f["N"] == f["N_ref"]  # padding excluded: the global count is the real one
        assert f["local_sizes"]["head.weight"] == (5 if r is ranks[0] else 0)  # uneven shard
        updates = {c["num_masked"] for c in f["checks"]}
        assert len(updates) >= 4  # several prune updates happened
        for c in f["checks"]:
            assert c["masks_equal_ref"], c
            assert c["num_masked"] == c["ref_num_masked"] == c["full_pruned"]
            assert c["all_dtensor"] and c["placements_like_param"] and c["local_shapes_like_shard"]
            assert c["max_masked_local_weight"] == 0.0
            assert c["max_masked_adam"] == 0.0
            assert c["forward_max_diff"] < 1e-6
            assert c["max_masked_local_grad_after_backward"] == 0.0  # reduce-scattered grads
        assert f["checks"][-1]["num_masked"] == f["target_count"] == math.floor(0.6 * f["N"])
    assert ranks[0]["fsdp"]["checks"] == ranks[1]["fsdp"]["checks"]


def test_dtensor_heavy_ties_exact_count_and_tie_break(ranks: list[dict[str, Any]]) -> None:
    n = ranks[0]["ties"]["N"]
    assert n == 4 * 5 + 5 * 3 + 3 * 1
    prev = torch.zeros(n, dtype=torch.bool)
    for s in range(3):
        # global order of the documented tie-break: rank, then tensor, then local flat index
        w = torch.cat([t.reshape(-1) for r in ranks for t in r["ties"]["steps"][s]["local_w"]])
        got = ~torch.cat(
            [m.reshape(-1) for r in ranks for m in r["ties"]["steps"][s]["local_keep"]]
        )
        num = ranks[0]["ties"]["steps"][s]["num"]
        assert num == ranks[1]["ties"]["steps"][s]["num"] == int(got.sum())
        mags = w.abs().masked_fill(prev, math.inf)  # masked weights never come back
        want = prev | k_smallest_flat(mags, num - int(prev.sum()))
        assert torch.equal(got, want)
        prev = got
    assert ranks[0]["ties"]["steps"][-1]["num"] == math.floor(0.75 * n)
    assert ranks[0]["ties"]["steps"][0]["num"] == math.floor(0.3 * n)
    assert "mix DTensor shards with plain tensors" in ranks[0]["ties"]["mix_error"]
    assert ranks[0]["ties"]["resume_ok"] and ranks[1]["ties"]["resume_ok"]
