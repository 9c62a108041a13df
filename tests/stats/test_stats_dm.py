"""Diebold–Mariano tests on per-window losses: against statsmodels and against an independent
computation of the Newey–West variance and the Harvey–Leybourne–Newbold correction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from synprune.stats.dm import dataset_lines, dm_table, dm_test, window_losses


def hln_by_hand(d: np.ndarray, lags: int, h: int) -> tuple[float, float]:
    """DM = mean(d) / sqrt(LRV / T), LRV = γ0 + 2 Σ_k (1 − k/(L+1)) γk (Newey & West 1987,
    Bartlett weights; γk = Σ_t (d_t − d̄)(d_{t−k} − d̄) / T), times the HLN (1997) factor
    sqrt((T + 1 − 2h + h(h − 1)/T) / T), p from Student t with T − 1 df."""
    t = d.size
    e = d - d.mean()
    lrv = e @ e / t
    for k in range(1, lags + 1):
        lrv += 2 * (1 - k / (lags + 1)) * (e[k:] @ e[:-k]) / t
    stat = d.mean() / math.sqrt(lrv / t)
    stat *= math.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t)
    return stat, 2 * ss.t.sf(abs(stat), t - 1)


def test_dm_matches_statsmodels_and_the_closed_form() -> None:
    from statsmodels.tsa.stattools import diebold_mariano_test

    rng = np.random.default_rng(1)
    y = rng.normal(size=60).cumsum()
    fa = y + rng.normal(0, 1.0, 60)
    fb = y + rng.normal(0, 1.3, 60)
    la, lb = np.abs(y - fa), np.abs(y - fb)
    stat, p, lags = dm_test(la, lb, horizon=1)
    ref = diebold_mariano_test(y, fa, fb, criterion="mae", harvey_adj=True, horizon=1)
    assert (stat, p, lags) == pytest.approx((ref.statistic, ref.pvalue, ref.lags), rel=1e-10)
    assert lags == math.ceil(60 ** (1 / 3))  # statsmodels' default bandwidth
    hand = hln_by_hand(la - lb, lags, 1)
    assert (stat, p) == pytest.approx(hand, rel=1e-8)
    s3, p3, l3 = dm_test(la, lb, horizon=3)
    assert (s3, p3) == pytest.approx(hln_by_hand(la - lb, l3, 3), rel=1e-8)
    assert dm_test(la, la) == (0.0, 1.0, 0) and math.isnan(dm_test(la[:2], lb[:2])[0])


def preds_frame() -> pd.DataFrame:
    """Two arms, two seeds, 8 windows of 2 steps in one block (dataset x, lstm, 7, 2)."""
    rng = np.random.default_rng(2)
    rows = []
    target = rng.normal(10, 1, (8, 2))
    for arm, noise in (("a", 0.2), ("b", 0.6)):
        for seed in ("0", "1"):
            pred = target + rng.normal(0, noise, target.shape)
            for w in range(8):
                for s in range(2):
                    rows.append(("x", "lstm", 7, 2, arm, seed, w, s, target[w, s], pred[w, s]))
    cols = ["dataset", "model", "seq_len", "horizon", "arm", "seed", "window", "step"]
    return pd.DataFrame(rows, columns=[*cols, "target", "prediction"])


def test_window_losses_average_seed_predictions_first() -> None:
    p = preds_frame()
    a = p[p["arm"] == "a"]
    loss, n = window_losses(a)
    w0 = a[a["window"] == 0]
    ens = w0.groupby("step")["prediction"].mean()
    tgt = w0.groupby("step")["target"].first()
    assert n == 2 and loss.loc[0] == pytest.approx(float(np.mean(np.abs(tgt - ens))))


def test_dm_table_and_dataset_line() -> None:
    p = preds_frame()
    arms = pd.DataFrame({"dataset": ["x"], "arm_a": ["a"], "arm_b": ["b"]})
    t = dm_table(p, arms, ["dataset"])
    assert len(t) == 1
    r = t.iloc[0]
    la, _ = window_losses(p[p["arm"] == "a"])
    lb, _ = window_losses(p[p["arm"] == "b"])
    assert (r["dm_stat"], r["p_value"]) == pytest.approx(dm_test(la, lb, 2)[:2])
    assert r["windows"] == 8 and r["mae_a"] == pytest.approx(la.mean()) and r["dm_stat"] < 0
    line = dataset_lines(t, "a", "b")[0]
    assert line.startswith("x: `a` has the lower test MAE (seed-averaged forecasts) in 1 of 1")
