"""PatchTST (Nie, Nguyen, Sinthong & Kalagnanam, ICLR 2023, "A Time Series is Worth 64 Words:
Long-term Forecasting with Transformers", arXiv:2211.14730), supervised variant with the
reference code (github.com/yuqinie98/PatchTST, ``PatchTST_backbone.py``) as the tie-breaker.

Pipeline for ``x[B, L, C]`` (channel 0 is the target)::

    RevIN normalise (per instance, per channel; Kim et al. 2022)          [B, L, C]
    channels -> batch, end padding ReplicationPad1d((0, stride))           [B*C, L + stride]
    unfold(patch_len, stride) -> P = (L - patch_len) // stride + 2 patches [B*C, P, patch_len]
    Linear(patch_len, d_model) + learnable positional encoding, Dropout    [B*C, P, d_model]
    num_layers x post-norm encoder layer (shared across channels):
        x = Norm(x + Dropout(MultiheadAttention(x)))
        x = Norm(x + Dropout(Linear(GELU(Linear(x)) -> Dropout -> d_model)))
    flatten head of channel 0: Flatten -> Dropout -> Linear(d_model * P, H)  [B, H]
    RevIN denormalise with channel 0's statistics                          [B, H]

**Which channel is the forecast.** Channel independence: every channel is a separate sequence
through the same backbone. The model returns the flatten-head forecast of channel 0 (the
target) only; the head, shared across channels in the reference (``individual=False``), is
evaluated for channel 0 alone, which gives exactly the reference's ``outputs[..., target]``
for less compute. The other channels reach channel 0's forecast *only* through BatchNorm batch
statistics in training mode (and, through them, the running statistics used in eval mode);
with a target-only loss they receive no gradient of their own — as in the reference's "MS"
(multivariate in, univariate out) mode. When no BatchNorm is in training mode (eval mode,
MC dropout, or ``norm="layer"``) channel 0's output provably does not depend on other
channels, so they are skipped entirely.

**Norm.** ``norm="batch"`` (default): BatchNorm1d over d_model, the paper's and the reference's
choice (the paper follows Zerveas et al. 2021, who found BatchNorm better than LayerNorm for
time-series Transformers because it copes with outliers). ``norm="layer"`` is offered.

**Dropout.** One probability p for every ``nn.Dropout`` module: after the positional encoding,
on the attention branch, inside and on the feed-forward branch, and in the head. All of it is
``nn.Dropout`` (``nn.MultiheadAttention`` gets ``dropout=0``: the reference's ``attn_dropout``
defaults to 0 too), so MC dropout reaches every one.

**Defaults** (``default_arch``), each overridable:

* ``seq_len >= 96``: the paper's standard supervised setting, patch_len 16, stride 8,
  d_model 128, n_heads 16, d_ff 256, num_layers 3.
* ``seq_len < 96`` (the synaptic-pruning benchmark uses 1-60): patch_len =
  min(16, ceil(seq_len / 4)) so that a window yields about four to eight patches
  (seq_len 1 -> 1, 14 -> 4, 60 -> 15), d_model 64, n_heads 4, d_ff 128, num_layers 3.
* always: stride = max(1, patch_len // 2) unless given; revin = (seq_len >= 2), because with a
  single time step the per-instance standard deviation is identically 0 and RevIN would
  reduce the model to the persistence forecast (x_L + O(sqrt(eps)) correction).

**Deviations from the reference**, each deliberate: ``nn.MultiheadAttention`` (so the pruning
selection recognises attention projections by module type) instead of the custom attention,
hence no residual attention scores (``res_attention``, RealFormer) and no second dropout on the
out-projection (the reference applies ``proj_dropout`` and ``dropout_attn`` back to back);
head dropout before the head's Linear (the reference drops forecast values after it, with
``head_dropout=0`` by default); RevIN affine on by default (as the brief and Kim et al.).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from synprune.errors import FieldError
from synprune.models.layers import (
    LearnablePositionalEncoding,
    RevIN,
    batch_norm_over_features,
    check_bool,
    check_choice,
    check_dropout,
    check_input,
    check_int,
    num_patches,
)
from synprune.models.registry import register_model

#: Window length from which the paper's standard supervised hyperparameters apply.
STANDARD_SEQ_LEN = 96


def default_arch(seq_len: int) -> dict[str, Any]:
    """The default architecture for a window of ``seq_len`` (rule in the module docstring)."""
    if seq_len >= STANDARD_SEQ_LEN:
        arch: dict[str, Any] = {"patch_len": 16, "d_model": 128, "n_heads": 16, "d_ff": 256}
    else:
        patch_len = min(16, max(1, math.ceil(seq_len / 4)))
        arch = {"patch_len": patch_len, "d_model": 64, "n_heads": 4, "d_ff": 128}
    arch["stride"] = max(1, arch["patch_len"] // 2)
    arch["num_layers"] = 3
    arch["norm"] = "batch"
    arch["revin"] = seq_len >= 2
    arch["revin_affine"] = True
    return arch


class PatchTSTEncoderLayer(nn.Module):
    """Post-norm Transformer encoder layer of PatchTST (reference ``TSTEncoderLayer``,
    ``pre_norm=False``, ``activation="gelu"``), on ``[N, P, d_model]``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
        self.dropout_attn = nn.Dropout(dropout)
        self.norm_attn = self._norm(norm, d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
        )
        self.dropout_ffn = nn.Dropout(dropout)
        self.norm_ffn = self._norm(norm, d_model)

    @staticmethod
    def _norm(norm: str, d_model: int) -> nn.Module:
        return batch_norm_over_features(d_model) if norm == "batch" else nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn, _ = self.self_attn(x, x, x, need_weights=False)
        x = self.norm_attn(x + self.dropout_attn(attn))
        return self.norm_ffn(x + self.dropout_ffn(self.ff(x)))


@register_model("patchtst")
class PatchTST(nn.Module):
    """PatchTST forecaster of channel 0; see the module docstring for the architecture.

    Args:
        n_features: input channels C (channel 0 is the target), >= 1.
        seq_len: window length L, >= 1.
        horizon: forecast steps H, >= 1.
        dropout: p in [0, 1) for every dropout module.
        patch_len: in [1, seq_len]. stride: in [1, patch_len].
        d_model: >= 1. n_heads: in [1, d_model], dividing d_model. d_ff: >= 1.
        num_layers: encoder layers, >= 1. norm: ``"batch"`` or ``"layer"``.
        revin: apply RevIN. revin_affine: RevIN's learnable per-channel affine.
        Architecture arguments left as ``None`` take ``default_arch(seq_len)``.

    Raises:
        ValueError (``FieldError``) naming the argument, its value and the allowed range.
    """

    def __init__(
        self,
        *,
        n_features: int,
        seq_len: int,
        horizon: int,
        dropout: float = 0.0,
        patch_len: int | None = None,
        stride: int | None = None,
        d_model: int | None = None,
        n_heads: int | None = None,
        d_ff: int | None = None,
        num_layers: int | None = None,
        norm: str | None = None,
        revin: bool | None = None,
        revin_affine: bool | None = None,
    ) -> None:
        super().__init__()
        self.n_features = check_int("n_features", n_features, 1)
        self.seq_len = check_int("seq_len", seq_len, 1)
        self.horizon = check_int("horizon", horizon, 1)
        self.dropout = check_dropout(dropout)

        given = {
            "patch_len": patch_len,
            "d_model": d_model,
            "n_heads": n_heads,
            "d_ff": d_ff,
            "num_layers": num_layers,
            "norm": norm,
            "revin": revin,
            "revin_affine": revin_affine,
        }
        arch = default_arch(self.seq_len)
        arch.update({k: v for k, v in given.items() if v is not None})
        self.patch_len = check_int("patch_len", arch["patch_len"], 1, self.seq_len)
        # stride follows the resolved patch_len unless given explicitly
        self.stride = check_int(
            "stride", max(1, self.patch_len // 2) if stride is None else stride, 1, self.patch_len
        )
        self.d_model = check_int("d_model", arch["d_model"], 1)
        self.n_heads = check_int("n_heads", arch["n_heads"], 1, self.d_model)
        if self.d_model % self.n_heads:
            raise FieldError("n_heads", self.n_heads, f"a divisor of d_model={self.d_model}")
        self.d_ff = check_int("d_ff", arch["d_ff"], 1)
        self.num_layers = check_int("num_layers", arch["num_layers"], 1)
        self.norm = check_choice("norm", arch["norm"], ("batch", "layer"))
        self.use_revin = check_bool("revin", arch["revin"])
        self.revin_affine = affine = check_bool("revin_affine", arch["revin_affine"])
        self.num_patches = num_patches(self.seq_len, self.patch_len, self.stride)

        p = self.dropout
        self.revin = RevIN(self.n_features, affine=affine) if self.use_revin else None
        # ReplicationPad1d((0, stride)): repeat the last value `stride` times at the end.
        self.padding = nn.ReplicationPad1d((0, self.stride))
        self.patch_embedding = nn.Linear(self.patch_len, self.d_model)  # W_P
        self.positional_encoding = LearnablePositionalEncoding(self.num_patches, self.d_model)
        self.pos_dropout = nn.Dropout(p)
        self.encoder = nn.ModuleList(
            PatchTSTEncoderLayer(self.d_model, self.n_heads, self.d_ff, p, self.norm)
            for _ in range(self.num_layers)
        )
        self.head = nn.Sequential(
            nn.Flatten(start_dim=-2),
            nn.Dropout(p),
            nn.Linear(self.d_model * self.num_patches, self.horizon),
        )
        self._batch_norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm1d)]

    def resolved_arch(self) -> dict[str, Any]:
        """The architecture fields as built (``None`` arguments resolved), for the spec."""
        return {
            "patch_len": self.patch_len, "stride": self.stride, "d_model": self.d_model,
            "n_heads": self.n_heads, "d_ff": self.d_ff, "num_layers": self.num_layers,
            "norm": self.norm, "revin": self.use_revin, "revin_affine": self.revin_affine,
        }  # fmt: skip

    def _needs_all_channels(self) -> bool:
        """Other channels matter to channel 0 only via BatchNorm batch statistics."""
        return self.n_features > 1 and any(bn.training for bn in self._batch_norms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[B, L, C]`` -> forecast of channel 0, ``[B, H]``."""
        check_input(x, self.seq_len, self.n_features)
        batch = x.shape[0]
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        if not self._needs_all_channels():
            x = x[:, :, :1]
        channels = x.shape[2]

        z = self.padding(x.transpose(1, 2))  # [B, c, L + stride]
        z = z.unfold(-1, self.patch_len, self.stride)  # [B, c, P, patch_len]
        z = self.patch_embedding(z).reshape(batch * channels, self.num_patches, self.d_model)
        z = self.pos_dropout(self.positional_encoding(z))
        for layer in self.encoder:
            z = layer(z)

        # Channel 0's representation, laid out [B, d_model, P] as in the reference head.
        z0 = z.reshape(batch, channels, self.num_patches, self.d_model)[:, 0].transpose(1, 2)
        y = self.head(z0)  # [B, H]
        if stats is not None and self.revin is not None:
            y = self.revin.denormalize(y.unsqueeze(-1), stats, channels=slice(0, 1)).squeeze(-1)
        return y

    def extra_repr(self) -> str:
        return (
            f"n_features={self.n_features}, seq_len={self.seq_len}, horizon={self.horizon}, "
            f"dropout={self.dropout}, patch_len={self.patch_len}, stride={self.stride}, "
            f"num_patches={self.num_patches}"
        )
