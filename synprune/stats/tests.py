"""Omnibus and post-hoc tests: Friedman, Iman-Davenport, Nemenyi, Wilcoxon-Holm.

References
----------
Demšar, J. (2006). Statistical comparisons of classifiers over multiple data sets. JMLR 7:1-30.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scandinavian Journal of Statistics 6(2):65-70.
Friedman, M. (1937). The use of ranks to avoid the assumption of normality implicit in the
analysis of variance. Journal of the American Statistical Association 32(200):675-701.
Iman, R. L. & Davenport, J. M. (1980). Approximations of the critical region of the Friedman
statistic. Communications in Statistics - Theory and Methods 9(6):571-595.

Pure functions over a block matrix (rows = blocks, columns = treatments); no I/O. The
computations are delegated to scipy (Friedman, Wilcoxon, studentized range) and
scikit-posthocs (Nemenyi); only the closed forms Demšar gives are written out here.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as ss

from synprune.stats.ranking import critical_difference


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman χ²_F and the Iman-Davenport F_F for one block matrix (Demšar 2006 §3.2.2).

    ``p_exact`` is set only in the degenerate case where every block ranks the arms the same
    way (χ²_F at its maximum N(k−1)): F_F is then undefined (``f_stat`` and ``p_f`` are NaN) and
    ``p_exact`` is the exact permutation p-value of that outcome, see :func:`concordance_p`.
    """

    n_blocks: int
    k: int
    chi2: float
    p_chi2: float
    f_stat: float
    df1: int
    df2: int
    p_f: float
    cd: float
    note: str = ""
    p_exact: float = float("nan")

    @property
    def degenerate(self) -> bool:
        """Every block ranks the arms identically (χ²_F = N(k−1)); F_F undefined."""
        return bool(np.isfinite(self.p_exact))

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Iman-Davenport's, or the exact one when degenerate."""
        return self.p_exact if self.degenerate else self.p_f

    def as_dict(self) -> dict[str, object]:
        """Flat dict (for a CSV row)."""
        return asdict(self)


def friedman_chi2_formula(avg_ranks: Sequence[float], n_blocks: int) -> float:
    """χ²_F = 12N / (k(k+1)) · [Σ_j R_j² − k(k+1)²/4]  (Demšar 2006, eq. (2)); no tie correction."""
    r = np.asarray(avg_ranks, dtype=float)
    k = r.size
    return float(12.0 * n_blocks / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4.0))


def _at_maximum(chi2: float, n_blocks: int, k: int) -> bool:
    return bool(n_blocks * (k - 1) - chi2 <= 1e-9 * max(1.0, abs(chi2)))


def iman_davenport(chi2: float, n_blocks: int, k: int) -> tuple[float, int, int, float]:
    """F_F = (N−1)χ²_F / (N(k−1) − χ²_F) ~ F(k−1, (k−1)(N−1))  (Iman & Davenport 1980;
    Demšar 2006, eq. after (2)).

    Returns (F_F, df1, df2, p). When χ²_F reaches its maximum N(k−1) (every block ranks the arms
    identically) the denominator is 0: F_F is +inf and p is NaN, not 0 -- the F approximation
    says nothing there; :func:`concordance_p` gives the exact p-value of that outcome.
    """
    df1, df2 = k - 1, (k - 1) * (n_blocks - 1)
    if not np.isfinite(chi2) or df2 <= 0:
        return float("nan"), df1, df2, float("nan")
    if _at_maximum(chi2, n_blocks, k):
        return float("inf"), df1, df2, float("nan")
    f = (n_blocks - 1) * chi2 / (n_blocks * (k - 1) - chi2)
    return float(f), df1, df2, float(ss.f.sf(f, df1, df2))


def concordance_p(ranks_row: Sequence[float], n_blocks: int) -> float:
    """Exact p-value of perfect concordance: M^(1−N), M = k! / Π t! distinct orderings.

    Under the Friedman null every block's ranking is equally likely among its M distinct
    arrangements (the permutation distribution, Friedman 1937), independently across blocks.
    χ²_F reaches its maximum N(k−1) only when all N blocks share one ranking, which happens with
    probability M · M^(−N). E.g. N = 2 blocks, k = 3 arms, no ties: p = 1/6.
    """
    _, counts = np.unique(np.asarray(ranks_row, dtype=float), return_counts=True)
    k = int(counts.sum())
    log_m = math.lgamma(k + 1) - float(sum(math.lgamma(int(t) + 1) for t in counts))
    return float(math.exp(log_m * (1 - n_blocks)))


def friedman(matrix: pd.DataFrame, alpha: float = 0.05) -> FriedmanResult:
    """Friedman test (scipy, with its tie correction) + Iman-Davenport F + Nemenyi CD.

    Needs k >= 3 treatments (Friedman does not apply to two: use the Wilcoxon signed-rank test,
    Demšar 2006 §3.1.3) and N >= 2 blocks; otherwise every statistic is NaN and ``note`` says
    why. When every block ranks the arms identically, F_F is undefined: ``note`` says so in
    words and ``p_exact`` carries the exact p-value (:func:`concordance_p`).
    """
    n, k = matrix.shape
    nan = float("nan")
    if k < 3:
        note = f"Friedman does not apply to k = {k} arms (needs >= 3); see the Wilcoxon test"
        return FriedmanResult(n, k, nan, nan, nan, k - 1, (k - 1) * (n - 1), nan, nan, note)
    cd = critical_difference(k, n, alpha) if n >= 1 else nan
    if n < 2:
        note = f"only N = {n} complete block(s); Friedman needs >= 2"
        return FriedmanResult(n, k, nan, nan, nan, k - 1, 0, nan, cd, note)
    values = matrix.to_numpy(dtype=float)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ss.friedmanchisquare(*values.T)
    chi2, p = float(res.statistic), float(res.pvalue)
    note = ""
    if not np.isfinite(chi2):
        note = "all arms tie in every block: no ranking information"
        return FriedmanResult(n, k, nan, nan, nan, k - 1, (k - 1) * (n - 1), nan, cd, note)
    f, df1, df2, p_f = iman_davenport(chi2, n, k)
    if _at_maximum(chi2, n, k):
        ranks = ss.rankdata(values[0], method="average")
        p_exact = concordance_p(ranks, n)
        note = (
            f"all {n} blocks rank the {k} arms identically, so χ²_F = N(k−1) = {n * (k - 1)}, "
            f"its maximum; the Iman-Davenport F divides by zero there and is not reported. "
            f"Exact p = {p_exact:.3g}: the chance that {n} blocks agree on one ranking when "
            f"all orderings are equally likely"
        )
        return FriedmanResult(n, k, chi2, p, nan, df1, df2, nan, cd, note, p_exact)
    return FriedmanResult(n, k, chi2, p, f, df1, df2, p_f, cd, note)


def friedman_by(
    matrix: pd.DataFrame, level: str, alpha: float = 0.05
) -> list[tuple[str, FriedmanResult]]:
    """Friedman/Iman-Davenport within each value of one block factor (e.g. per dataset)."""
    out = []
    for value, sub in matrix.groupby(level=level, sort=True, observed=True):
        out.append((str(value), friedman(sub, alpha)))
    return out


def nemenyi(matrix: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi post-hoc p-values (k x k, indexed by treatment) via scikit-posthocs.

    p_ij = P(q > |R_i − R_j| / sqrt(k(k+1)/(6N)) · √2) under the studentized range with ∞ df
    (Demšar 2006 §3.2.2). Needs k >= 2 and N >= 1.
    """
    import scikit_posthocs as sp

    values = pd.DataFrame(
        matrix.to_numpy(dtype=float), columns=[str(c) for c in matrix.columns]
    ).reset_index(drop=True)
    with np.errstate(all="ignore"):
        p = sp.posthoc_nemenyi_friedman(values)
    p = p.astype(float)
    p.index.name = "regularizer"
    p.columns.name = None
    return p


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order.

    Sort p_(1) <= ... <= p_(m); p̃_(i) = max_{j<=i} min(1, (m − j + 1) p_(j)). Rejecting
    p̃ <= α controls the family-wise error at α (Demšar 2006 §3.2.2 describes the same step-down).
    NaN p-values are left NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def wilcoxon_pair(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank test of x vs y over blocks (scipy).

    Zero differences are split evenly between the positive and negative rank sums
    (``zero_method="zsplit"``), as Demšar 2006 §3.1.3 recommends. Returns (W, p, note).
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if d.size == 0:
        return float("nan"), float("nan"), "no blocks"
    if np.all(d == 0):
        return 0.0, 1.0, "identical in every block"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ss.wilcoxon(x, y, zero_method="zsplit", alternative="two-sided")
    note = "" if d.size >= 6 else f"only {d.size} blocks: p cannot fall below ~{2 / 2**d.size:.3g}"
    return float(res.statistic), float(res.pvalue), note


WILCOXON_SCALES = ("raw", "log")


def wilcoxon_holm(matrix: pd.DataFrame, alpha: float = 0.05, scale: str = "raw") -> pd.DataFrame:
    """All pairwise Wilcoxon signed-rank tests over blocks, Holm-corrected (Holm 1979).

    ``scale="raw"`` tests the differences a − b; ``scale="log"`` tests log(a) − log(b), i.e.
    relative differences, which are commensurable across blocks measured in different units
    (Demšar 2006 §3.1.3: the test "assumes commensurability of differences, but only
    qualitatively"; a raw MAE difference on a price series in dollars and one on a normalised
    series are not). Needs positive values for "log".

    One row per pair (a, b) with: blocks, wins of a (a lower), ties, losses, the median over
    blocks of the per-block relative difference 100 · (a − b) / b, W, raw p, Holm-adjusted p,
    and whether the Holm test rejects at ``alpha``.
    """
    if scale not in WILCOXON_SCALES:
        raise ValueError(f"scale must be one of {WILCOXON_SCALES}, got {scale!r}")
    cols = [str(c) for c in matrix.columns]
    values = matrix.to_numpy(dtype=float)
    if scale == "log":
        if values.size and not np.all(values > 0):
            raise ValueError("scale='log' needs positive values in every cell")
        tested = np.log(values)
    else:
        tested = values
    rows = []
    for i, j in itertools.combinations(range(len(cols)), 2):
        x, y = values[:, i], values[:, j]
        w, p, note = wilcoxon_pair(tested[:, i], tested[:, j])
        with np.errstate(all="ignore"):
            rel = 100.0 * (x - y) / y
        rel = rel[np.isfinite(rel)]
        rows.append(
            {
                "arm_a": cols[i],
                "arm_b": cols[j],
                "n_blocks": int(x.size),
                "a_better": int(np.sum(x < y)),
                "ties": int(np.sum(x == y)),
                "b_better": int(np.sum(x > y)),
                "median_pct_diff": float(np.median(rel)) if rel.size else float("nan"),
                "statistic": w,
                "p_value": p,
                "note": note,
            }
        )
    columns = ["arm_a", "arm_b", "n_blocks", "a_better", "ties", "b_better", "median_pct_diff"]
    df = pd.DataFrame(rows, columns=[*columns, "statistic", "p_value", "note"])
    df.insert(df.columns.get_loc("note"), "p_holm", holm(df["p_value"].to_numpy()))
    df.insert(df.columns.get_loc("note"), "reject_holm", df["p_holm"] <= alpha)
    return df
