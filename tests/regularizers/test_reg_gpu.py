"""CUDA: masks live on the parameter's device; cuDNN LSTM keeps training with zeros intact."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from synprune.regularizers import SynapticPruning

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


class LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 64, num_layers=2, batch_first=True, bidirectional=True,
                            proj_size=16)  # fmt: skip
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD])
def test_cuda_lstm_pruning(opt_cls: type) -> None:
    torch.manual_seed(0)
    model = LSTMNet().cuda()
    kw = {"momentum": 0.9, "lr": 0.01} if opt_cls is torch.optim.SGD else {"lr": 1e-3}
    opt = opt_cls(model.parameters(), **kw)
    pr = SynapticPruning(model, 0.8, start_step=1, end_step=30, prune_every=5, optimizer=opt)
    params = dict(model.named_parameters())
    for _ in range(40):
        x, y = torch.randn(32, 30, 5, device="cuda"), torch.randn(32, 1, device="cuda")
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        for n, keep in pr.masks.items():
            assert keep.device == params[n].device
            assert torch.all(params[n][~keep] == 0)
        pr.step()
    assert pr.num_masked == math.floor(0.8 * pr.num_prunable)
    clone = copy.deepcopy(model)  # cuDNN flat weights still usable after in-place masking
    assert clone(torch.randn(2, 30, 5, device="cuda")).shape == (2, 1)


def test_cuda_oracle_matches_cpu() -> None:
    torch.manual_seed(0)
    cpu = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 8))
    gpu = copy.deepcopy(cpu).cuda()
    masks = []
    for m in (cpu, gpu):
        pr = SynapticPruning(m, 0.5, start_step=0, end_step=1)
        pr.step()
        masks.append({n: k.cpu() for n, k in pr.masks.items()})
    assert all(torch.equal(masks[0][n], masks[1][n]) for n in masks[0])
