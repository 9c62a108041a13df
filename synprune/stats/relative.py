"""Scale-free per-trial errors computed from the rows (pure functions, no I/O).

``rel_mae`` = a trial's test MAE divided by the test MAE of the ``none`` arm (no
regularization) in the same block (dataset × model × seq_len × horizon) and seed: the relative
error of the arm against the unregularized model trained on the same seed. < 1: the arm beats
``none`` on that seed. It is derived here, not logged by trials, so any store or CSV with
``test_mae`` and a ``none`` arm has it.

``mase`` and ``smape`` (M4 definitions, :mod:`synprune.references.metrics`) and the reference
forecasts' errors ``snaive_mae`` / ``linear_mae`` are logged per trial by newer runs; older
stores and CSVs lack them, and :func:`missing_metric_hint` says so in the error message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REL_MAE = "rel_mae"
#: derived metrics: name -> the logged metric they are computed from
DERIVED = {REL_MAE: "test_mae"}
REFERENCE_ARM = "none"
#: the block key (finest) and the seed: one ``none`` trial per (block, seed)
PAIR_KEY = ("dataset", "model", "seq_len", "horizon", "seed")
#: metrics logged only by trials of the turn-3 code (absent from older stores and CSVs)
NEWER_METRICS = ("mase", "smape", "snaive_mae", "linear_mae")


def source_metric(metric: str) -> str:
    """The metric to read from a store or CSV for ``metric`` (rel_mae -> test_mae)."""
    return DERIVED.get(metric, metric)


def rel_mae(
    rows: pd.DataFrame, column: str = "test_mae", reference: str = REFERENCE_ARM
) -> pd.Series:
    """``column`` / the ``reference`` arm's ``column`` in the same block and seed, per row.

    The reference is the row whose ``arm`` (else ``regularizer``) equals ``reference``; rows
    without a finished finite reference in their (block, seed) get NaN (they are then listed
    as dropped rows by the stats stage). The reference rows themselves get exactly 1.
    """
    treat = "arm" if "arm" in rows.columns else "regularizer"
    key = [c for c in PAIR_KEY if c in rows.columns]
    v = pd.to_numeric(rows[column], errors="coerce").astype(float)
    ok = np.isfinite(v.to_numpy()) & (rows[treat].astype(str) == reference).to_numpy()
    if "status" in rows.columns:
        ok &= (rows["status"].astype(str) == "finished").to_numpy()
    ref = rows.loc[ok, key].assign(_ref=v[ok])
    ref = ref.astype({c: str for c in key}).drop_duplicates(subset=key, keep="last")
    keys = rows[key].astype(str)
    merged = keys.merge(ref, on=key, how="left")
    denom = merged["_ref"].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        out = v.to_numpy() / denom
    out[~np.isfinite(out)] = np.nan
    return pd.Series(out, index=rows.index, name=REL_MAE)


def add_derived(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``rows`` with the derived ``metric`` column added (unchanged for a logged metric)."""
    if metric == REL_MAE and REL_MAE not in rows.columns:
        return rows.assign(**{REL_MAE: rel_mae(rows, DERIVED[REL_MAE])})
    return rows


def missing_metric_hint(metric: str) -> str:
    """A sentence to append to "no such metric" errors for metrics older runs did not log."""
    if metric in NEWER_METRICS:
        return (
            f" '{metric}' is logged per trial by synprune runs from the scale-free-metrics "
            "change on; this store/CSV predates it (use --metric test_mae, or --metric rel_mae, "
            "which is computed from test_mae and the 'none' arm)"
        )
    return ""
