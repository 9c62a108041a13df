"""Write the stats stage's files: CSV tables, the CD diagram, the sensitivity figure, report.md.

File names (DESIGN.md, public): ranking.csv, friedman.csv, nemenyi.csv, wilcoxon_holm.csv,
cd_diagram.png, report.md. Also written: headline_blocks.csv (per-block % changes and naive
ratios), cells.csv (mean ± 95 % CI per block and arm), failures.csv (failed trials and dropped
rows), trials.csv (the long-format rows analysed, so the report can be reproduced with
``--from-csv`` even after the experiment changes); selection.csv and budget.csv (the best
family at an equal tuning budget, :mod:`synprune.stats.budget`) with ``--select-on``;
effects.csv (geometric-mean ratios with bootstrap intervals), primary.csv (the primary
comparison), references.csv (blocks beating each reference forecast), dm.csv (per-block
Diebold–Mariano tests) and predictions.csv.gz (the per-window predictions analysed, frozen
beside trials.csv so ``--from-csv`` reruns them) when there is something to put in them;
sensitivity.png / sensitivity.csv when arms sweep a field; and the manifest
(:mod:`synprune.stats.outdir`). Files the manifest does not list are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.stats import outdir
from synprune.stats.analysis import StatsResult
from synprune.stats.plots import cd_diagram
from synprune.stats.report_md import render_markdown
from synprune.stats.summary import fmt, markdown_table

OUTPUT_FILES = (
    "ranking.csv",
    "friedman.csv",
    "nemenyi.csv",
    "wilcoxon_holm.csv",
    "cd_diagram.png",
    "report.md",
)
EXTRA_FILES = ("headline_blocks.csv", "cells.csv", "failures.csv", "trials.csv")
PREDICTIONS = "predictions.csv.gz"
__all__ = ["OUTPUT_FILES", "fmt", "markdown_table", "planned_files", "write_outputs"]


def planned_files(res: StatsResult, with_predictions: bool = False) -> list[str]:
    """Every file :func:`write_outputs` will write for ``res`` (the manifest aside)."""
    names = [*OUTPUT_FILES, *EXTRA_FILES]
    if res.selection is not None:
        names.append("selection.csv")
    if res.budget is not None:
        names.append("budget.csv")
    if res.sensitivity is not None and not res.sensitivity.empty:
        names += ["sensitivity.png", "sensitivity.csv"]
    a = res.answers
    if a is not None:
        names += ["effects.csv"] if a.effects is not None else []
        names += ["primary.csv"] if a.primary is not None else []
        names += ["references.csv"] if a.references is not None else []
        names += ["dm.csv"] if a.dm is not None else []
        names += ["m4.csv"] if a.m4 is not None else []
    if with_predictions:
        names.append(PREDICTIONS)
    return names


def headline_blocks(res: StatsResult) -> pd.DataFrame:
    """Per-block % change columns and ``ratio_<arm>`` naive-ratio columns side by side."""
    h = res.headline
    parts = [h.pct_change.add_prefix("pct_")]
    if h.naive_ratio is not None:
        parts.append(h.naive_ratio.add_prefix("ratio_"))
    return pd.concat(parts, axis=1) if any(p.shape[1] for p in parts) else pd.DataFrame()


def failures_table(res: StatsResult) -> pd.DataFrame:
    """Failed trials and finished rows with a non-finite metric, one row each, with a kind."""
    f = res.failures
    if f is None:
        return pd.DataFrame(columns=["kind"])
    failed = f.failed.assign(kind="failed")
    dropped = f.nonfinite.assign(kind=f"non-finite {res.metric}")
    both = pd.concat([failed, dropped], ignore_index=True)
    return both[["kind", *[c for c in both.columns if c != "kind"]]]


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
    force: bool = False,
    plan: outdir.OutputPlan | None = None,
    predictions: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every output file into ``out_dir`` (created) and the manifest; returns the paths.

    Refuses (ConfigError, before writing anything) to overwrite a file this tool did not
    write, unless ``force`` (see :mod:`synprune.stats.outdir`).
    """
    from synprune.stats.plots_sensitivity import sensitivity_figure

    out = Path(out_dir)
    with_preds = predictions is not None and not predictions.empty
    plan = plan or outdir.plan(out, planned_files(res, with_preds), force=force)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def csv(name: str, df: pd.DataFrame, index: bool = False, exact: bool = False) -> None:
        # tables for reading: 10 significant digits; the frozen input rows: full precision,
        # so that --from-csv on them reproduces every table to the last digit
        df.to_csv(out / name, index=index, float_format=None if exact else "%.10g")
        paths.append(out / name)

    csv("ranking.csv", res.ranking)
    csv("friedman.csv", res.friedman)
    nem = res.nemenyi
    if nem is None:  # k = 2: no Nemenyi; keep the file with NaNs
        arms = [str(c) for c in res.design.matrix.columns]
        nem = pd.DataFrame(np.nan, index=arms, columns=arms)
    nem = nem.copy()
    nem.index.name = res.treatment
    csv("nemenyi.csv", nem, index=True)
    csv("wilcoxon_holm.csv", res.wilcoxon)
    csv("headline_blocks.csv", headline_blocks(res), index=True)
    csv("cells.csv", res.cells if res.cells is not None else pd.DataFrame())
    csv("failures.csv", failures_table(res))
    csv("trials.csv", rows, exact=True)
    if res.selection is not None:
        csv("selection.csv", res.selection.table)
    if res.budget is not None:
        csv("budget.csv", res.budget.table)
    a = res.answers
    if a is not None:
        if a.effects is not None:
            csv("effects.csv", a.effects)
        if a.primary is not None:
            csv("primary.csv", a.primary.table())
        if a.references is not None:
            csv("references.csv", a.references)
        if a.dm is not None:
            csv("dm.csv", a.dm)
        if a.m4 is not None:
            csv("m4.csv", a.m4)
    if predictions is not None and with_preds:
        # full precision; gzip with mtime 0 so identical rows give identical bytes
        predictions.to_csv(
            out / PREDICTIONS, index=False, compression={"method": "gzip", "mtime": 0}
        )
        paths.append(out / PREDICTIONS)
    title = f"{res.metric}: N = {res.design.n_blocks} blocks, k = {res.design.k}, α = {res.alpha}"
    if res.overall is None:
        title += " (k = 2: no Nemenyi CD)"
    cd = res.overall.cd if res.overall is not None else None
    paths.append(cd_diagram(res.avg_ranks, cd, res.cd_groups, out / "cd_diagram.png", title=title))
    if res.sensitivity is not None and not res.sensitivity.empty:
        csv("sensitivity.csv", res.sensitivity)
        paths.append(
            sensitivity_figure(res.sensitivity, out / "sensitivity.png", metric=res.metric)
        )
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
    outdir.record(plan, paths)
    return paths
