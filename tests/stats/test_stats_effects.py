"""Effect sizes, the primary comparison, power and rel_mae against reference values: hand
computations, scipy, baycomp called directly, and the closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from synprune.stats.effects import (
    bootstrap_draws,
    bootstrap_pair,
    effects_table,
    percentile_ci,
    point_effect,
    seed_cube,
)
from synprune.stats.power import blocks_needed, mde_log, pct
from synprune.stats.primary import (
    bayes_signed_rank,
    primary_comparison,
    tost,
    verdict_sentence,
    verdict_word,
)
from synprune.stats.relative import rel_mae

BLOCKS = ["dataset", "model"]


def frame(cells: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    """Long rows from {(dataset, model, arm): [value per seed]}."""
    rows = [
        {"dataset": d, "model": m, "arm": a, "seed": str(s), "test_mae": v}
        for (d, m, a), vals in cells.items()
        for s, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def matrix_of(rows: pd.DataFrame) -> pd.DataFrame:
    m = rows.groupby([*BLOCKS, "arm"])["test_mae"].mean().unstack("arm")
    m.columns.name = "arm"
    return m


def boot(rows: pd.DataFrame, a: str, b: str, n: int = 2000, seed: int = 7):
    m = matrix_of(rows)
    cube = seed_cube(rows, "test_mae", m, BLOCKS, "arm")
    draws = bootstrap_draws(cube.groups, cube.values.shape[2], n, seed)
    return bootstrap_pair(*cube.pair(a, b), draws)


# -- the hierarchical bootstrap, hand-computed cases ------------------------------------------


def test_seed_level_one_block_two_seeds() -> None:
    # a = (1, 3), b = (2, 2): resampled cell_a is 1, 2 or 3 w.p. 1/4, 1/2, 1/4 (b stays 2), so
    # the ratio is 0.5, 1 or 1.5 and a wins, ties, loses w.p. 1/4, 1/2, 1/4
    rows = frame({("d", "m", "a"): [1.0, 3.0], ("d", "m", "b"): [2.0, 2.0]})
    logs, wins = boot(rows, "a", "b")
    lo, hi = percentile_ci(logs)
    assert math.exp(lo) == pytest.approx(0.5) and math.exp(hi) == pytest.approx(1.5)
    assert np.mean(logs == 0.0) == pytest.approx(0.5, abs=0.04)
    assert np.mean(np.isclose(logs, math.log(0.5))) == pytest.approx(0.25, abs=0.03)
    assert percentile_ci(wins) == (0.0, 1.0)
    assert wins.mean() == pytest.approx(0.5, abs=0.03)


def test_dataset_level_is_resampled_before_blocks() -> None:
    # dataset A: 3 blocks, every ratio 0.9; dataset B: 1 block, ratio 1.2 (one seed each).
    # Drawing 2 datasets: {A, A} -> all 0.9; {B, B} -> all 1.2 (p = 1/4 each); {A, B} mixed.
    # A block-level bootstrap would make "every block is B's" a 1/4**4 event, not 1/4.
    cells = {("A", f"m{i}", "a"): [0.9] for i in range(3)}
    cells |= {("A", f"m{i}", "b"): [1.0] for i in range(3)}
    cells |= {("B", "m0", "a"): [1.2], ("B", "m0", "b"): [1.0]}
    rows = frame(cells)
    m = matrix_of(rows)
    assert len(m) == 4
    cube = seed_cube(rows, "test_mae", m, BLOCKS, "arm")
    assert cube.group_names == ("A", "B") and sorted(np.bincount(cube.groups)) == [1, 3]
    draws = bootstrap_draws(cube.groups, cube.values.shape[2], 4000, 3)
    logs, _ = bootstrap_pair(*cube.pair("a", "b"), draws)
    assert np.mean(np.isclose(logs, math.log(1.2))) == pytest.approx(0.25, abs=0.025)
    assert np.mean(np.isclose(logs, math.log(0.9))) == pytest.approx(0.25, abs=0.025)
    lo, hi = percentile_ci(logs)
    assert (math.exp(lo), math.exp(hi)) == pytest.approx((0.9, 1.2))


def test_bootstrap_is_reproducible_and_seeded() -> None:
    rng = np.random.default_rng(0)
    cells = {(d, m, a): list(rng.uniform(1, 2, 3)) for d in "xyz" for m in "pq" for a in "ab"}
    rows = frame(cells)
    first, again, other = boot(rows, "a", "b"), boot(rows, "a", "b"), boot(rows, "a", "b", seed=8)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_effects_table_point_estimates_by_hand() -> None:
    # blocks (x, p) and (y, p): a/b = 0.8 and 1.25 (seed means) -> geometric mean 1; a wins 1
    rows = frame({
        ("x", "p", "a"): [0.7, 0.9], ("x", "p", "b"): [1.0, 1.0], ("x", "p", "none"): [2.0, 2.0],
        ("y", "p", "a"): [5.0, 5.0], ("y", "p", "b"): [4.0, 4.0], ("y", "p", "none"): [4.0, 6.0],
    })  # fmt: skip
    m = matrix_of(rows)
    cube = seed_cube(rows, "test_mae", m, BLOCKS, "arm")
    eff = effects_table(cube, m, ["none", "b"], n_boot=200)
    got = eff.set_index(["family", "versus"])
    assert got.loc[("a", "b"), "gmean_ratio"] == pytest.approx(1.0)
    assert got.loc[("a", "b"), "win_rate"] == pytest.approx(0.5)
    assert got.loc[("a", "none"), "gmean_ratio"] == pytest.approx(math.sqrt(0.4 * 1.0))
    assert got.loc[("none", "b"), "gmean_ratio"] == pytest.approx(math.sqrt(2.0 * 1.25))
    assert list(got.loc[("a", "b"), ["blocks", "datasets", "min_seeds"]]) == [2, 2, 2]
    assert set(eff["versus"]) == {"none", "b"} and len(eff) == 4  # no self-comparisons
    assert point_effect(m, "a", "b") == pytest.approx((1.0, 0.5, 2))


# -- primary comparison: scipy, baycomp, closed forms -----------------------------------------

D = np.array([-0.021, 0.004, -0.013, 0.009, -0.002, -0.017, 0.011, -0.006, 0.001, -0.008])


def test_tost_matches_two_scipy_one_sided_t_tests() -> None:
    low, high = math.log(0.99), math.log(1.01)
    p, p_lo, p_hi = tost(D, low, high)
    ref_lo = ss.ttest_1samp(D, low, alternative="greater").pvalue
    ref_hi = ss.ttest_1samp(D, high, alternative="less").pvalue
    assert p_lo == pytest.approx(ref_lo, rel=1e-10) and p_hi == pytest.approx(ref_hi, rel=1e-10)
    assert p == pytest.approx(max(ref_lo, ref_hi), rel=1e-10)
    assert tost(np.full(4, 0.001), low, high)[0] == 0.0  # no spread, inside the margin
    assert tost(np.full(4, 0.5), low, high)[0] == 1.0


def primary_matrix(d: np.ndarray) -> pd.DataFrame:
    b = np.linspace(1.0, 3.0, d.size)
    return pd.DataFrame({"a": b * np.exp(d), "b": b})


def test_primary_against_scipy_and_baycomp() -> None:
    import baycomp

    m = primary_matrix(D)
    p = primary_comparison(m, "a", "b", margin=0.01, ci=(0.9, 1.1))
    la, lb = np.log(m["a"].to_numpy()), np.log(m["b"].to_numpy())
    assert p.wilcoxon_p == pytest.approx(ss.wilcoxon(la, lb, zero_method="zsplit").pvalue)
    left, rope, right = baycomp.SignedRankTest.probs(
        la, lb, math.log(1.01), nsamples=p.bayes_samples, random_state=0
    )
    # errors: x > y (baycomp's "left", better for scores) means a is WORSE
    assert (p.p_better, p.p_equivalent, p.p_worse) == (right, rope, left)
    assert p.gmean_ratio == pytest.approx(math.exp(D.mean()))
    assert p.blocks == D.size and (p.ci_low, p.ci_high) == (0.9, 1.1)
    assert p.tost_p == pytest.approx(tost(D, math.log(0.99), math.log(1.01))[0])


def test_bayes_sign_better_means_lower_error() -> None:
    b = np.linspace(1, 2, 12)
    better = bayes_signed_rank(np.log(0.9 * b), np.log(b), math.log(1.01), 5000)
    assert better[0] > 0.99 and better[2] < 0.01
    m = pd.DataFrame({"a": 0.9 * b, "b": b})
    p = primary_comparison(m, "a", "b")
    assert p.verdict == "better" and "better (P = 1.00" in verdict_sentence(p)
    same = primary_comparison(pd.DataFrame({"a": b * 1.0005, "b": b}), "a", "b")
    assert same.verdict == "practically equivalent" and same.p_equivalent > 0.95
    assert verdict_word(0.5, 0.3, 0.2) == "undecided"


def test_power_against_the_closed_form() -> None:
    z = 1.959963984540054 + 0.8416212335729143  # z_0.975 + z_0.8 (normal table)
    sd, n, effect = 0.02634, 17, -0.000891
    assert mde_log(sd, n) == pytest.approx(z * sd / math.sqrt(n), rel=0.01)
    assert blocks_needed(sd, effect) == pytest.approx((z * sd / effect) ** 2, rel=0.01)
    assert blocks_needed(sd, 0.0) == math.inf and math.isnan(mde_log(sd, 1))
    assert pct(math.log(1.05)) == pytest.approx(5.0)
    p = primary_comparison(primary_matrix(D), "a", "b")
    sd_d = D.std(ddof=1)
    assert p.mde_pct == pytest.approx(100 * math.expm1(z * sd_d / math.sqrt(D.size)), rel=0.01)
    assert p.blocks_needed == math.ceil((z * sd_d / D.mean()) ** 2)


def test_rel_mae_divides_by_none_of_the_same_block_and_seed() -> None:
    rows = pd.DataFrame({
        "dataset": ["x", "x", "x", "x", "y"], "model": ["m"] * 5, "seq_len": [7] * 5,
        "horizon": [1] * 5, "seed": ["0", "0", "1", "1", "0"],
        "arm": ["none", "drop", "none", "drop", "drop"], "test_mae": [2.0, 1.0, 4.0, 5.0, 3.0],
        "status": ["finished"] * 5,
    })  # fmt: skip
    got = rel_mae(rows).to_numpy()
    assert got[:4] == pytest.approx([1.0, 0.5, 1.0, 1.25])
    assert math.isnan(got[4])  # no `none` in its block: NaN (listed as dropped)
