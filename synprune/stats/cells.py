"""Per-cell summaries over seeds: the paper's table and the data of the sensitivity figure.

* :func:`cell_table`: for each block and arm, the mean of the metric over seeds with a 95 %
  Student-t confidence interval, mean ± t_{0.975, n−1} · s / √n (s the sample standard
  deviation, n the seeds; no interval for n = 1; Student 1908, "The probable error of a mean",
  Biometrika 6:1-25), and the naive forecast's value beside it.
* :func:`sensitivity_data`: the metric of each swept arm relative to the arm ``none`` of the
  same block, paired by seed (ratio_s = arm_s / none_s), averaged per seed over the blocks of a
  (dataset, model) panel (e.g. over seq_len), then mean and 95 % t-interval over seeds.

Ratios are unit-free, so averaging them over blocks is meaningful where averaging raw errors
across datasets measured in different units is not. Pure functions; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as ss

from synprune.stats.arms import as_number, parse_arm, swept_fields

BASELINE = "none"
FINE_BLOCKS = ("dataset", "model", "seq_len", "horizon")
LEVEL = 0.95


def t_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, half-width, n) of the Student-t interval; half-width NaN when n < 2."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    mean = float(v.mean())
    if n < 2:
        return mean, float("nan"), n
    half = float(ss.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return mean, half, n


def _summarise(df: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Vectorised t-intervals of ``value`` per ``keys`` group."""
    g = df.groupby(keys, sort=True, observed=True)[value]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    tq = ss.t.ppf(0.5 + LEVEL / 2, np.maximum(out["n"].to_numpy() - 1, 1))
    half = tq * out["sd"].to_numpy() / np.sqrt(out["n"].to_numpy())
    out["ci95"] = np.where(out["n"].to_numpy() >= 2, half, np.nan)
    return out.drop(columns="sd")


#: the other reference forecasts' MAE, shown beside a test_mae table (the naive one is
#: ``naive_column(metric)``)
MAE_REFERENCES = ("snaive_mae", "linear_mae")


def reference_columns(metric: str, naive: str | None) -> list[str]:
    """The references shown beside ``metric``: its naive counterpart, and for ``test_mae`` the
    seasonal-naive and linear MAE."""
    return [*([naive] if naive else []), *(MAE_REFERENCES if metric == "test_mae" else ())]


def cell_table(
    rows: pd.DataFrame, metric: str, blocks: Sequence[str], naive: str | None
) -> pd.DataFrame:
    """Long table: blocks..., arm, n_seeds, mean, ci95 (half-width), then each reference's
    mean per block (:func:`reference_columns`, those the rows carry)."""
    blocks = list(blocks)
    ok = rows[np.isfinite(rows[metric].to_numpy(dtype=float))]
    out = _summarise(ok, [*blocks, "arm"], metric).rename(columns={"n": "n_seeds"})
    out = out[[*blocks, "arm", "n_seeds", "mean", "ci95"]]
    for ref in reference_columns(metric, naive):
        if ref not in rows.columns:
            continue
        nv = rows[np.isfinite(rows[ref].to_numpy(dtype=float))]
        if nv.empty:
            continue
        per_block = nv.groupby(blocks, sort=True, observed=True)[ref].mean().rename(ref)
        out = out.merge(per_block.reset_index(), on=blocks, how="left")
    return out


def _decimals(value: float, significant: int) -> int:
    if value == 0 or not np.isfinite(value):
        return significant - 1
    return int(min(12, max(0, significant - 1 - math.floor(math.log10(abs(value))))))


def mean_ci(mean: float, half: float, significant: int = 4) -> str:
    """``2061 ± 573``, ``0.4183 ± 0.0180``: the mean to ``significant`` digits in fixed
    notation and the half-width to the same decimals (to one significant digit where those
    decimals would show 0), so a column compares at a glance; ``–`` for no value."""
    if not np.isfinite(mean):
        return "–"
    d = _decimals(mean, significant)
    text = f"{mean:.{d}f}"
    if np.isfinite(half):
        hd = d if half == 0 or round(half, d) != 0 else _decimals(half, 1)
        text += f" ± {half:.{hd}f}"
    return text


def wide_cells(cells: pd.DataFrame, blocks: Sequence[str], naive: str | None) -> pd.DataFrame:
    """The paper's shape: one row per block, one column per arm with "mean ± ci"; the
    references last (naive, then seasonal naive and linear where present)."""

    blocks = list(blocks)
    few = " (2 seeds)"  # a t interval from two seeds (t = 12.7): labelled, not read as precise
    labels = cells.assign(
        cell=[
            mean_ci(m, h) + (few if n == 2 and np.isfinite(h) else "")
            for m, h, n in zip(cells["mean"], cells["ci95"], cells["n_seeds"])
        ]
    )
    wide = labels.pivot_table(index=blocks, columns="arm", values="cell", aggfunc="first")
    wide.columns.name = None
    for ref in [naive, *MAE_REFERENCES]:
        if ref and ref in cells.columns:
            nv = cells.groupby(blocks, sort=True, observed=True)[ref].first()
            wide[ref] = [mean_ci(v, np.nan) for v in nv.reindex(wide.index)]
    return wide.reset_index()


def sensitivity_data(rows: pd.DataFrame, metric: str, baseline: str = BASELINE) -> pd.DataFrame:
    """Seed-paired ratios to ``baseline`` for every arm of a family that sweeps a field.

    One row per (dataset, model, family, x field, arm): the arm's fields, ``x`` (the numeric
    value of the family's first swept numeric field), ``variant`` (its other fields, e.g.
    ``score=lamp``), mean ratio, ci95 half-width and n_seeds (pairs). Empty when no family
    sweeps a numeric field or there is no ``baseline`` arm.
    """
    cols = ["dataset", "model", "family", "field", "x", "variant", "arm", "mean", "ci95", "n"]
    empty = pd.DataFrame(columns=cols)
    if "arm" not in rows.columns or baseline not in set(rows["arm"]):
        return empty
    ok = rows[np.isfinite(rows[metric].to_numpy(dtype=float))]
    swept = swept_fields(ok["arm"].unique())
    xfield = {}
    for fam, fields in swept.items():
        labels = [a for a in ok["arm"].unique() if parse_arm(a).family == fam]
        numeric = [  # fields whose values are numbers wherever an arm sets them
            f
            for f in fields
            if all(as_number(v) is not None for a in labels if (v := parse_arm(a).get(f)))
        ]
        if numeric:
            xfield[fam] = numeric[0]
    if not xfield:
        return empty
    key = [c for c in FINE_BLOCKS if c in ok.columns] + ["seed"]  # pairs within the fine block
    base = ok[ok["arm"] == baseline].groupby(key, observed=True)[metric].mean().rename("base")
    arms = pd.DataFrame({"arm": ok["arm"].unique()})
    parsed = [parse_arm(a) for a in arms["arm"]]
    arms["family"] = [p.family for p in parsed]
    arms = arms[arms["family"].isin(xfield)].copy()
    arms["field"] = arms["family"].map(xfield)
    arms["x"] = [as_number(parse_arm(a).get(f)) for a, f in zip(arms["arm"], arms["field"])]
    arms["variant"] = [
        ",".join(f"{k}={v}" for k, v in parse_arm(a).fields if k != f) or ""
        for a, f in zip(arms["arm"], arms["field"])
    ]
    arms = arms[arms["x"].notna()]  # an arm of the family that does not set the x field
    cand = ok.merge(arms, on="arm", how="inner")
    cand = cand.groupby([*key, "arm"], observed=True)[metric].mean().reset_index()
    paired = cand.merge(base.reset_index(), on=key, how="inner")
    with np.errstate(all="ignore"):
        paired["ratio"] = paired[metric] / paired["base"]
    paired = paired[np.isfinite(paired["ratio"].to_numpy(dtype=float))]
    panel = ["dataset", "model"]
    per_seed = paired.groupby([*panel, "arm", "seed"], observed=True)["ratio"].mean().reset_index()
    out = _summarise(per_seed, [*panel, "arm"], "ratio").merge(arms, on="arm")
    return (
        out[cols].sort_values(["family", "dataset", "model", "variant", "x"]).reset_index(drop=True)
    )
