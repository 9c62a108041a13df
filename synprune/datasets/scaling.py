"""Per-column standard scaling, fit on the training rows only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A column whose train std is below this (constant in train) is only centred, not divided.
MIN_STD = 1e-8


@dataclass(frozen=True, eq=False)
class StandardScaler:
    """``(x - mean) / std`` per column; ``std`` is 1 where the training column is constant."""

    mean: np.ndarray  # float64 [C]
    std: np.ndarray  # float64 [C], > 0

    @classmethod
    def fit(cls, rows: np.ndarray) -> StandardScaler:
        """Fit on ``rows`` ``[N, C]`` (pass the training rows only; population std, ddof=0)."""
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"need a non-empty [N, C] array to fit a scaler, got {rows.shape}")
        x = rows.astype(np.float64, copy=False)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(np.isfinite(std) & (std > MIN_STD), std, 1.0)
        return cls(mean=mean, std=std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``x`` ``[..., C]``."""
        return ((x.astype(np.float64, copy=False) - self.mean) / self.std).astype(np.float32)

    def inverse(self, x: np.ndarray, column: int | None = None) -> np.ndarray:
        """Back to original units (all columns, or just ``column`` for a target array)."""
        if column is None:
            return x * self.std + self.mean
        return x * self.std[column] + self.mean[column]
