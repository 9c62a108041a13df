"""M4's benchmarks (``synprune.references.m4``) and ``synprune reference``.

The headline test reproduces the published M4 Hourly scores of sNaive and Naive2 on all 414
series (M4-methods ``Benchmarks and Evaluation.R``; Makridakis et al., IJF 2020); the small
tests check each step against values computed by hand (written out in the comments).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synprune.datasets.m4 import M4_FILES, M4_HOURLY, read_m4
from synprune.references.m4 import (
    M4_BENCHMARKS,
    decompose_multiplicative,
    linear_m4,
    naive2,
    r_acf,
    score_m4,
    seasonality_test,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def m4_table() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    d = Path(os.environ.get("SYNPRUNE_DATA_DIR", ""))
    missing = [f.filename for f in M4_FILES.values() if not (d / f.filename).is_file()]
    if missing:
        pytest.skip(f"M4 Hourly files {missing} not found in SYNPRUNE_DATA_DIR={d!s}")
    return read_m4("hourly", data_dir=d)


def _m4_scores(table: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    h, m = M4_HOURLY["horizon"], M4_HOURLY["season"]
    fc = {n: {s: f(tr, h, m) for s, (tr, _) in table.items()} for n, f in M4_BENCHMARKS.items()}
    return score_m4(fc, table, m)


def test_reproduces_published_m4_hourly_snaive_and_naive2(m4_table: dict) -> None:
    scores = _m4_scores(m4_table)
    assert len(m4_table) == 414
    # Published M4 Hourly results (all 414 series), to 3 decimals.
    assert round(scores["snaive"]["smape"], 3) == 13.912
    assert round(scores["snaive"]["mase"], 3) == 1.193
    assert round(scores["naive2"]["smape"], 3) == 18.383
    assert round(scores["naive2"]["mase"], 3) == 2.395
    assert scores["naive2"]["owa"] == 1.0
    # M4's Naive1 through the same code, and OWA = mean of the two ratios to Naive2.
    assert round(scores["naive"]["smape"], 3) == 43.003
    assert round(scores["naive"]["mase"], 3) == 11.608
    expected_owa = 0.5 * (13.912272896 / 18.382878118 + 1.193210207 / 2.395040007)
    assert scores["snaive"]["owa"] == pytest.approx(expected_owa, abs=1e-8)
    # The seasonality test flags every hourly series but H272 (Naive2 = Naive there).
    flat = [s for s, (tr, _) in m4_table.items() if not seasonality_test(tr, 24)]
    assert flat == ["H272"]
    tr272 = m4_table["H272"][0]
    assert np.array_equal(naive2(tr272, 48, 24), np.full(48, tr272[-1]))


def test_r_acf_by_hand() -> None:
    # x = 1,2,3,4: mean 2.5, d = -1.5,-.5,.5,1.5, sum d^2 = 5;
    # r1 = (.75 - .25 + .75)/5 = .25, r2 = (-.75 - .75)/5 = -.3, r3 = -2.25/5 = -.45;
    # R's lag.max = floor(10 log10 4) = 6, capped at n - 1 = 3.
    assert np.allclose(r_acf([1, 2, 3, 4]), [0.25, -0.3, -0.45], atol=1e-15)
    assert r_acf(np.arange(100.0)).size == 20  # floor(10 log10 100)


def test_seasonality_test_by_hand() -> None:
    x = np.tile([1.0, 2.0, 3.0, 4.0], 3)  # n = 12 = 3m, m = 4
    # d = (-1.5,-.5,.5,1.5) x 3, sum d^2 = 15; r1 = -.75/15 = -.05, r2 = -7.5/15 = -.5,
    # r3 = -4.25/15, r4 = 10/15 = .6667; limit = 1.645/sqrt(12) * sqrt(1 + 2 (r1^2+r2^2+r3^2))
    r = r_acf(x)
    assert np.allclose(r[:4], [-0.05, -0.5, -4.25 / 15, 10 / 15], atol=1e-15)
    limit = 1.645 / np.sqrt(12) * np.sqrt(1 + 2 * (0.05**2 + 0.5**2 + (4.25 / 15) ** 2))
    assert limit == pytest.approx(0.612851, abs=1e-6) and limit < 10 / 15
    assert seasonality_test(x, 4) is True
    assert seasonality_test(x, 4, tcrit=1.8) is False  # 1.8 / 1.645 * 0.6129 = 0.6706 > r4
    assert seasonality_test(x[:11], 4) is False  # n < 3m
    assert seasonality_test(x, 1) is False
    # R's default lag.max = floor(10 log10 n) < 24 for n < 252: the test is NA, i.e. False.
    wave = lambda n: 10 + np.sin(2 * np.pi * np.arange(n) / 24)  # noqa: E731
    assert seasonality_test(wave(240), 24) is False
    assert seasonality_test(wave(264), 24) is True


def test_decompose_multiplicative_by_hand() -> None:
    x = np.array([2, 4, 6, 4, 3, 5, 7, 5, 4, 6], dtype=float)  # m = 4: the 2x4 moving average
    trend, seasonal = decompose_multiplicative(x, 4)
    # trend[t] = (.5 x[t-2] + x[t-1] + x[t] + x[t+1] + .5 x[t+2]) / 4 for t = 2..7:
    # t2 (1 + 14 + 1.5)/4, t3 (2 + 13 + 2.5)/4, t4 (3 + 12 + 3.5)/4, t5 (2 + 15 + 2.5)/4,
    # t6 (1.5 + 17 + 2)/4, t7 (2.5 + 16 + 3)/4
    hand = [16.5 / 4, 17.5 / 4, 18.5 / 4, 19.5 / 4, 20.5 / 4, 21.5 / 4]
    assert np.isnan(trend[[0, 1, 8, 9]]).all()
    assert np.allclose(trend[2:8], hand, rtol=0, atol=1e-15)
    # ratios x/trend by phase (positions mod 4): 0: {t4}, 1: {t5}, 2: {t2, t6}, 3: {t3, t7}
    fig = np.array([3 / 4.625, 5 / 4.875, (6 / 4.125 + 7 / 5.125) / 2, (4 / 4.375 + 5 / 5.375) / 2])
    fig /= fig.mean()
    assert np.allclose(seasonal, np.r_[fig, fig, fig[:2]], rtol=0, atol=1e-15)
    # odd m = 3: the plain 3-term moving average
    t3, s3 = decompose_multiplicative([1.0, 2, 3, 1, 2, 3], 3)
    assert np.allclose(t3[1:5], [2, 2, 2, 2]) and np.isnan(t3[[0, 5]]).all()
    assert np.allclose(s3, [0.5, 1, 1.5, 0.5, 1, 1.5])


def test_naive2_by_hand() -> None:
    x = np.tile([1.0, 2.0, 3.0, 4.0], 3)  # seasonal (above); trend 2.5, indices .4 .8 1.2 1.6
    # last value 4 / 1.6 = 2.5, times the indices continuing the phase from position 12
    assert np.allclose(naive2(x, 6, 4), [1, 2, 3, 4, 1, 2])
    short = np.array([2, 4, 6, 4, 3, 5, 7, 5, 4, 6], dtype=float)  # n < 3m: not seasonal
    assert np.array_equal(naive2(short, 3, 4), [6, 6, 6])


def test_score_m4_by_hand() -> None:
    table = {
        "a": (np.array([1.0, 2, 3, 4]), np.array([5.0, 5])),
        "b": (np.array([2.0, 2, 4, 4]), np.array([4.0, 2])),
    }
    fc = {
        "x": {"a": np.array([5.0, 3]), "b": np.array([4.0, 4])},
        "naive2": {"a": np.array([4.0, 4]), "b": np.array([4.0, 4])},
    }
    scores = score_m4(fc, table, season=2)
    # scales (season 2): a |3-1|,|4-2| -> 2; b |4-2|,|4-2| -> 2
    # x: a sMAPE (0 + 200*2/8)/2 = 25, MASE (0 + 2)/2/2 = .5; b sMAPE (0 + 200*2/6)/2 = 33.33,
    #    MASE (0 + 2)/2/2 = .5
    # naive2: a sMAPE 200/9 = 22.22, MASE .5; b sMAPE 33.33, MASE .5
    assert scores["x"]["smape"] == pytest.approx((25 + 100 / 3) / 2)
    assert scores["x"]["mase"] == pytest.approx(0.5)
    n2 = (200 / 9 + 100 / 3) / 2
    assert scores["naive2"]["smape"] == pytest.approx(n2)
    assert scores["x"]["owa"] == pytest.approx(0.5 * ((25 + 100 / 3) / 2 / n2 + 1))


def test_linear_m4_learns_a_periodic_series_and_refuses_a_long_window() -> None:
    x = 50 + 10 * np.sin(2 * np.pi * np.arange(300) / 24)
    fc = linear_m4(x, 48, 24)
    truth = 50 + 10 * np.sin(2 * np.pi * np.arange(300, 348) / 24)
    assert np.abs(fc - truth).max() < 1e-2
    with pytest.raises(
        ValueError, match="seq_len=205 needs 1 <= seq_len <= n - 2 \\* horizon = 204"
    ):
        linear_m4(x, 48, 205)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "synprune", "reference", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip


def test_cli_reference_json_all_series(m4_table: dict) -> None:
    proc = _cli("--dataset", "m4_hourly", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out) == ["naive", "snaive", "naive2", "linear"]
    assert {k for v in out.values() for k in v} == {"smape", "mase", "owa"}
    assert round(out["snaive"]["smape"], 3) == 13.912 and round(out["naive2"]["mase"], 3) == 2.395
    assert out["naive2"]["owa"] == 1.0
    # ridge on one week of inputs: better than sNaive on both errors over the 414 series
    assert out["linear"]["smape"] < out["snaive"]["smape"]
    assert out["linear"]["mase"] < out["snaive"]["mase"]


def test_cli_reference_one_series(m4_table: dict) -> None:
    proc = _cli("--dataset", "m4_hourly:H5", "--json", "--seq-len", "96")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    train, test = m4_table["H5"]
    snaive = np.resize(train[-24:], 48)
    assert out["snaive"]["smape"] == pytest.approx(
        np.mean(200 * np.abs(test - snaive) / (np.abs(test) + np.abs(snaive)))
    )
    assert out["snaive"]["mase"] == pytest.approx(
        np.mean(np.abs(test - snaive)) / np.mean(np.abs(train[24:] - train[:-24]))
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dataset", "bitcoin"), "--dataset='bitcoin' is invalid; allowed: m4_hourly or"),
        (("--dataset", "m4_hourly:H999"), "--dataset='m4_hourly:H999' is invalid"),
        (
            ("--dataset", "m4_hourly", "--seq-len", "605"),
            "--seq-len=605 is invalid; allowed: an integer in [1, 604]",
        ),
        (
            ("--dataset", "m4_hourly:H1", "--seq-len", "0"),
            "--seq-len=0 is invalid; allowed: an integer >= 1",
        ),
    ],
)
def test_cli_reference_bad_inputs(
    request: pytest.FixtureRequest,
    args: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from synprune.cli.main import main

    if "H999" in message or "605" in message:  # refused after reading the files
        request.getfixturevalue("m4_table")
    assert main(["reference", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err, err
