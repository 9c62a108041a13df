"""Effect sizes with intervals: geometric-mean error ratios and win rates, hierarchical bootstrap.

For treatments a and b, the effect per block is the ratio of their cells (the seed aggregate of
the metric, mean by default): r_i = cell_a,i / cell_b,i; over blocks it is summarised by the
geometric mean exp(mean_i log r_i), which is scale-free (each dataset's units cancel within its
blocks) and symmetric (a/b = 1 / (b/a)), as forecasting benchmarks summarise relative errors
(Hyndman & Koehler 2006, Int. J. Forecasting 22:679-688, §3.3 "relative measures"; Fleming &
Wallace 1986, CACM 29:218-221: the geometric mean is the only correct average of normalized
numbers). The win rate is the share of blocks with r_i < 1 (a tie counts one half).

Blocks are not independent: blocks of one dataset share its test windows. The 95 % interval is
a percentile bootstrap that resamples the design's levels in turn (a hierarchical, or
multi-stage, bootstrap; Davison & Hinkley 1997, *Bootstrap Methods and their Application*,
§3.8 "Hierarchical data", strategy 1: resample at every stage with replacement): datasets (or
series) with replacement, then blocks within each drawn dataset, then seeds within each drawn
block (the same seeds for a and b, so the seed pairing is kept), recomputing each cell from
the drawn seeds. The win-rate interval comes from the same replicates (not a Wilson interval,
which would treat blocks as independent). With ``--select-on`` the per-block selection is held
fixed (the interval is conditional on the arms chosen on validation). All replicates are drawn
from one ``numpy.random.default_rng(seed)`` stream in fixed-size chunks, so the result depends on
the seed only. Pure functions; no I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

N_BOOT = 2000
BOOT_SEED = 20240611
CONF = 0.95
_CHUNK = 250
EFFECT_COLUMNS = (
    "family",
    "versus",
    "gmean_ratio",
    "ci_low",
    "ci_high",
    "win_rate",
    "win_ci_low",
    "win_ci_high",
    "blocks",
    "datasets",
    "min_seeds",
)


@dataclass(frozen=True)
class SeedCube:
    """Per block, treatment and seed the metric: ``values[block, treatment, seed]`` (NaN where
    that seed has no finite value); ``groups[block]`` the dataset index of each block."""

    values: np.ndarray
    treatments: tuple[str, ...]
    groups: np.ndarray
    group_names: tuple[str, ...]

    def pair(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        """(A, B), each ``[block, seed]``, holding only the seeds both have, packed to the left
        (NaN after), so that seed j of A and of B is the same seed."""
        va = self.values[:, self.treatments.index(a), :]
        vb = self.values[:, self.treatments.index(b), :]
        both = np.isfinite(va) & np.isfinite(vb)
        order = np.argsort(~both, axis=1, kind="stable")  # seeds with both values first
        a_p = np.take_along_axis(np.where(both, va, np.nan), order, axis=1)
        b_p = np.take_along_axis(np.where(both, vb, np.nan), order, axis=1)
        return a_p, b_p


def seed_cube(
    rows: pd.DataFrame,
    metric: str,
    matrix: pd.DataFrame,
    blocks: Sequence[str],
    treatment: str,
    group: str = "dataset",
) -> SeedCube:
    """The :class:`SeedCube` of the blocks and treatments of ``matrix`` (a block design's cell
    matrix) from long-format ``rows`` (one row per trial; the rows the design was built from).
    ``group`` is the level above blocks (the dataset, or the series); when it is not a block
    factor every block is its own group."""
    blocks = list(blocks)
    names = tuple(str(c) for c in matrix.columns)
    v = rows[metric].to_numpy(dtype=float)
    sub = rows[np.isfinite(v)]
    sub = sub[sub[treatment].astype(str).isin(names)]
    seeds = sorted(sub["seed"].astype(str).unique())
    idx = pd.MultiIndex.from_frame(sub[blocks]) if len(blocks) > 1 else pd.Index(sub[blocks[0]])
    block_pos = matrix.index.get_indexer(idx)
    keep = block_pos >= 0
    t_pos = pd.Index(names).get_indexer(sub[treatment].astype(str))
    s_pos = pd.Index(seeds).get_indexer(sub["seed"].astype(str))
    values = np.full((len(matrix), len(names), max(1, len(seeds))), np.nan)
    values[block_pos[keep], t_pos[keep], s_pos[keep]] = sub[metric].to_numpy(dtype=float)[keep]
    if group in blocks:
        level = matrix.index.get_level_values(group) if len(blocks) > 1 else matrix.index
        codes, uniques = pd.factorize(pd.Index(level).astype(str), sort=True)
        gnames = tuple(str(u) for u in uniques)
    else:
        codes, gnames = np.arange(len(matrix)), tuple(str(i) for i in range(len(matrix)))
    return SeedCube(values, names, np.asarray(codes, dtype=int), gnames)


def _cells(a: np.ndarray, aggregate: str) -> np.ndarray:
    """Aggregate over the last axis ignoring NaN (mean or median); all-NaN slices give NaN."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty slices: masked by the caller
        return np.nanmedian(a, axis=-1) if aggregate == "median" else np.nanmean(a, axis=-1)


def bootstrap_draws(
    groups: np.ndarray, n_seeds: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The resampling plan, in chunks: per chunk (blk, valid, u_seed) with ``blk[r, d, j]`` the
    j-th block drawn within the d-th dataset drawn in replicate r, ``valid`` masking slots past
    that dataset's block count, and ``u_seed[r, d, j, s]`` uniforms that pick seeds (seed slot s
    of a block with m seeds is ``floor(u * m)``). The same plan serves every pair, so all
    comparisons share their random numbers (common random numbers)."""
    groups = np.asarray(groups, dtype=int)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    counts = np.bincount(groups, minlength=n_groups)
    width = int(counts.max()) if counts.size else 0
    members = np.zeros((n_groups, max(1, width)), dtype=int)
    for g in range(n_groups):  # one row per dataset: a handful of iterations
        members[g, : counts[g]] = np.flatnonzero(groups == g)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_boot, _CHUNK):
        r = min(_CHUNK, n_boot - start)
        ds = rng.integers(0, n_groups, size=(r, n_groups))
        n_d = counts[ds][..., None]
        pos = np.floor(rng.random((r, n_groups, width)) * n_d).astype(int)
        valid = np.arange(width) < n_d
        blk = members[ds[..., None], np.minimum(pos, width - 1)]
        u_seed = rng.random((r, n_groups, width, max(1, n_seeds)))
        out.append((blk, valid, u_seed))
    return out


def bootstrap_pair(
    a: np.ndarray,
    b: np.ndarray,
    draws: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    aggregate: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of (mean log ratio over blocks, win rate) for packed seed arrays ``a``, ``b``
    (``[block, seed]``, see :meth:`SeedCube.pair`) under the plan ``draws``."""
    m = np.isfinite(a).sum(axis=1)
    logs, wins = [], []
    for blk, valid, u in draws:
        mb = m[blk][..., None]
        spos = np.minimum(np.floor(u * mb).astype(int), a.shape[1] - 1)
        slot_ok = np.arange(u.shape[-1]) < mb
        ca = _cells(np.where(slot_ok, a[blk[..., None], spos], np.nan), aggregate)
        cb = _cells(np.where(slot_ok, b[blk[..., None], spos], np.nan), aggregate)
        with np.errstate(all="ignore"):
            lr = np.log(ca / cb)
        ok = valid & np.isfinite(lr)
        w = np.where(ca < cb, 1.0, np.where(ca == cb, 0.5, 0.0))
        n = ok.sum(axis=(1, 2))
        with np.errstate(all="ignore"):
            logs.append(np.where(ok, lr, 0.0).sum(axis=(1, 2)) / n)
            wins.append(np.where(ok, w, 0.0).sum(axis=(1, 2)) / n)
    return np.concatenate(logs), np.concatenate(wins)


def percentile_ci(reps: np.ndarray, conf: float = CONF) -> tuple[float, float]:
    """The (1 − conf)/2 and (1 + conf)/2 quantiles of the finite replicates (linear
    interpolation, numpy's default): the percentile bootstrap interval (Efron & Tibshirani
    1993, *An Introduction to the Bootstrap*, §13.3)."""
    r = reps[np.isfinite(reps)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [(1 - conf) / 2, (1 + conf) / 2])
    return float(lo), float(hi)


def point_effect(matrix: pd.DataFrame, a: str, b: str) -> tuple[float, float, int]:
    """(geometric-mean ratio a/b, win rate of a, blocks) over the blocks of a cell matrix."""
    x, y = matrix[a].to_numpy(dtype=float), matrix[b].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        lr = np.log(x / y)
    ok = np.isfinite(lr)
    if not ok.any():
        return float("nan"), float("nan"), 0
    win = np.where(x < y, 1.0, np.where(x == y, 0.5, 0.0))[ok]
    return float(np.exp(lr[ok].mean())), float(win.mean()), int(ok.sum())


def effects_table(
    cube: SeedCube,
    matrix: pd.DataFrame,
    versus: Sequence[str],
    *,
    aggregate: str = "mean",
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    conf: float = CONF,
) -> pd.DataFrame:
    """One row per (treatment, reference) for every treatment vs each name in ``versus``
    present in ``matrix`` (itself excluded): point estimates from ``matrix``, intervals from
    the hierarchical bootstrap. Columns :data:`EFFECT_COLUMNS`."""
    draws = bootstrap_draws(cube.groups, cube.values.shape[2], n_boot, seed)
    names = [str(c) for c in matrix.columns]
    rows = []
    for ref in dict.fromkeys(versus):
        if ref not in names:
            continue
        for fam in names:
            if fam == ref:
                continue
            g, win, n = point_effect(matrix, fam, ref)
            pa, pb = cube.pair(fam, ref)
            logs, wins = bootstrap_pair(pa, pb, draws, aggregate)
            lo, hi = percentile_ci(logs, conf)
            wlo, whi = percentile_ci(wins, conf)
            seeds = np.isfinite(pa).sum(axis=1)
            rows.append(
                {
                    "family": fam,
                    "versus": ref,
                    "gmean_ratio": g,
                    "ci_low": float(np.exp(lo)),
                    "ci_high": float(np.exp(hi)),
                    "win_rate": win,
                    "win_ci_low": wlo,
                    "win_ci_high": whi,
                    "blocks": n,
                    "datasets": len(cube.group_names),
                    "min_seeds": int(seeds.min()) if seeds.size else 0,
                }
            )
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
