"""Recurrent forecasters: Elman RNN, LSTM and GRU behind one parametrised class.

Contract (docs/ARCHITECTURE.md, "Models"): ``forward(x[B, L, C]) -> y[B, H]``; all C input
features go into the recurrence; the output is the next H values of channel 0 (the target).

Architecture, bottom to top::

    x[B, L, C] -> RevIN normalise (optional, default on for L >= 2)
               -> cell layer 1 -> Dropout(p) -> cell layer 2 -> ... -> cell layer N
               -> last time step's hidden state h_L[B, hidden] -> Dropout(p) -> Linear(hidden, H)
               -> RevIN denormalise with channel 0's statistics

RevIN (Kim et al., ICLR 2022) is an addition to the paper's plain recurrent models: prices such as
Bitcoin or AAPL leave the training range in the test period (chronological split, scaler fit on
train only), which drives a plain LSTM's saturating units far off and makes it lose badly to the
naive forecast; per-window normalisation removes that level shift. ``revin=False`` gives the
plain model. With ``seq_len == 1`` the per-window deviation is 0, so the default turns it off.

Where dropout sits (all ``nn.Dropout`` modules, one probability ``p``):

* between stacked recurrent layers (``num_layers - 1`` modules) on each layer's output
  sequence. This is exactly what ``nn.LSTM(num_layers=N, dropout=p)`` does (Zaremba et al.
  2014, "Recurrent Neural Network Regularization": non-recurrent connections only), but as
  separate modules, so MC dropout (which switches only ``nn.Dropout*`` modules to train mode)
  reaches it too: the fused cell's ``dropout`` float would stay off in an eval-mode cell;
* on the last hidden state before the linear head (one module), so ``p`` matters with a single
  recurrent layer too.

No dropout on the recurrent (hidden-to-hidden) connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from synprune.errors import FieldError
from synprune.models.layers import (
    RevIN,
    check_bool,
    check_choice,
    check_dropout,
    check_input,
    check_int,
)
from synprune.models.registry import register_model

CellType = Literal["rnn", "lstm", "gru"]
_CELLS: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

#: Defaults: 64 hidden units and two stacked layers, so that the dropout baseline has both of
#: its classical places (between layers and before the head); the paper used 1-2 layers.
DEFAULT_HIDDEN_SIZE = 64
DEFAULT_NUM_LAYERS = 2


class RecurrentForecaster(nn.Module):
    """Stacked RNN / LSTM / GRU with a last-state linear head.

    The registered models are the subclasses ``RNNForecaster`` (``rnn``), ``LSTMForecaster``
    (``lstm``) and ``GRUForecaster`` (``gru``), which fix ``cell``; ``RecurrentForecaster(cell,
    ...)`` builds any of them directly.

    Args:
        cell: positional only; ``"rnn"`` (tanh Elman), ``"lstm"`` or ``"gru"``; optional in the
            subclasses (their ``CELL``).
        n_features: input channels C (channel 0 is the target), >= 1.
        seq_len: window length L, >= 1 (checked against the input).
        horizon: forecast steps H, >= 1.
        dropout: probability p in [0, 1); placement in the module docstring.
        hidden_size: units per recurrent layer, >= 1 (default 64).
        num_layers: stacked recurrent layers, >= 1 (default 2).
        revin: reversible instance normalisation; ``None`` (default) = on when seq_len >= 2.

    Raises:
        ValueError (``FieldError``) naming the argument, its value and the allowed range.
    """

    #: the cell of a registered subclass (``None``: given as the first argument)
    CELL: ClassVar[CellType | None] = None

    def __init__(
        self,
        cell: CellType | None = None,
        /,
        *,
        n_features: int,
        seq_len: int,
        horizon: int,
        dropout: float = 0.0,
        hidden_size: int = DEFAULT_HIDDEN_SIZE,
        num_layers: int = DEFAULT_NUM_LAYERS,
        revin: bool | None = None,
    ) -> None:
        super().__init__()
        if cell is None:
            cell = self.CELL
        elif self.CELL is not None and cell != self.CELL:
            raise FieldError("cell", cell, f"{self.CELL!r} (fixed by {type(self).__name__})")
        self.cell = check_choice("cell", cell, tuple(_CELLS))
        self.n_features = check_int("n_features", n_features, 1)
        self.seq_len = check_int("seq_len", seq_len, 1)
        self.horizon = check_int("horizon", horizon, 1)
        self.dropout = check_dropout(dropout)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        use_revin = self.seq_len >= 2 if revin is None else check_bool("revin", revin)
        self.revin = RevIN(self.n_features) if use_revin else None

        rnn_cls = _CELLS[self.cell]
        self.layers = nn.ModuleList(
            rnn_cls(
                input_size=self.n_features if i == 0 else self.hidden_size,
                hidden_size=self.hidden_size,
                batch_first=True,
            )
            for i in range(self.num_layers)
        )
        self.between_dropouts = nn.ModuleList(
            nn.Dropout(self.dropout) for _ in range(self.num_layers - 1)
        )
        self.head_dropout = nn.Dropout(self.dropout)
        self.head = nn.Linear(self.hidden_size, self.horizon)

    def resolved_arch(self) -> dict[str, Any]:
        """The architecture fields as built (``revin=None`` resolved), for the spec."""
        return {
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "revin": self.revin is not None,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[B, L, C]`` -> forecast of channel 0, ``[B, H]``."""
        check_input(x, self.seq_len, self.n_features)
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        h = x
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.between_dropouts[i - 1](h)
            h, _ = layer(h)
        y = self.head(self.head_dropout(h[:, -1, :]))
        if stats is not None and self.revin is not None:
            y = self.revin.denormalize(y.unsqueeze(-1), stats, channels=slice(0, 1)).squeeze(-1)
        return y

    def extra_repr(self) -> str:
        return (
            f"cell={self.cell}, n_features={self.n_features}, seq_len={self.seq_len}, "
            f"horizon={self.horizon}, dropout={self.dropout}"
        )


@register_model("rnn")
class RNNForecaster(RecurrentForecaster):
    """``rnn``: stacked tanh Elman RNN forecaster (see :class:`RecurrentForecaster`)."""

    CELL = "rnn"


@register_model("lstm")
class LSTMForecaster(RecurrentForecaster):
    """``lstm``: stacked LSTM forecaster (see :class:`RecurrentForecaster`)."""

    CELL = "lstm"


@register_model("gru")
class GRUForecaster(RecurrentForecaster):
    """``gru``: stacked GRU forecaster (see :class:`RecurrentForecaster`)."""

    CELL = "gru"
