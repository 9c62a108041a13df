"""Small real-torch models shared by the regularizer tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn


class TinyForecaster(nn.Module):
    """x [B, L, C] -> [B, H]: LSTM, dropout module, linear head (dropout from model_kwargs)."""

    def __init__(
        self, n_features: int = 3, horizon: int = 2, hidden: int = 8, dropout: float = 0.0
    ):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1]))


class Zoo(nn.Module):
    """One of every supported (and unsupported) parameter kind."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.pos = nn.Parameter(torch.randn(1, 5, 4))
        self.lstm = nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
        self.gru = nn.GRU(4, 5)
        self.rnn = nn.RNN(4, 5, num_layers=2)
        self.mha = nn.MultiheadAttention(4, 2)
        self.mha_sep = nn.MultiheadAttention(4, 2, kdim=3, vdim=3)
        self.conv1 = nn.Conv1d(4, 4, 3)
        self.conv2 = nn.Conv2d(1, 2, 3)
        self.ln = nn.LayerNorm(4)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 1)


@pytest.fixture
def tiny_forecaster() -> type[TinyForecaster]:
    return TinyForecaster


@pytest.fixture
def zoo() -> Zoo:
    torch.manual_seed(0)
    return Zoo()


@pytest.fixture
def mlp() -> Callable[[], nn.Module]:
    def make(seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 1)
        )

    return make


def _greedy_capped(scores: list[float], k: int, sizes: list[int], room: list[int]) -> list[bool]:
    """Capped selection by its definition: walk (score, position) ascending and take each
    element unless its tensor already holds ``room[t]``; stop at ``k``."""
    seg = [t for t, n in enumerate(sizes) for _ in range(n)]
    taken, used = [False] * len(scores), [0] * len(sizes)
    for i in sorted(range(len(scores)), key=lambda i: (scores[i], i)):
        if k == 0:
            break
        if used[seg[i]] < room[seg[i]]:
            taken[i], used[seg[i]], k = True, used[seg[i]] + 1, k - 1
    return taken


@pytest.fixture
def greedy_capped() -> Callable[[list[float], int, list[int], list[int]], list[bool]]:
    return _greedy_capped
