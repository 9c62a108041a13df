"""Critical-difference diagram in the style of Demšar (2006, JMLR 7:1-30, Fig. 1 and 2).

An axis of average ranks (1 = best, on the left); each method hangs from its average rank with
its name and rank; thick horizontal bars join methods whose average ranks differ by less than
the Nemenyi critical difference (not significantly different); the CD is drawn as a bracket
above the axis. Rendered with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def cd_diagram(
    avg_ranks: pd.Series,
    cd: float | None,
    groups: Sequence[Sequence[str]],
    path: str | Path,
    *,
    title: str = "",
    dpi: int = 150,
) -> Path:
    """Draw a CD diagram of ``avg_ranks`` (name -> average rank) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    r = avg_ranks.sort_values(kind="stable")
    names = [str(n) for n in r.index]
    vals = r.to_numpy(dtype=float)
    k = len(names)
    lo, hi = 1, max(k, 2)
    left, right = 0.24, 0.76  # axes-fraction span of the rank axis

    def x(rank: float) -> float:
        return left + (right - left) * (rank - lo) / (hi - lo)

    n_left = (k + 1) // 2
    n_rows = max(n_left, k - n_left)
    group_step, line_step = 0.09, 0.22
    y_groups0 = 0.16
    y_names0 = y_groups0 + group_step * max(len(groups), 0) + 0.14
    height_units = y_names0 + line_step * (n_rows - 1) + 0.15
    top = -0.5 if cd else -0.22
    fig_h = 0.9 + 1.5 * (height_units - top)
    fig, ax = plt.subplots(figsize=(8.0, fig_h))
    ax.set_xlim(0, 1)
    ax.set_ylim(height_units, top)
    ax.axis("off")
    line_kw = {"color": "black", "linewidth": 1.0, "solid_capstyle": "butt"}

    # the rank axis with integer and half ticks
    ax.plot([x(lo), x(hi)], [0, 0], **line_kw)
    for t in range(lo, hi + 1):
        ax.plot([x(t), x(t)], [0, -0.06], **line_kw)
        ax.text(x(t), -0.09, str(t), ha="center", va="bottom", fontsize=10)
        if t < hi:
            ax.plot([x(t + 0.5), x(t + 0.5)], [0, -0.03], **line_kw)
    ax.text(x(lo) - 0.02, -0.09, "avg. rank", ha="right", va="bottom", fontsize=8, color="0.35")

    # CD bracket above the axis, starting at rank 1
    if cd:
        y_cd = top + 0.2
        end = min(hi, lo + cd)
        ax.plot([x(lo), x(end)], [y_cd, y_cd], color="black", linewidth=1.6)
        for e in (lo, end):
            ax.plot([x(e), x(e)], [y_cd - 0.035, y_cd + 0.035], color="black", linewidth=1.0)
        label = f"CD = {cd:.2f}" + (" (> axis)" if lo + cd > hi else "")
        ax.text((x(lo) + x(end)) / 2, y_cd - 0.045, label, ha="center", va="bottom", fontsize=9)

    # method lines: best half to the left, the rest to the right
    for i, (name, v) in enumerate(zip(names, vals)):
        if i < n_left:
            y = y_names0 + line_step * i
            xe, ha, tx = left - 0.02, "right", left - 0.03
        else:
            y = y_names0 + line_step * (k - 1 - i)
            xe, ha, tx = right + 0.02, "left", right + 0.03
        ax.plot([x(v), x(v)], [0, y], **line_kw)
        ax.plot([x(v), xe], [y, y], **line_kw)
        ax.text(tx, y, f"{name} ({v:.2f})", ha=ha, va="center", fontsize=10)

    # thick bars: groups not significantly different (Nemenyi, |ΔR| < CD)
    pos = dict(zip(names, vals))
    for g, members in enumerate(groups):
        y = y_groups0 + group_step * g
        a, b = min(pos[m] for m in members), max(pos[m] for m in members)
        ax.plot([x(a) - 0.006, x(b) + 0.006], [y, y], color="black", linewidth=4.0)

    if title:
        ax.set_title(title, fontsize=10, pad=4)
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path
