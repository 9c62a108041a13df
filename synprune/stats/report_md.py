"""report.md: the answer first (best arm, significance), then the tables behind it.

Nothing here averages raw errors across datasets: per-dataset values appear per block (the
cells table); summaries over blocks are ratios or relative differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from synprune.stats.analysis import StatsResult
from synprune.stats.cells import wide_cells
from synprune.stats.summary import fmt, markdown_table, omnibus_sentence

REFERENCES = [
    "- J. Demšar (2006). Statistical comparisons of classifiers over multiple data sets. "
    "JMLR 7:1–30.",
    "- M. Friedman (1937). The use of ranks to avoid the assumption of normality implicit in "
    "the analysis of variance. JASA 32:675–701.",
    "- S. Holm (1979). A simple sequentially rejective multiple test procedure. "
    "Scand. J. Statist. 6:65–70.",
    "- R. L. Iman, J. M. Davenport (1980). Approximations of the critical region of the "
    "Friedman statistic. Comm. Statist. A 9:571–595.",
]


def _friedman_section(res: StatsResult) -> list[str]:
    o = res.overall
    lines = ["## Friedman and Iman–Davenport tests", ""]
    if o is not None and not o.degenerate and pd.notna(o.chi2):
        lines.append(
            f"Over N = {o.n_blocks} blocks and k = {o.k}: Friedman χ²_F = {fmt(o.chi2)} "
            f"(p = {fmt(o.p_chi2)}), Iman–Davenport F_F = {fmt(o.f_stat)} with "
            f"({o.df1}, {o.df2}) df (p = {fmt(o.p_f)})."
        )
    lines += [omnibus_sentence(res), "", markdown_table(res.friedman), ""]
    if (res.friedman["p_exact"].notna()).any():
        lines += [
            "`p_exact` is given where every block ranks the treatments identically: F_F is "
            "undefined there (it divides by N(k−1) − χ²_F = 0) and the exact p-value of that "
            "outcome, (k!/Π t!)^(1−N), replaces it.",
            "",
        ]
    return lines


def _posthoc_section(res: StatsResult) -> list[str]:
    d = res.design
    lines = ["## Critical difference diagram", "", "![CD diagram](cd_diagram.png)", ""]
    if res.overall is not None:
        bars = "; ".join(", ".join(g) for g in res.cd_groups) or "none (every pair differs)"
        lines += [
            f"Nemenyi CD = {fmt(res.overall.cd)} at α = {res.alpha} (k = {d.k}, N = {d.n_blocks})."
            f" Treatments joined by a bar are not significantly different: {bars}.",
            "",
            "## Nemenyi post-hoc p-values",
            "",
            markdown_table(res.nemenyi, index=True),
            "",
        ]
    tested = (
        "log(a) − log(b), i.e. relative differences, comparable across datasets"
        if res.wilcoxon_scale == "log"
        else "raw differences a − b"
    )
    lines += [
        "## Pairwise Wilcoxon signed-rank tests, Holm-corrected",
        "",
        f"Tested over blocks on {tested}. `median_pct_diff` = median over blocks of "
        "100 · (a − b) / b (negative: arm_a has the lower error); `reject_holm` at family-wise "
        f"α = {res.alpha}.",
        "",
        markdown_table(res.wilcoxon),
        "",
    ]
    return lines


def _headline_section(res: StatsResult) -> list[str]:
    h = res.headline
    lines = [
        "## Headline figures (per-block % changes)",
        "",
        "Medians of per-block % changes, kept for comparison with earlier reports; the verdict "
        "reads the geometric-mean ratios and their intervals above.",
        "",
        *[f"- {n}" for n in h.notes],
    ]
    if not h.pct_summary.empty:
        lines += [
            "",
            "% change of synaptic vs each baseline per block, 100 · (synaptic − base) / base "
            "(negative = synaptic better):",
            "",
            markdown_table(h.pct_summary),
        ]
    if h.naive_summary is not None:
        name = h.naive_summary.columns[0]
        beat = h.naive_summary.loc[h.naive_summary.beats_naive_median, name]
        lines += [
            "",
            f"Ratio `{res.metric}` / `{res.naive}` per block (< 1 beats the naive persistence "
            "forecast):",
            "",
            markdown_table(h.naive_summary),
            "",
            f"Median ratio below 1: {', '.join(map(str, beat)) or 'none'}.",
        ]
    return [*lines, ""]


def _reference_words(naive: str | None, wide: pd.DataFrame) -> str:
    names = {
        naive or "": "naive persistence",
        "snaive_mae": "seasonal naive",
        "linear_mae": "ridge regression on the same window",
    }
    shown = [f"`{c}` ({w})" for c, w in names.items() if c and c in wide.columns]
    return f"; the reference forecasts in the last columns: {', '.join(shown)}" if shown else ""


def _cells_section(res: StatsResult) -> list[str]:
    if res.cells is None or res.cells.empty:
        return []
    blocks = list(res.design.blocks)
    wide = wide_cells(res.cells, blocks, res.naive)
    lines = [
        "## Results per block",
        "",
        f"`{res.metric}` per block and arm: mean over seeds ± half-width of the 95 % "
        f"Student-t interval (n seeds; no interval for one seed), in the dataset's units"
        + _reference_words(res.naive, wide)
        + ". All of it in cells.csv."
        + (" Intervals from only 2 seeds are marked “(2 seeds)”: their t quantile is 12.7, so "
           "they are rough." if (res.cells["n_seeds"] == 2).any() else ""),
        "",
        markdown_table(wide, max_rows=120),
        "",
    ]  # fmt: skip
    if res.sensitivity is not None and not res.sensitivity.empty:
        lines += [
            "## Sensitivity to the swept fields",
            "",
            "![sensitivity](sensitivity.png)",
            "",
            f"Each point: `{res.metric}` of the arm divided by that of `none` in the same block "
            "and seed (seed-paired ratio), averaged per seed over the blocks of the panel "
            "(seq_len, horizon), then mean and 95 % t-interval over seeds; below 1 the arm beats "
            "`none`. Numbers in sensitivity.csv.",
            "",
        ]
    return lines


def _selection_section(res: StatsResult) -> list[str]:
    s = res.selection
    if s is None:
        return []
    return [
        f"## Configuration selected per block (on {s.on})",
        "",
        f"For each block and family the arm with the lowest mean `{s.on}` over seeds (ties: "
        f"first label); the test metric played no part. Families are ranked on `{res.metric}`.",
        "",
        markdown_table(s.table, max_rows=200),
        "",
    ]


def _budget_section(res: StatsResult) -> list[str]:
    b = res.budget
    if b is None:
        note = res.answers.budget_note if res.answers is not None else None
        return ["## Equal tuning budget", "", f"{note[0].upper()}{note[1:]}.", ""] if note else []
    positions = b.table["position"].value_counts().sort_index()
    dist = pd.DataFrame(
        {"position of " + b.family: positions.index, "subsets": positions.to_numpy()}
    )
    return [
        "## Equal tuning budget",
        "",
        f"`{b.family}` was selected from {b.n_arms} arms per block, "
        f"{', '.join(f'`{f}`' for f in b.budget_of)} from {b.size}: the best of more "
        "configurations has a lower validation loss by chance alone, and part of that carries "
        f"to the test split. The family ranking again, with `{b.family}` limited to "
        f"{b.size} of its arms (every other family unchanged):",
        "",
        b.summary(res.alpha),
        "",
        markdown_table(dist),
        "",
        "Every subset with its average rank and Friedman p is in budget.csv.",
        "",
    ]


def _m4_section(res: StatsResult) -> list[str]:
    a = res.answers
    if a is None or (a.m4 is None and not a.m4_note):
        return []
    lines = ["## M4 scores", ""]
    if a.m4 is None:
        return [*lines, a.m4_note, ""]
    lines.append(
        "sMAPE (%) and MASE as the M4 competition computes them: per series over the 48 test "
        "points, here averaged over seeds (the expected score of one training run), then the "
        "mean over series; OWA = (sMAPE / sMAPE of Naive2 + MASE / MASE of Naive2) / 2 on the "
        "same series (< 1 beats Naive2). The references are computed from the M4 files on the "
        "same series; the published rows are the M4 results over all series. In m4.csv."
    )
    if a.m4_note:
        lines += ["", a.m4_note]
    order = {"this study": 0, "reference, same series": 1}
    shown = a.m4.assign(_o=a.m4["source"].map(order).fillna(2))
    shown = shown.sort_values(["_o", "owa"], kind="stable").drop(columns="_o")
    return [*lines, "", markdown_table(shown), ""]


def _failures_section(res: StatsResult) -> list[str]:
    f, d = res.failures, res.design
    lines = ["## Failed trials, dropped rows and incomplete blocks", ""]
    if f is not None:
        lines += [f"Failed trials ({len(f.failed)}):", ""]
        lines += [markdown_table(f.failed, max_rows=200) if len(f.failed) else "None.", ""]
        lines += [f"Wholly failed blocks, no usable trial ({len(f.failed_blocks)}):", ""]
        lines += [markdown_table(f.failed_blocks) if len(f.failed_blocks) else "None.", ""]
        lines += [f"Finished rows dropped for a missing or non-finite `{res.metric}` "
                  f"({len(f.nonfinite)}):", ""]  # fmt: skip
        lines += [markdown_table(f.nonfinite, max_rows=200) if len(f.nonfinite) else "None.", ""]
    lines += [f"Incomplete blocks dropped from the ranking ({len(d.dropped)}):", ""]
    lines += [markdown_table(d.dropped, max_rows=200) if len(d.dropped) else "None.", ""]
    return lines


def render_markdown(
    res: StatsResult,
    *,
    source: str,
    commands: Sequence[str],
    load_notes: Sequence[str],
    n_read: int,
    versions: dict[str, str],
) -> str:
    """The report as markdown text."""
    d = res.design
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seeds = d.n_seeds.to_numpy()
    treat = "regularizer families (selected arm per block)" if res.selection else "arms"
    from synprune.stats.verdict import (
        dm_section,
        effects_section,
        primary_section,
        references_section,
        title_line,
        verdict_block,
    )

    lines = [
        title_line(res),
        "",
        *verdict_block(res),
        f"Source: {source}. Generated {now} with "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ".",
        "",
        "## Ranking",
        "",
        "Lower average rank is better; tied treatments share a position.",
        "",
        markdown_table(res.ranking),
        "",
        *primary_section(res),
        *effects_section(res),
        *dm_section(res),
        *references_section(res),
        *_m4_section(res),
        *_selection_section(res),
        *_budget_section(res),
        *_friedman_section(res),
        *_posthoc_section(res),
        *_cells_section(res),
        *_headline_section(res),
        *_failures_section(res),
        "## Design",
        "",
        f"- Trials read (before de-duplication): {n_read}; rows in complete blocks: "
        f"{int(seeds.sum())}.",
        f"- Blocks = {' × '.join(d.blocks)}; treatments = {treat} "
        f"({', '.join(map(str, d.matrix.columns))}); each cell = {res.aggregate} of "
        f"`{res.metric}` over seeds (seeds are never blocks); lower is better (rank 1).",
        f"- Complete blocks N = {d.n_blocks}, k = {d.k}; incomplete blocks dropped: "
        f"{len(d.dropped)}.",
        f"- Seeds per cell: {int(seeds.min())}–{int(seeds.max())}.",
        *[f"- Note: {n}" for n in (*load_notes, *res.notes)],
        "",
        "## Reproduce",
        "",
        "```sh",
        *commands,
        "```",
        "",
        "## Method and references",
        "",
        "Friedman χ²_F (scipy, tie-corrected) and Iman–Davenport "
        "F_F = (N−1)χ²_F / (N(k−1) − χ²_F); Nemenyi post-hoc (scikit-posthocs) with "
        "CD = q_α·sqrt(k(k+1)/(6N)), q_α = studentized range quantile / √2; Wilcoxon "
        "signed-rank (scipy, zero differences split) with Holm's step-down correction; 95 % "
        "intervals over seeds are Student-t intervals.",
        "",
        *REFERENCES,
        "",
    ]
    return "\n".join(lines)
