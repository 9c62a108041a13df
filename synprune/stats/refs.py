"""Does anything beat the reference forecasts? Per dataset, counted in blocks (pure functions).

References (test MAE on the same windows, logged per trial): ``naive_mae`` (persistence,
"tomorrow = today"), ``snaive_mae`` (seasonal naive) and ``linear_mae`` (a linear
autoregression), the last two from newer runs only. A treatment beats a reference in a block
when its seed-averaged test MAE is below the reference's. The lines say "n of m blocks", never
a bare "beats naive", because a median below 1 can hide blocks that lose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

REFERENCES = {"naive_mae": "naive", "snaive_mae": "seasonal naive", "linear_mae": "linear"}


def dataset_group(dataset: str) -> str:
    """What the per-dataset lines count together: a collection's series (``m4_hourly:H12``)
    under the collection (``m4_hourly``), any other dataset on its own."""
    name, sep, rest = str(dataset).partition(":")
    return name if sep and rest and name.startswith("m4_") else str(dataset)


def reference_cells(
    rows: pd.DataFrame, blocks: Sequence[str], index: pd.Index, column: str
) -> pd.Series | None:
    """Mean of ``column`` per block (over that block's finite rows), aligned to ``index``;
    None when the rows have no finite value in it."""
    if column not in rows.columns:
        return None
    v = pd.to_numeric(rows[column], errors="coerce")
    ok = np.isfinite(v.to_numpy(dtype=float))
    if not ok.any():
        return None
    sub = rows.loc[ok, list(blocks)].assign(_v=v[ok])
    return sub.groupby(list(blocks), sort=True, observed=True)["_v"].mean().reindex(index)


def reference_table(
    mae: pd.DataFrame, refs: dict[str, pd.Series], group: str = "dataset"
) -> pd.DataFrame:
    """Per dataset (a collection of series counts as one: :func:`dataset_group`), reference and
    treatment: blocks with both values, blocks where the treatment's MAE (cells of ``mae``,
    rows = blocks) is below the reference, and the median ratio MAE / reference."""
    level = mae.index.get_level_values(group) if group in (mae.index.names or []) else None
    datasets = pd.Index(level if level is not None else ["all"] * len(mae)).astype(str)
    # the series of a collection (m4_hourly:H1, ...) are counted together, as one dataset
    datasets = pd.Index([dataset_group(d) for d in datasets])
    out = []
    for col, ref in refs.items():
        r = ref.reindex(mae.index).to_numpy(dtype=float)
        for t in mae.columns:
            x = mae[t].to_numpy(dtype=float)
            with np.errstate(all="ignore"):
                ratio = x / r
            for ds in sorted(set(datasets)):
                sel = (datasets == ds) & np.isfinite(ratio)
                if not sel.any():
                    continue
                out.append(
                    {
                        "dataset": ds,
                        "reference": col,
                        "treatment": str(t),
                        "blocks": int(sel.sum()),
                        "blocks_beating": int((ratio[sel] < 1.0).sum()),
                        "median_ratio": float(np.median(ratio[sel])),
                    }
                )
    cols = ["dataset", "reference", "treatment", "blocks", "blocks_beating", "median_ratio"]
    return pd.DataFrame(out, columns=cols)


def reference_lines(table: pd.DataFrame) -> list[str]:
    """One line per dataset: for each reference, who beats it in how many blocks."""
    lines = []
    for ds, g in table.groupby("dataset", sort=True):
        parts = []
        for col in REFERENCES:
            r = g[g["reference"] == col]
            if r.empty:
                continue
            name, m = REFERENCES[col], int(r["blocks"].max())
            r = r.sort_values(["blocks_beating", "median_ratio"], ascending=[False, True])
            top = r.iloc[0]
            n_all = int((r["blocks_beating"] == r["blocks"]).sum())
            if int(top["blocks_beating"]) == 0:
                parts.append(
                    f"nothing beats {name} in any of its {m} block(s) (closest: "
                    f"`{top['treatment']}`, median ratio {top['median_ratio']:.3f})"
                )
            elif n_all == len(r):
                parts.append(f"every treatment beats {name} in all {m} block(s)")
            else:
                parts.append(
                    f"`{top['treatment']}` beats {name} in {int(top['blocks_beating'])} of "
                    f"{int(top['blocks'])} block(s) (the most; median ratio "
                    f"{top['median_ratio']:.3f})"
                    + (f", {n_all} treatment(s) in all of them" if n_all else "")
                )
        if parts:
            lines.append(f"{ds}: " + "; ".join(parts) + ".")
    return lines
