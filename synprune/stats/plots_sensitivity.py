"""Sensitivity figure: test metric relative to the ``none`` arm against each swept value.

One row of panels per model, one column per swept (family, field) -- e.g. dropout p beside
synaptic final_sparsity, each with its own x axis. In a panel, one line per dataset (colour)
and per variant of the family's other fields (line style, e.g. score=lamp vs magnitude); points
are the mean over seeds of the seed-paired ratio arm / none, bars its 95 % t-interval (data from
:func:`synprune.stats.cells.sensitivity_data`). The dashed line at 1 is ``none``; below it the
arm has the lower error. Rendered with matplotlib's Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def sensitivity_figure(
    data: pd.DataFrame, path: str | Path, *, metric: str, baseline: str = "none", dpi: int = 150
) -> Path:
    """Draw the figure of ``data`` (see module docstring) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    models = sorted(data["model"].unique())
    panels = list(dict.fromkeys(zip(data["family"], data["field"])))
    datasets = sorted(data["dataset"].unique())
    variants = sorted(data["variant"].unique())
    colors = {d: plt.get_cmap("tab10")(i % 10) for i, d in enumerate(datasets)}
    style = {
        v: (STYLES[i % len(STYLES)], MARKERS[i % len(MARKERS)]) for i, v in enumerate(variants)
    }
    n_r, n_c = len(models), len(panels)
    height = 3.0 * n_r + 0.8
    fig, axes = plt.subplots(n_r, n_c, figsize=(4.6 * n_c, height), squeeze=False, sharey="row")
    lines = [(d, v) for d in datasets for v in variants]
    for r, model in enumerate(models):
        for c, (family, field) in enumerate(panels):
            ax = axes[r][c]
            sub = data[(data["model"] == model) & (data["family"] == family)]
            xs = np.sort(sub["x"].unique()) if len(sub) else np.array([0.0])
            # values spread over decades (weight decay 0.01..10, L1 1e-7..1e-4): a log axis,
            # where a linear one piles all but the largest onto one tick
            log_x = bool(xs.size > 2 and xs.min() > 0 and xs.max() / xs.min() >= 100)
            span = float(xs.max() - xs.min()) if xs.size > 1 else 1.0
            step = 0.012 * span
            ax.axhline(1.0, color="0.45", linestyle="--", linewidth=1.0, zorder=1)
            for i, (ds, var) in enumerate(lines):
                g = sub[(sub["dataset"] == ds) & (sub["variant"] == var)].sort_values("x")
                if g.empty:
                    continue
                offset = i - (len(lines) - 1) / 2  # keep error bars apart
                ls, mk = style[var]
                x = g["x"].to_numpy()
                ax.errorbar(
                    x * 1.06**offset if log_x else x + offset * step,
                    g["mean"].to_numpy(),
                    yerr=np.nan_to_num(g["ci95"].to_numpy(), nan=0.0),
                    color=colors[ds],
                    linestyle=ls,
                    marker=mk,
                    markersize=4,
                    linewidth=1.4,
                    capsize=2.5,
                    zorder=3,
                )
            if sub.empty:
                ax.text(0.5, 0.5, "no arms", ha="center", va="center", transform=ax.transAxes)
            if log_x:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{x:g}" for x in xs], fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            ax.grid(alpha=0.25)
            ax.set_title(f"{model} · {family}", fontsize=10)
            if r == n_r - 1:
                ax.set_xlabel(f"{family} {field}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{metric} / {baseline}", fontsize=9)
    handles = [Line2D([], [], color=colors[d], linewidth=2, label=d) for d in datasets]
    handles += [  # a family without other swept fields draws the blank variant: no entry
        Line2D([], [], color="0.2", linestyle=style[v][0], marker=style[v][1], label=v)
        for v in variants
        if v
    ]
    handles.append(Line2D([], [], color="0.45", linestyle="--", label=f"{baseline} (= 1)"))
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=min(len(handles), 6),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )
    fig.text(
        0.5,
        0.005,
        f"{metric} relative to '{baseline}' in the same block, paired by seed: "
        "mean and 95 % t-interval over seeds (blocks of a panel averaged per seed)",
        ha="center",
        va="bottom",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.3 / height, 1, 1 - 0.35 / height))
    path = Path(path)
    fig.savefig(path, dpi=dpi, facecolor="white")
    plt.close(fig)
    return path
