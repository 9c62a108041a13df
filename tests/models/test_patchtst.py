"""PatchTST specifics: patch count, defaults rule, RevIN equivariance, channel independence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synprune.models import PatchTST, create_model, default_arch
from synprune.models.layers import num_patches


@pytest.mark.parametrize(
    ("seq_len", "patch_len", "stride", "expected"),
    [
        (336, 16, 8, 42),  # the paper's headline setting: L=336 -> N=42 patches
        (96, 16, 8, 12),
        (14, 4, 2, 7),
        (11, 4, 3, 4),  # window patches at 0, 3, 6 (7..10 ends the window) + one padded
        (1, 1, 1, 2),
    ],
)
def test_patch_count_formula(seq_len: int, patch_len: int, stride: int, expected: int) -> None:
    assert num_patches(seq_len, patch_len, stride) == expected
    # the same count from the reference's pad-and-unfold, and inside the model
    padded = nn.ReplicationPad1d((0, stride))(torch.zeros(1, 1, seq_len))
    assert padded.unfold(-1, patch_len, stride).shape[2] == expected
    model = PatchTST(
        n_features=1, seq_len=seq_len, horizon=1, patch_len=patch_len, stride=stride, d_model=8,
        n_heads=2, d_ff=8, num_layers=1,
    )  # fmt: skip
    assert model.num_patches == expected
    assert model.head[-1].in_features == 8 * expected


def test_defaults_rule() -> None:
    std = default_arch(96)
    assert {k: std[k] for k in ("patch_len", "stride", "d_model", "n_heads", "d_ff")} == {
        "patch_len": 16, "stride": 8, "d_model": 128, "n_heads": 16, "d_ff": 256,
    }  # fmt: skip
    assert std["num_layers"] == 3 and std["norm"] == "batch" and std["revin"]
    assert (default_arch(14)["patch_len"], default_arch(14)["stride"]) == (4, 2)
    assert (default_arch(60)["patch_len"], default_arch(60)["stride"]) == (15, 7)
    assert default_arch(1)["revin"] is False and default_arch(2)["revin"] is True
    for seq_len in range(1, 200):
        a = default_arch(seq_len)
        assert 1 <= a["stride"] <= a["patch_len"] <= seq_len
        assert a["d_model"] % a["n_heads"] == 0
        assert num_patches(seq_len, a["patch_len"], a["stride"]) >= 2


def test_stride_follows_an_explicit_patch_len() -> None:
    model = PatchTST(n_features=1, seq_len=30, horizon=1, patch_len=6)
    assert (model.patch_len, model.stride) == (6, 3)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_revin_makes_output_equivariant_to_affine_maps_of_the_target(norm: str) -> None:
    """RevIN: forecasting a*x0 + c gives a*y + c (up to eps in the standard deviation)."""
    torch.manual_seed(0)
    model = create_model("patchtst", n_features=2, seq_len=12, horizon=3, norm=norm).eval()
    with torch.no_grad():  # non-trivial affine parameters
        model.revin.affine_weight.uniform_(0.5, 2.0)
        model.revin.affine_bias.uniform_(-1.0, 1.0)
    x = torch.randn(4, 12, 2)
    moved = x.clone()
    moved[:, :, 0] = 3.0 * moved[:, :, 0] + 50.0
    with torch.no_grad():
        y, y_moved = model(x), model(moved)
    torch.testing.assert_close(y_moved, 3.0 * y + 50.0, atol=2e-3, rtol=1e-4)


def test_without_revin_the_shift_is_not_passed_through() -> None:
    torch.manual_seed(0)
    model = create_model("patchtst", n_features=1, seq_len=12, horizon=3, revin=False).eval()
    assert model.revin is None
    x = torch.randn(4, 12, 1)
    with torch.no_grad():
        assert not torch.allclose(model(x + 50.0), model(x) + 50.0, atol=1e-1)


def test_seq_len_one_defaults_to_no_revin_and_learns_from_the_input() -> None:
    torch.manual_seed(0)
    model = create_model("patchtst", n_features=1, seq_len=1, horizon=2).eval()
    assert model.revin is None and model.num_patches == 2
    x = torch.randn(4, 1, 1)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(2 * x))


def test_channel_independence_in_train_mode() -> None:
    """With LayerNorm the other channels are inert even in train mode; with the paper's
    BatchNorm they act on channel 0 only through the batch statistics (as in the reference)."""
    x = torch.randn(4, 10, 3)
    other = x.clone()
    other[:, :, 1:] = 10 * torch.randn_like(other[:, :, 1:])
    for norm, inert in (("layer", True), ("batch", False)):
        torch.manual_seed(0)
        model = create_model("patchtst", n_features=3, seq_len=10, horizon=2, norm=norm).train()
        with torch.no_grad():
            same = torch.allclose(model(x), model(other), atol=1e-5)
        assert same is inert, norm


def test_attention_is_nn_multihead_attention() -> None:
    """The pruning selection recognises attention projections by module type."""
    model = create_model("patchtst", n_features=1, seq_len=20, horizon=1, num_layers=2)
    attn = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    assert len(attn) == 2
    assert all(isinstance(m.out_proj, nn.Linear) for m in attn)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 4


def test_skipping_other_channels_in_eval_is_exact() -> None:
    """Eval mode feeds only channel 0 through the backbone; the reference feeds all channels.
    Both give the same forecast because BatchNorm then uses running statistics."""
    torch.manual_seed(0)
    model = create_model("patchtst", n_features=3, seq_len=10, horizon=2)
    x = torch.randn(4, 10, 3)
    with torch.no_grad():
        model.train()(x + 1.0)  # move the running statistics away from their init
        model.eval()
        assert not model._needs_all_channels()
        fast = model(x)
        model._needs_all_channels = lambda: True  # type: ignore[method-assign]
        full = model(x)
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=1e-5)
