"""Per-dataset verdicts for the primary pair: Diebold–Mariano tests on test-window losses.

For each block (dataset × model × seq_len × horizon) the test windows of a and b are compared
window by window. Seeds are pooled by averaging the predictions of all seeds per (window,
step) first (the seed ensemble's forecast; the target is the same for every seed); the loss of
a window is the absolute error averaged over its horizon steps, and the loss differential is
d_t = loss_a,t − loss_b,t (negative: a closer to the target). The Diebold–Mariano (1995)
statistic is the mean of d over its Newey–West (1987, Bartlett kernel) standard error, with
the Harvey, Leybourne & Newbold (1997, Int. J. Forecasting 13:281-291) small-sample correction
and Student-t reference (T − 1 df): ``statsmodels.tsa.stattools.diebold_mariano_test(...,
harvey_adj=True, horizon=h)``, whose default bandwidth max(h − 1, ⌈T^(1/3)⌉) covers the h − 1
lags that overlapping h-step windows induce. The loss is passed as a callable criterion that
returns the precomputed window losses.

Input: predictions in long format, one row per (trial, window, step) with the trial's block,
arm, seed and ``target, prediction`` (see :data:`PRED_COLUMNS`). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synprune.stats.ranking import DEFAULT_BLOCKS
from synprune.stats.refs import dataset_group

PRED_KEY = ("dataset", "model", "seq_len", "horizon", "arm", "seed")
PRED_VALUES = ("window", "step", "target", "prediction", "naive")
PRED_COLUMNS = (*PRED_KEY, "regularizer", "spec_id", *PRED_VALUES)
DM_COLUMNS = (
    *DEFAULT_BLOCKS,
    "arm_a",
    "arm_b",
    "windows",
    "seeds_a",
    "seeds_b",
    "mae_a",
    "mae_b",
    "pct_diff",
    "dm_stat",
    "p_value",
    "lags",
)


def window_losses(preds: pd.DataFrame) -> tuple[pd.Series, int]:
    """(loss per window, number of seeds) of one arm's predictions in one block: predictions
    averaged over seeds per (window, step), absolute error, mean over steps."""
    pooled = preds.groupby(["window", "step"], sort=True)[["target", "prediction"]].mean()
    err = (pooled["target"] - pooled["prediction"]).abs()
    return err.groupby(level="window", sort=True).mean(), int(preds["seed"].nunique())


def dm_test(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int = 1) -> tuple[float, float, int]:
    """(HLN-corrected DM statistic, two-sided p, Newey–West lags) for per-window losses, via
    statsmodels. Identical losses give (0, 1); fewer than 3 windows give NaN."""
    from statsmodels.tsa.stattools import diebold_mariano_test

    la, lb = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if la.size < 3:
        return float("nan"), float("nan"), 0
    if np.all(la == lb):
        return 0.0, 1.0, 0
    res = diebold_mariano_test(
        np.zeros_like(la),
        la,
        lb,
        criterion=lambda _y, loss: loss,  # the forecasts passed are the window losses
        harvey_adj=True,
        horizon=max(1, int(horizon)),
    )
    return float(res.statistic), float(res.pvalue), int(res.lags)


def dm_table(
    preds: pd.DataFrame, arms: pd.DataFrame, blocks: Sequence[str], treatment: str = "arm"
) -> pd.DataFrame:
    """One DM test per fine block (dataset × model × seq_len × horizon) for the arms named in
    ``arms`` (columns: the design's ``blocks``, ``arm_a``, ``arm_b``; with selection, the arms
    selected per block). ``treatment``: the predictions' column the arm names match."""
    blocks = list(blocks)
    fine = [c for c in DEFAULT_BLOCKS if c in preds.columns]
    p = preds.merge(arms, on=blocks, how="inner")
    out = []
    for key, g in p.groupby(fine, sort=True):  # one iteration per block
        arm_a, arm_b = str(g["arm_a"].iloc[0]), str(g["arm_b"].iloc[0])
        ga, gb = g[g[treatment] == arm_a], g[g[treatment] == arm_b]
        if ga.empty or gb.empty:
            continue
        la, na = window_losses(ga)
        lb, nb = window_losses(gb)
        both = la.index.intersection(lb.index)
        la, lb = la.loc[both], lb.loc[both]
        h = int(g["horizon"].iloc[0]) if "horizon" in g.columns else 1
        stat, pval, lags = dm_test(la.to_numpy(), lb.to_numpy(), h)
        mae_a, mae_b = float(la.mean()), float(lb.mean())
        out.append(
            {
                **dict(zip(fine, key if isinstance(key, tuple) else (key,))),
                "arm_a": arm_a,
                "arm_b": arm_b,
                "windows": len(both),
                "seeds_a": na,
                "seeds_b": nb,
                "mae_a": mae_a,
                "mae_b": mae_b,
                "pct_diff": 100.0 * (mae_a / mae_b - 1.0) if mae_b else float("nan"),
                "dm_stat": stat,
                "p_value": pval,
                "lags": lags,
            }
        )
    cols = [c for c in DM_COLUMNS if c in fine or c not in DEFAULT_BLOCKS]
    return pd.DataFrame(out, columns=cols)


def dataset_lines(table: pd.DataFrame, a: str, b: str, alpha: float = 0.05) -> list[str]:
    """One plain-words line per dataset from :func:`dm_table`'s rows (the series of a
    collection, ``m4_hourly:H12``, on one line: ``refs.dataset_group``)."""
    lines = []
    groups = table["dataset"].astype(str).map(dataset_group)
    for ds, g in table.groupby(groups, sort=True):
        m = len(g)
        lower = int((g["mae_a"] < g["mae_b"]).sum())
        sig = g["p_value"] <= alpha
        sig_a = int((sig & (g["dm_stat"] < 0)).sum())
        sig_b = int((sig & (g["dm_stat"] > 0)).sum())
        if sig_a or sig_b:
            parts = [f"for `{a}` in {sig_a}"] if sig_a else []
            parts += [f"for `{b}` in {sig_b}"] if sig_b else []
            sig_text = "significant " + " and ".join(parts) + f" of {m}"
        else:
            sig_text = f"significant in none of the {m}"
        lines.append(
            f"{ds}: `{a}` has the lower test MAE (seed-averaged forecasts) in {lower} of {m} "
            f"block(s), median difference {float(g['pct_diff'].median()):+.2f} %; the "
            f"Diebold–Mariano test (HLN-corrected, p ≤ {alpha}, uncorrected for the {m} tests) "
            f"is {sig_text}."
        )
    return lines
