"""The pre-registered primary comparison a vs b, answered three ways (pure functions, no I/O).

On the per-block log ratios d_i = log(cell_a,i / cell_b,i) (cells = seed aggregates of the
metric; d < 0: a has the lower error):

* **Wilcoxon** signed-rank test, two-sided, zero differences split (scipy; Demšar 2006 §3.1.3):
  is there any difference?
* **TOST** equivalence test (Schuirmann 1987, J. Pharmacokin. Biopharm. 15:657-680): two
  one-sided one-sample t-tests of H0: mean d <= log(1 − margin) and H0: mean d >= log(1 +
  margin); p_TOST = the larger of the two p-values; small: a and b are equivalent within the
  margin.
* **Bayesian signed-rank** test with a region of practical equivalence (Benavoli, Corani,
  Mangili, Zaffalon & Ruggeri 2014, ICML, "A Bayesian Wilcoxon signed-rank test based on the
  Dirichlet process"; Benavoli, Corani, Demšar & Zaffalon 2017, JMLR 18(77):1-36), computed by
  ``baycomp.SignedRankTest`` with rope = log(1 + margin) on the log scale (baycomp's rope is
  symmetric: ±log(1 + margin), the narrower of log(1 ± margin)). baycomp is given x = log
  cell_a, y = log cell_b and returns (p_left, p_rope, p_right) where "left" is x > y for
  scores; for errors x > y means a is worse, so p_worse = p_left, p_better = p_right.
  Each is the posterior probability that its region is the most probable one.
* **Power** (:mod:`synprune.stats.power`): minimum detectable effect and blocks needed.

The verdict reads the Bayesian probabilities: better / worse / practically equivalent when
that region's probability reaches ``DECIDE_AT`` (0.95, Benavoli et al. 2017 §4), else undecided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as ss

from synprune.stats.power import blocks_needed, mde_log, pct
from synprune.stats.tests import wilcoxon_pair

MARGIN = 0.01
DECIDE_AT = 0.95
BAYES_SEED = 0
PRIMARY_COLUMNS = (
    "a",
    "b",
    "blocks",
    "gmean_ratio",
    "ci_low",
    "ci_high",
    "wilcoxon_p",
    "tost_p",
    "margin",
    "p_better",
    "p_equivalent",
    "p_worse",
    "mde_pct",
    "blocks_needed",
    "observed_pct",
    "sd_log_ratio",
    "bayes_samples",
    "verdict",
)


@dataclass(frozen=True)
class Primary:
    """One row of primary.csv (see :data:`PRIMARY_COLUMNS`)."""

    a: str
    b: str
    blocks: int
    gmean_ratio: float
    ci_low: float
    ci_high: float
    wilcoxon_p: float
    tost_p: float
    margin: float
    p_better: float
    p_equivalent: float
    p_worse: float
    mde_pct: float
    blocks_needed: float
    observed_pct: float
    sd_log_ratio: float
    bayes_samples: int
    verdict: str

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)], columns=list(PRIMARY_COLUMNS))


def tost(d: np.ndarray, low: float, high: float) -> tuple[float, float, float]:
    """Two one-sided one-sample t-tests of mean(d) against (low, high) (Schuirmann 1987).

    Returns (p_TOST, p of H0: mean <= low, p of H0: mean >= high); p_TOST = the larger.
    With zero spread the answer is exact: 0 inside (low, high), 1 outside. NaN for n < 2.
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        p_lo = 0.0 if mean > low else 1.0
        p_hi = 0.0 if mean < high else 1.0
    else:
        se = sd / math.sqrt(n)
        p_lo = float(ss.t.sf((mean - low) / se, n - 1))
        p_hi = float(ss.t.cdf((mean - high) / se, n - 1))
    return max(p_lo, p_hi), p_lo, p_hi


def bayes_samples(n: int) -> int:
    """Posterior samples for baycomp: 20,000, fewer for many blocks (its loop costs n² each)."""
    return int(max(1000, min(20000, 2e9 // (n + 1) ** 2)))


def bayes_signed_rank(
    log_a: np.ndarray, log_b: np.ndarray, rope: float, nsamples: int, seed: int = BAYES_SEED
) -> tuple[float, float, float]:
    """(p_better, p_equivalent, p_worse) of a vs b from baycomp's Bayesian signed-rank test on
    log errors (lower = better; see the module docstring for the sign)."""
    import baycomp

    left, rope_p, right = baycomp.SignedRankTest.probs(
        np.asarray(log_a, dtype=float),
        np.asarray(log_b, dtype=float),
        rope,
        nsamples=nsamples,
        random_state=seed,
    )
    return float(right), float(rope_p), float(left)


def verdict_word(p_better: float, p_equivalent: float, p_worse: float) -> str:
    """better / practically equivalent / worse when its probability >= DECIDE_AT, else
    undecided (NaN probabilities: undecided)."""
    pairs = (("better", p_better), ("practically equivalent", p_equivalent), ("worse", p_worse))
    for word, p in pairs:
        if math.isfinite(p) and p >= DECIDE_AT:
            return word
    return "undecided"


def primary_comparison(
    matrix: pd.DataFrame,
    a: str,
    b: str,
    *,
    margin: float = MARGIN,
    ci: tuple[float, float] = (float("nan"), float("nan")),
    seed: int = BAYES_SEED,
) -> Primary:
    """Answer a vs b over the blocks of a cell matrix (positive cells). ``ci`` is the
    interval of the geometric-mean ratio (from :mod:`synprune.stats.effects`)."""
    x, y = matrix[a].to_numpy(dtype=float), matrix[b].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        la, lb = np.log(x), np.log(y)
    ok = np.isfinite(la) & np.isfinite(lb)
    la, lb = la[ok], lb[ok]
    d = la - lb
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n >= 2 else float("nan")
    _, wp, _ = wilcoxon_pair(la, lb) if n else (0.0, float("nan"), "")
    tp, _, _ = tost(d, math.log1p(-margin), math.log1p(margin))
    ns = bayes_samples(n)
    if n >= 2:
        pb, pe, pw = bayes_signed_rank(la, lb, math.log1p(margin), ns, seed)
    else:
        pb = pe = pw = float("nan")
    return Primary(
        a=a,
        b=b,
        blocks=n,
        gmean_ratio=float(np.exp(mean)) if n else float("nan"),
        ci_low=float(ci[0]),
        ci_high=float(ci[1]),
        wilcoxon_p=float(wp),
        tost_p=tp,
        margin=margin,
        p_better=pb,
        p_equivalent=pe,
        p_worse=pw,
        mde_pct=pct(mde_log(sd, n)),
        blocks_needed=blocks_needed(sd, mean),
        observed_pct=pct(mean),
        sd_log_ratio=sd,
        bayes_samples=ns if n >= 2 else 0,
        verdict=verdict_word(pb, pe, pw),
    )


def _pct_text(v: float) -> str:
    return f"{v:+.2f} %" if math.isfinite(v) else "–"


def verdict_sentence(p: Primary) -> str:
    """e.g. "`synaptic` vs `dropout`: practically equivalent (P = 0.97 within ±1 %); ..."."""
    m = f"±{100 * p.margin:g} %"
    if p.verdict == "better":
        head = f"better (P = {p.p_better:.2f} that its error is lower by more than {m[1:]})"
    elif p.verdict == "worse":
        head = f"worse (P = {p.p_worse:.2f} that its error is higher by more than {m[1:]})"
    elif p.verdict == "practically equivalent":
        head = f"practically equivalent (P = {p.p_equivalent:.2f} within {m})"
    else:
        head = (
            f"undecided (P better {p.p_better:.2f}, within {m} {p.p_equivalent:.2f}, "
            f"worse {p.p_worse:.2f}; none reaches {DECIDE_AT:g})"
        )
    ci = (
        f", 95 % CI {p.ci_low:.3f}–{p.ci_high:.3f}"
        if math.isfinite(p.ci_low) and math.isfinite(p.ci_high)
        else ""
    )
    return (
        f"`{p.a}` vs `{p.b}`: {head}. Error ratio (geometric mean over {p.blocks} blocks) "
        f"{p.gmean_ratio:.4f}{ci}, i.e. {_pct_text(p.observed_pct)}; Wilcoxon p = "
        f"{p.wilcoxon_p:.3g}, TOST p = {p.tost_p:.3g} (equivalence within log(1 ± {p.margin:g}))."
    )


def power_sentence(p: Primary) -> str:
    """The sentence "this study can detect effects of X % or larger; the observed Y % would
    need N blocks"."""
    if not math.isfinite(p.mde_pct):
        return f"Power not computable for `{p.a}` vs `{p.b}` (fewer than 2 blocks)."
    need = (
        "an unbounded number of blocks (it is zero)"
        if math.isinf(p.blocks_needed)
        else f"about {int(p.blocks_needed)} independent blocks"
    )
    return (
        f"With {p.blocks} blocks this study can detect effects of {p.mde_pct:.2f} % or larger "
        f"(`{p.a}` vs `{p.b}`, 80 % power, two-sided α = 0.05, from the spread of the block "
        f"log ratios, SD {p.sd_log_ratio:.4f}); the observed {_pct_text(p.observed_pct)} would "
        f"need {need} to be detected. Blocks sharing a dataset are not independent, so both "
        "figures are optimistic."
    )
