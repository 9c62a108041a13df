"""Building blocks shared by the forecasters: argument checks, RevIN, positional encoding.

Nothing here knows about regularizers. Every dropout in every model is an ``nn.Dropout``
module (never a float hidden inside another module), so that MC dropout, which switches only
``nn.Dropout*`` modules to train mode, reaches all of them.
"""

from __future__ import annotations

import torch
from torch import nn

from synprune.errors import FieldError

# --------------------------------------------------------------------------- argument checks


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[minimum, maximum]``; else ``FieldError``.

    ``FieldError`` is a ``ValueError``; the message names the argument, its value and the range.
    """
    upper = "inf" if maximum is None else str(maximum)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        raise FieldError(name, value, f"an integer in [{minimum}, {upper}]")
    return value


def check_dropout(value: object, name: str = "dropout") -> float:
    """Return ``value`` as float if it is a probability in ``[0, 1)``; else ``FieldError``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise FieldError(name, value, "a number in [0, 1)")
    return float(value)


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``; else ``FieldError``."""
    if not isinstance(value, str) or value not in allowed:
        raise FieldError(name, value, f"one of {', '.join(allowed)}")
    return str(value)


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool; else ``FieldError``."""
    if not isinstance(value, bool):
        raise FieldError(name, value, "true or false")
    return value


def check_input(x: torch.Tensor, seq_len: int, n_features: int) -> None:
    """Validate a forward input ``x[B, L, C]`` against the sizes the model was built for."""
    if x.ndim != 3 or x.shape[1] != seq_len or x.shape[2] != n_features:
        raise ValueError(
            f"input x has shape {tuple(x.shape)}; expected [batch, seq_len={seq_len}, "
            f"n_features={n_features}]"
        )


# --------------------------------------------------------------------------- RevIN


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al., ICLR 2022, "Reversible Instance
    Normalization for Accurate Time-Series Forecasting against Distribution Shift").

    Each instance and channel of ``x[B, L, C]`` is normalised with its own mean and standard
    deviation over the L time steps, then (``affine=True``) scaled and shifted by learnable
    per-channel parameters. ``denormalize`` undoes both on a forecast. As in the PatchTST
    reference (``layers/RevIN.py``): biased variance plus ``eps`` inside the square root,
    statistics detached from the graph, and ``affine_weight + eps**2`` as the divisor.

    Stateless across calls: ``normalize`` returns the statistics and ``denormalize`` takes them,
    so one module can serve concurrent forward passes.
    """

    def __init__(self, num_channels: int, *, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.affine_weight = nn.Parameter(torch.ones(num_channels))
            self.affine_bias = nn.Parameter(torch.zeros(num_channels))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x[B, L, C]`` -> (normalised ``x``, (mean ``[B, 1, C]``, stdev ``[B, 1, C]``))."""
        mean = x.mean(dim=1, keepdim=True).detach()
        stdev = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / stdev
        if self.affine:
            x = x * self.affine_weight + self.affine_bias
        return x, (mean, stdev)

    def denormalize(
        self,
        y: torch.Tensor,
        stats: tuple[torch.Tensor, torch.Tensor],
        channels: slice | None = None,
    ) -> torch.Tensor:
        """Undo ``normalize`` on a forecast ``y[B, H, C']`` for ``channels`` (default: all)."""
        mean, stdev = stats
        sel = slice(None) if channels is None else channels
        if self.affine:
            y = (y - self.affine_bias[sel]) / (self.affine_weight[sel] + self.eps * self.eps)
        return y * stdev[..., sel] + mean[..., sel]


# --------------------------------------------------------------------------- encoder helpers


class LearnablePositionalEncoding(nn.Module):
    """Learnable additive positional encoding ``W_pos[num_positions, d_model]``.

    PatchTST's default (``pe="zeros", learn_pe=True`` in the reference ``positional_encoding``):
    initialised uniformly in [-0.02, 0.02] and trained with the rest of the model.
    """

    def __init__(self, num_positions: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_positions, d_model))
        nn.init.uniform_(self.weight, -0.02, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[N, P, d_model]`` -> ``x + W_pos``."""
        return x + self.weight


class Transpose(nn.Module):
    """``x.transpose(dim0, dim1)`` as a module, to run ``BatchNorm1d`` over ``[N, P, d_model]``."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"{self.dim0}, {self.dim1}"


def batch_norm_over_features(d_model: int) -> nn.Sequential:
    """BatchNorm1d over the ``d_model`` features of ``[N, P, d_model]`` (PatchTST's norm)."""
    return nn.Sequential(Transpose(1, 2), nn.BatchNorm1d(d_model), Transpose(1, 2))


def num_patches(seq_len: int, patch_len: int, stride: int) -> int:
    """Patches cut from a window of ``seq_len`` after PatchTST's end padding.

    The reference pads the end with ``stride`` copies of the last value
    (``ReplicationPad1d((0, stride))``) and unfolds with ``size=patch_len, step=stride``:
    ``(seq_len - patch_len) // stride + 1`` patches from the window plus one more from the pad.
    """
    return (seq_len - patch_len) // stride + 2
