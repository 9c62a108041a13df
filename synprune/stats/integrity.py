"""Checks on trial rows before any statistic: one configuration per cell, no negative errors,
and the failed / unusable trials the report must list (pure functions, no I/O).

* A cell (block × arm) averages its seeds. If it holds runs whose configuration differs beyond
  the seed (e.g. two sweeps with different ``train.epochs`` under the same arm tag), averaging
  them would pass two configurations off as seeds: :func:`check_cell_configs` refuses, naming
  both configurations and the fields that differ.
* Error metrics (MAE, RMSE, MSE, ...) cannot be negative: :func:`check_nonnegative` refuses the
  first negative value, naming its row.
* :func:`split_failures` separates finished rows with a finite metric from failed trials and
  from finished rows whose metric is missing or not finite, and finds wholly failed blocks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synprune.errors import DataError

#: spec fields that are not part of a configuration: the seed (what seeds vary) and where /
#: how fast a trial ran (device, thread count), which do not change what is trained
NON_CONFIG_FIELDS = ("seed", "train.device", "train.num_threads")
CONFIG_ID = "config_id"
FINISHED = "finished"
_ERROR_METRIC = re.compile(r"(^|[_.])(mae|rmse|mse|mape|smape)$", re.IGNORECASE)


def is_error_metric(name: str) -> bool:
    """True for metric names ending in mae, rmse, mse, mape, smape (never negative)."""
    return bool(_ERROR_METRIC.search(name))


def config_fingerprint(params: Mapping[str, object]) -> str:
    """12 hex digits of sha256 over the sorted ``key=value`` lines, seed etc. left out."""
    lines = sorted(f"{k}={v}" for k, v in params.items() if k not in NON_CONFIG_FIELDS)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def describe_difference(a: Mapping[str, object], b: Mapping[str, object], limit: int = 4) -> str:
    """``train.epochs=20 vs 50; model.params.hidden_size=64 vs 32`` (first ``limit`` keys)."""
    keys = sorted(k for k in set(a) | set(b) if k not in NON_CONFIG_FIELDS)
    diff = [k for k in keys if str(a.get(k, "<unset>")) != str(b.get(k, "<unset>"))]
    shown = "; ".join(f"{k}={a.get(k, '<unset>')} vs {b.get(k, '<unset>')}" for k in diff[:limit])
    return shown + (f"; and {len(diff) - limit} more" if len(diff) > limit else "")


def check_cell_configs(
    rows: pd.DataFrame,
    cell: Sequence[str],
    configs: Mapping[str, Mapping[str, object]] | None = None,
    *,
    source: str = "",
    ref_column: str | None = None,
) -> None:
    """Raise DataError if any cell (the ``cell`` columns, e.g. block × arm) holds rows of more
    than one ``config_id``; the message names the cell, both configurations (with a run id or
    line from ``ref_column`` when given) and, when ``configs`` describes them, what differs."""
    if CONFIG_ID not in rows.columns or rows.empty:
        return
    counts = rows.groupby(list(cell), sort=True, observed=True)[CONFIG_ID].nunique()
    bad = counts[counts > 1]
    if bad.empty:
        return
    key = bad.index[0] if isinstance(bad.index[0], tuple) else (bad.index[0],)
    mask = np.logical_and.reduce([rows[c].astype(str) == str(v) for c, v in zip(cell, key)])
    sub = rows[mask]
    ids = list(dict.fromkeys(sub[CONFIG_ID].astype(str)))
    a, b = ids[0], ids[1]

    def ref(cid: str) -> str:
        if ref_column and ref_column in sub.columns:
            return f" ({sub.loc[sub[CONFIG_ID] == cid, ref_column].astype(str).iloc[0]})"
        return ""

    where = " ".join(f"{c}={v}" for c, v in zip(cell, key))
    what = ""
    if configs and a in configs and b in configs:
        what = f": {describe_difference(configs[a], configs[b]) or 'no field differs'}"
    prefix = f"{source}: " if source else ""
    raise DataError(
        f"{prefix}cell {where} holds runs of {int(bad.iloc[0])} different configurations, "
        f"config {a}{ref(a)} and config {b}{ref(b)}{what}. Seeds may only vary the seed; "
        f"give each configuration its own arm (or experiment). {len(bad)} such cell(s)"
    )


def check_nonnegative(
    rows: pd.DataFrame, columns: Sequence[str], refs: pd.Series, source: str
) -> None:
    """Refuse the first negative value of an error metric column, naming the row (``refs``)."""
    for col in columns:
        if col not in rows.columns or not is_error_metric(col):
            continue
        v = rows[col].to_numpy(dtype=float)
        neg = np.isfinite(v) & (v < 0)
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            r = rows.iloc[i]
            ident = " ".join(
                f"{c}={r[c]}" for c in ("dataset", "model", "seq_len", "arm", "seed") if c in r
            )
            raise DataError(
                f"{source}: {col} = {v[i]:g} at {refs.iloc[i]} ({ident}) is negative; an error "
                f"metric is >= 0. {int(neg.sum())} negative value(s) in '{col}'"
            )


@dataclass(frozen=True)
class Failures:
    """What the report lists besides the analysis: failed trials, wholly failed blocks and
    finished rows dropped because the metric is missing or not finite."""

    failed: pd.DataFrame  # block columns, arm, seed, status, error (first line), [run_id]
    failed_blocks: pd.DataFrame  # block columns, n_trials
    nonfinite: pd.DataFrame  # block columns, arm, seed, value, [run_id]

    @property
    def empty(self) -> bool:
        return self.failed.empty and self.failed_blocks.empty and self.nonfinite.empty


def first_line(text: object, width: int = 160) -> str:
    """First non-blank line of an error text, cut to ``width`` characters."""
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    line = lines[0] if lines else "(no error text)"
    return line if len(line) <= width else line[: width - 1] + "…"


def split_failures(
    rows: pd.DataFrame, metric: str, blocks: Sequence[str]
) -> tuple[pd.DataFrame, Failures]:
    """(usable rows, Failures): usable = status finished with a finite ``metric``.

    Failed rows keep their place in the returned frame with a NaN metric (so their block shows
    as incomplete); rows with a non-finite metric get NaN too. A block none of whose trials
    finished with a finite metric is wholly failed.
    """
    blocks = list(blocks)
    status = rows["status"].astype(str) if "status" in rows.columns else None
    done = status.eq(FINISHED).to_numpy() if status is not None else np.ones(len(rows), dtype=bool)
    v = rows[metric].to_numpy(dtype=float)
    finite = np.isfinite(v)
    ref = [c for c in ("run_id",) if c in rows.columns]
    ident = [*blocks, *(c for c in ("arm", "seed") if c in rows.columns and c not in blocks)]
    failed = rows.loc[~done, ident + ref].copy()
    failed["status"] = status[~done].to_numpy() if status is not None else []
    err = rows.loc[~done, "error"] if "error" in rows.columns else pd.Series("", index=failed.index)
    failed["error"] = [first_line(e) for e in err]
    nonfinite = rows.loc[done & ~finite, ident + ref].copy()
    nonfinite.insert(len(ident), metric, v[done & ~finite])
    ok = done & finite
    per_block = pd.DataFrame({"ok": ok, "n": 1}, index=rows.index)
    per_block[blocks] = rows[blocks]
    agg = per_block.groupby(blocks, sort=True, observed=True)[["ok", "n"]].sum()
    dead = agg[agg["ok"] == 0]
    failed_blocks = dead["n"].rename("n_trials").reset_index()
    usable = rows.copy()
    usable[metric] = np.where(ok, v, np.nan)
    return usable, Failures(
        failed.reset_index(drop=True), failed_blocks, nonfinite.reset_index(drop=True)
    )
