"""Write the stats stage's files: CSV tables, the CD diagram and report.md.

File names (DESIGN.md, public): ranking.csv, friedman.csv, nemenyi.csv, wilcoxon_holm.csv,
cd_diagram.png, report.md. Also written: headline_blocks.csv (per-block % changes and naive
ratios) and trials.csv (the long-format rows analysed, so the report can be reproduced with
``--from-csv`` even after the experiment changes). Other files in the folder are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.stats.analysis import StatsResult
from synprune.stats.plots import cd_diagram

OUTPUT_FILES = (
    "ranking.csv",
    "friedman.csv",
    "nemenyi.csv",
    "wilcoxon_holm.csv",
    "cd_diagram.png",
    "report.md",
)
EXTRA_FILES = ("headline_blocks.csv", "trials.csv")


def fmt(v: object, digits: int = 4) -> str:
    """Compact cell text: p-values and small numbers in scientific notation, NaN as '–'."""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return "–"
        if math.isinf(f):
            return "∞" if f > 0 else "−∞"
        if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
            return f"{f:.3g}"
        return f"{f:.{digits}g}" if abs(f) < 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".")
    return str(v).replace("|", "\\|")


def markdown_table(df: pd.DataFrame, index: bool = False, max_rows: int | None = None) -> str:
    """A GitHub-flavoured markdown table (no external dependency)."""
    if index:
        df = df.reset_index()
    shown = df if max_rows is None else df.head(max_rows)
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    more = [f"\n… {len(df) - len(shown)} more rows in the CSV."] if len(shown) < len(df) else []
    return "\n".join([head, sep, *body, *more])


def _verdict(res: StatsResult) -> str:
    o = res.overall
    if o is None:
        return "Friedman does not apply (k = 2); see the Wilcoxon signed-rank test."
    if not np.isfinite(o.p_f):
        return f"Friedman test not computable: {o.note}."
    sig = "rejected" if o.p_f <= res.alpha else "not rejected"
    return (
        f"Over N = {o.n_blocks} blocks and k = {o.k} regularizers: Friedman χ²_F = {fmt(o.chi2)} "
        f"(p = {fmt(o.p_chi2)}), Iman–Davenport F_F = {fmt(o.f_stat)} with ({o.df1}, {o.df2}) df "
        f"(p = {fmt(o.p_f)}). The null hypothesis that all regularizers are equivalent is "
        f"**{sig}** at α = {res.alpha}."
    )


def render_markdown(
    res: StatsResult,
    *,
    source: str,
    commands: Sequence[str],
    load_notes: Sequence[str],
    n_read: int,
    versions: dict[str, str],
) -> str:
    """The report as markdown text (tables, CD diagram, dropped blocks, headline, commands)."""
    d, h = res.design, res.headline
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# synprune stats: {res.metric}",
        "",
        f"Source: {source}. Generated {now} with "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ".",
        "",
        "## Reproduce",
        "",
        "```sh",
        *commands,
        "```",
        "",
        "## Design",
        "",
        f"- Trials read (finished, before de-duplication): {n_read}; "
        f"rows in complete blocks: {int(d.n_seeds.to_numpy().sum())}.",
        f"- Blocks = {' × '.join(d.blocks)}; treatments = regularizers "
        f"({', '.join(map(str, d.matrix.columns))}); each cell = {res.aggregate} of `{res.metric}` "
        f"over seeds (seeds are never blocks); lower is better (rank 1).",
        f"- Complete blocks N = {d.n_blocks}, arms k = {d.k}; incomplete blocks dropped: "
        f"{len(d.dropped)}.",
        f"- Seeds per cell: {int(d.n_seeds.to_numpy().min())}–{int(d.n_seeds.to_numpy().max())}.",
        *[f"- Note: {n}" for n in (*load_notes, *res.notes)],
        "",
        "## Ranking",
        "",
        markdown_table(res.ranking),
        "",
        "## Friedman and Iman–Davenport tests",
        "",
        _verdict(res),
        "",
        markdown_table(res.friedman),
        "",
    ]
    lines += ["## Critical difference diagram", "", "![CD diagram](cd_diagram.png)", ""]
    if res.overall is not None:
        bars = "; ".join(", ".join(g) for g in res.cd_groups) or "none (all pairs differ)"
        lines += [
            f"Nemenyi CD = {fmt(res.overall.cd)} at α = {res.alpha} (k = {d.k}, N = {d.n_blocks}). "
            f"Methods joined by a bar are not significantly different: {bars}.",
            "",
            "## Nemenyi post-hoc p-values",
            "",
            markdown_table(res.nemenyi, index=True),
            "",
        ]
    lines += [
        "## Pairwise Wilcoxon signed-rank tests, Holm-corrected",
        "",
        "`median_diff` = median over blocks of arm_a − arm_b (negative: arm_a has the lower "
        f"error); `reject_holm` at family-wise α = {res.alpha}.",
        "",
        markdown_table(res.wilcoxon),
        "",
        "## Headline figures",
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
        lines += [
            "",
            f"Ratio `{res.metric}` / `naive_mae` per block (< 1 beats the naive persistence "
            "forecast):",
            "",
            markdown_table(h.naive_summary),
            "",
            "Arms whose median ratio beats naive: "
            + (", ".join(h.naive_summary.loc[h.naive_summary.beats_naive_median, "regularizer"])
               or "none")
            + ".",
        ]  # fmt: skip
    per_block = headline_blocks(res)
    if not per_block.empty:
        lines += [
            "",
            "<details><summary>Per block (also in headline_blocks.csv)</summary>",
            "",
            markdown_table(per_block, index=True, max_rows=200),
            "",
            "</details>",
        ]
    lines += ["", "## Dropped (incomplete) blocks", ""]
    lines += [markdown_table(d.dropped, max_rows=200)] if len(d.dropped) else ["None."]
    lines += [
        "",
        "## Method and references",
        "",
        "Friedman χ²_F (scipy, tie-corrected) and Iman–Davenport "
        "F_F = (N−1)χ²_F / (N(k−1) − χ²_F); "
        "Nemenyi post-hoc (scikit-posthocs) with CD = q_α·sqrt(k(k+1)/(6N)), q_α = studentized "
        "range quantile / √2; Wilcoxon signed-rank (scipy, zero differences split) with Holm's "
        "step-down correction.",
        "",
        "- J. Demšar (2006). Statistical comparisons of classifiers over multiple data sets. "
        "JMLR 7:1–30.",
        "- S. Holm (1979). A simple sequentially rejective multiple test procedure. "
        "Scand. J. Statist. 6:65–70.",
        "- R. L. Iman, J. M. Davenport (1980). Approximations of the critical region of the "
        "Friedman statistic. Comm. Statist. A 9:571–595.",
        "",
    ]
    return "\n".join(lines)


def headline_blocks(res: StatsResult) -> pd.DataFrame:
    """Per-block % change columns and ``ratio_<arm>`` naive-ratio columns side by side."""
    h = res.headline
    parts = [h.pct_change.add_prefix("pct_")]
    if h.naive_ratio is not None:
        parts.append(h.naive_ratio.add_prefix("ratio_"))
    return pd.concat(parts, axis=1) if any(p.shape[1] for p in parts) else pd.DataFrame()


def write_outputs(
    res: StatsResult,
    out_dir: str | Path,
    *,
    rows: pd.DataFrame,
    source: str,
    commands: Sequence[str],
    load_notes: Sequence[str] = (),
    n_read: int = 0,
    versions: dict[str, str] | None = None,
) -> list[Path]:
    """Write every output file into ``out_dir`` (created); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def csv(name: str, df: pd.DataFrame, index: bool = False) -> None:
        df.to_csv(out / name, index=index, float_format="%.10g")
        paths.append(out / name)

    csv("ranking.csv", res.ranking)
    csv("friedman.csv", res.friedman)
    nem = res.nemenyi
    if nem is None:  # k = 2: no Nemenyi; keep the file with the reason
        arms = [str(c) for c in res.design.matrix.columns]
        nem = pd.DataFrame(np.nan, index=pd.Index(arms, name="regularizer"), columns=arms)
    csv("nemenyi.csv", nem, index=True)
    csv("wilcoxon_holm.csv", res.wilcoxon)
    csv("headline_blocks.csv", headline_blocks(res), index=True)
    csv("trials.csv", rows)
    title = f"{res.metric}: N = {res.design.n_blocks} blocks, k = {res.design.k}, α = {res.alpha}"
    if res.overall is None:
        title += " (k = 2: no Nemenyi CD)"
    cd = res.overall.cd if res.overall is not None else None
    paths.append(cd_diagram(res.avg_ranks, cd, res.cd_groups, out / "cd_diagram.png", title=title))
    text = render_markdown(
        res,
        source=source,
        commands=commands,
        load_notes=load_notes,
        n_read=n_read,
        versions=versions or {},
    )
    (out / "report.md").write_text(text, encoding="utf-8")
    paths.append(out / "report.md")
    return paths
