"""``curves.png``: a trial's loss curves (and sparsity) against epoch, drawn with matplotlib's
Agg backend in the driver (the MLflow UI's own charts show the same histories interactively)."""

from __future__ import annotations

import io
import math


def curves_png(
    history: list[dict[str, float]], title: str, best_epoch: float | None = None
) -> bytes:
    """Loss curves (and sparsity where present) against epoch, as PNG bytes (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import ticker
    from matplotlib.figure import Figure

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    has_sp = any(h.get("sparsity") is not None for h in history)
    fig = Figure(figsize=(8 if has_sp else 5, 3.2), dpi=100)
    ax = fig.add_subplot(1, 2 if has_sp else 1, 1)
    for key in ("train_loss", "val_loss"):
        ax.plot(epochs, [h.get(key, math.nan) for h in history], marker="o", ms=3, label=key)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label="best (restored)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled)")
    if all(h.get(k, 1.0) > 0 for h in history for k in ("train_loss", "val_loss")):
        ax.set_yscale("log")
        # plain tick labels: the default 10^k labels go through mathtext, a third of the time
        values = [h[k] for h in history for k in ("train_loss", "val_loss") if k in h]
        decades = math.log10(max(values) / min(values)) if values else 0.0
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_tick))
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(_minor if decades < 1.5 else _none))
    ax.legend()
    ax.grid(alpha=0.3)
    if has_sp:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(
            epochs, [h.get("sparsity", math.nan) for h in history], color="C2", marker="o", ms=3
        )
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("sparsity")
        ax2.set_ylim(-0.02, 1.02)
        ax2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    # fixed margins: tight_layout measured every tick label and cost ~40 % of the figure's time
    fig.subplots_adjust(left=0.2 if not has_sp else 0.12, right=0.97, bottom=0.15, top=0.88)
    if has_sp:
        fig.subplots_adjust(wspace=0.28)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _tick(value: float, _pos: object = None) -> str:
    return f"{value:.3g}"


def _minor(value: float, _pos: object = None) -> str:
    """Minor log ticks labelled at 2, 3 and 5 times a power of ten (plain text)."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return _tick(value) if any(abs(mantissa - m) < 1e-6 for m in (2, 3, 5)) else ""


def _none(_value: float, _pos: object = None) -> str:
    return ""
