"""Pure statistics against hand-computed values, scipy, scikit-posthocs, statsmodels, autorank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from synprune.stats.ranking import (
    average_ranks,
    cd_groups,
    critical_difference,
    q_alpha,
    rank_matrix,
)
from synprune.stats.tests import (
    friedman,
    friedman_chi2_formula,
    holm,
    iman_davenport,
    nemenyi,
    wilcoxon_holm,
)

# 4 blocks x 3 arms; within-block ranks (lower = better) are written next to each row.
HAND = pd.DataFrame(
    [
        [1.0, 2.0, 3.0],  # ranks 1 2 3
        [1.0, 3.0, 2.0],  # ranks 1 3 2
        [2.0, 1.0, 3.0],  # ranks 2 1 3
        [1.0, 2.0, 3.0],  # ranks 1 2 3
    ],
    columns=["A", "B", "C"],
)
# R = (5/4, 8/4, 11/4); ΣR² = 13.125; χ²_F = 12·4/(3·4)·(13.125 − 3·16/4) = 4·1.125 = 4.5
# F_F = (N−1)χ²/(N(k−1) − χ²) = 3·4.5/(8 − 4.5) = 27/7, df = (2, 6)
HAND_R = {"A": 1.25, "B": 2.0, "C": 2.75}
HAND_CHI2 = 4.5
HAND_FF = 27.0 / 7.0

# Demšar (2006) Table 5(a): Nemenyi q_α for k = 2..10
DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
DEMSAR_Q10 = [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]


def test_hand_example_average_ranks_and_friedman() -> None:
    avg = average_ranks(HAND)
    assert list(avg.index) == ["A", "B", "C"]
    assert avg.to_dict() == pytest.approx(HAND_R)
    assert friedman_chi2_formula(avg.loc[["A", "B", "C"]], 4) == pytest.approx(HAND_CHI2)
    res = friedman(HAND)
    assert res.chi2 == pytest.approx(HAND_CHI2)  # scipy agrees with the hand formula (no ties)
    assert res.p_chi2 == pytest.approx(np.exp(-HAND_CHI2 / 2))  # χ²(2) survival = e^{−x/2}
    assert res.f_stat == pytest.approx(HAND_FF)
    assert (res.df1, res.df2) == (2, 6)
    assert res.p_f == pytest.approx(ss.f.sf(HAND_FF, 2, 6))
    assert res.cd == pytest.approx(
        2.343 * np.sqrt(3 * 4 / (6 * 4)), rel=5e-4
    )  # table has 3 decimals


@pytest.mark.parametrize(("alpha", "table"), [(0.05, DEMSAR_Q05), (0.10, DEMSAR_Q10)])
def test_q_alpha_matches_demsar_table(alpha: float, table: list[float]) -> None:
    got = [q_alpha(k, alpha) for k in range(2, 11)]
    assert got == pytest.approx(table, abs=1.5e-3)


def test_critical_difference_formula() -> None:
    # CD = q_α sqrt(k(k+1)/(6N)); k = 4, N = 30 with Demšar's q = 2.569
    assert critical_difference(4, 30) == pytest.approx(
        2.569 * np.sqrt(20 / 180), rel=5e-4
    )  # table has 3 decimals
    with pytest.raises(ValueError, match="k >= 2"):
        critical_difference(1, 5)


def test_ties_get_average_ranks_and_tie_corrected_chi2() -> None:
    m = pd.DataFrame(
        [[1.0, 1.0, 2.0], [3.0, 1.0, 2.0], [2.0, 2.0, 2.0], [1.0, 2.0, 2.0], [1.0, 3.0, 2.0]],
        columns=["a", "b", "c"],
    )
    r = rank_matrix(m)
    assert r.iloc[0].tolist() == [1.5, 1.5, 3.0]
    assert r.iloc[2].tolist() == [2.0, 2.0, 2.0]
    assert r.iloc[3].tolist() == [1.0, 2.5, 2.5]
    n, k = m.shape
    raw = friedman_chi2_formula(r.mean().to_numpy(), n)
    # tie groups: block0 one pair (t=2), block2 one triple (t=3), block3 one pair
    ties = (2**3 - 2) + (3**3 - 3) + (2**3 - 2)
    corrected = raw / (1 - ties / (n * k * (k**2 - 1)))
    res = friedman(m)
    assert res.chi2 == pytest.approx(corrected)
    assert res.chi2 == pytest.approx(ss.friedmanchisquare(*m.to_numpy().T).statistic)


def test_friedman_degenerate_cases() -> None:
    two = HAND[["A", "B"]]
    assert "does not apply" in friedman(two).note and np.isnan(friedman(two).chi2)
    one_block = HAND.iloc[:1]
    assert "N = 1" in friedman(one_block).note
    all_tied = pd.DataFrame(np.ones((4, 3)), columns=list("xyz"))
    assert "tie" in friedman(all_tied).note
    # every block ranks the arms identically: χ² = N(k−1); F_F divides by zero, so no F and
    # no F p-value (issue 13: never "F = ∞, p = 0"); the exact p of 5 blocks agreeing on one
    # of 3! orderings is 3!·(1/3!)^5 = 6^-4
    same = pd.DataFrame([[1.0, 2.0, 3.0]] * 5, columns=list("xyz"))
    res = friedman(same)
    assert res.chi2 == pytest.approx(5 * 2)
    assert np.isnan(res.f_stat) and np.isnan(res.p_f) and res.degenerate
    assert res.p_exact == pytest.approx(6.0**-4) and res.p == res.p_exact
    assert "rank the 3 arms identically" in res.note and "divides by zero" in res.note
    assert iman_davenport(10.0, 5, 3)[0] == np.inf and np.isnan(iman_davenport(10.0, 5, 3)[3])
    assert iman_davenport(float("nan"), 5, 3)[0] != iman_davenport(float("nan"), 5, 3)[0]


def _random_matrix(n: int, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shift = np.linspace(0.0, 0.6, k)
    return pd.DataFrame(
        rng.normal(size=(n, k)) + shift, columns=[f"arm{i}" for i in range(k)]
    ).round(2)  # rounding makes some ties


def test_friedman_and_nemenyi_cross_check_scipy_and_scikit_posthocs() -> None:
    import scikit_posthocs as sp

    m = _random_matrix(25, 4, 0)
    res = friedman(m)
    ref = ss.friedmanchisquare(*m.to_numpy().T)
    assert res.chi2 == pytest.approx(ref.statistic)
    assert res.p_chi2 == pytest.approx(ref.pvalue)
    p = nemenyi(m)
    ref_p = sp.posthoc_nemenyi_friedman(m.reset_index(drop=True))
    np.testing.assert_allclose(p.to_numpy(), ref_p.to_numpy(dtype=float))
    assert list(p.index) == list(m.columns) and p.index.name == "regularizer"
    # Nemenyi p < α exactly when the average ranks differ by more than the CD (Demšar 2006)
    avg = rank_matrix(m).mean()
    for a in m.columns:
        for b in m.columns:
            if a != b:
                assert (p.loc[a, b] < 0.05) == (abs(avg[a] - avg[b]) > res.cd)
    # hand form of the Nemenyi p-value for one pair
    z = abs(avg["arm0"] - avg["arm3"]) / np.sqrt(4 * 5 / (6 * 25))
    assert p.loc["arm0", "arm3"] == pytest.approx(
        ss.studentized_range.sf(z * np.sqrt(2), 4, np.inf)
    )


def test_autorank_agrees_on_average_ranks_and_cd() -> None:
    autorank = pytest.importorskip("autorank")
    m = _random_matrix(30, 4, 1)
    res = autorank.autorank(m, alpha=0.05, order="ascending", force_mode="nonparametric")
    assert res.omnibus == "friedman"
    mine = average_ranks(m)
    assert res.rankdf["meanrank"].to_dict() == pytest.approx(mine.to_dict())
    # autorank uses statsmodels qsturng (an approximation of the studentized range quantile)
    assert res.cd == pytest.approx(critical_difference(4, 30), rel=1e-4)
    assert res.pvalue == pytest.approx(friedman(m).p_chi2)


def test_holm_hand_values_and_statsmodels() -> None:
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 -> max(0.06, 0.04) = 0.06
    got = holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2·0.5 = 1, then max(1, 0.9)
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    assert np.isnan(holm([np.nan, 0.01])[0]) and holm([np.nan, 0.01])[1] == pytest.approx(0.01)
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(3).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1])


def test_wilcoxon_holm_matches_scipy_per_pair() -> None:
    m = _random_matrix(20, 3, 2)
    df = wilcoxon_holm(m, alpha=0.05)
    assert len(df) == 3
    for row in df.itertuples():
        ref = ss.wilcoxon(m[row.arm_a], m[row.arm_b], zero_method="zsplit")
        assert row.p_value == pytest.approx(ref.pvalue)
        assert row.statistic == pytest.approx(ref.statistic)
        assert row.a_better + row.ties + row.b_better == 20
    np.testing.assert_allclose(df["p_holm"], holm(df["p_value"]))
    assert (df["reject_holm"] == (df["p_holm"] <= 0.05)).all()


def test_wilcoxon_identical_arms() -> None:
    m = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})
    row = wilcoxon_holm(m).iloc[0]
    assert row.p_value == 1.0 and row.ties == 3 and "identical" in row.note


def test_cd_groups() -> None:
    r = pd.Series({"s": 1.0, "d": 1.5, "m": 2.4, "n": 3.9})
    assert cd_groups(r, 1.0) == [("s", "d"), ("d", "m")]
    assert cd_groups(r, 5.0) == [("s", "d", "m", "n")]
    assert cd_groups(r, 0.1) == []
