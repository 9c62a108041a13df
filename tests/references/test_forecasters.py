"""Reference forecasters (synprune.references.forecasters) against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from synprune.references import (
    ALPHAS,
    fit_linear,
    mase_scale,
    naive,
    ridge,
    seasonal_naive,
    seasonal_naive_scale,
)


def test_naive_repeats_the_last_value() -> None:
    assert naive([1.0, 2.0, 5.0], 3).tolist() == [5.0, 5.0, 5.0]
    assert naive([[1.0, 2.0], [7.0, 3.0]], 2).tolist() == [[2.0, 2.0], [3.0, 3.0]]


def test_seasonal_naive_repeats_the_last_season() -> None:
    # y = 1..7, last index t = 6 (value 7), m = 3: step h reads y[t + h - 3 ceil(h/3)]
    # h=1 -> y[4]=5, h=2 -> y[5]=6, h=3 -> y[6]=7, h=4 -> y[4]=5, h=5 -> y[5]=6
    y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert seasonal_naive(y, 5, 3).tolist() == [5.0, 6.0, 7.0, 5.0, 6.0]
    assert seasonal_naive(y, 2, 1).tolist() == naive(y, 2).tolist()
    batch = np.array([[0.0, 1.0, 2.0], [10.0, 20.0, 30.0]])
    assert seasonal_naive(batch, 4, 2).tolist() == [[1, 2, 1, 2], [20, 30, 20, 30]]
    with pytest.raises(ValueError, match="season 4 needs at least 4"):
        seasonal_naive(y[:3], 1, 4)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        seasonal_naive(y, 0, 1)


def test_seasonal_naive_scale_over_observed_pairs() -> None:
    y = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    # lag 2: |2-1|, |6-3|, |4-2| -> mean 2
    assert seasonal_naive_scale(y, 2) == pytest.approx(2.0) == mase_scale(y, 2)
    # row 3 not observed: pairs (1,3) and (3,5) drop out, |2-1| and |4-2| are left -> 1.5
    valid = np.array([True, True, True, False, True])
    assert seasonal_naive_scale(y, 2, valid) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="no observed pair"):
        seasonal_naive_scale(y, 2, np.array([True, True, False, False, False]))


def test_ridge_closed_form_matches_a_hand_computation() -> None:
    # one input, one output: slope = Sxy / (Sxx + alpha), intercept = ybar - slope xbar
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 4.0, 8.0])  # xbar 1.5, ybar 4, Sxx 5, Sxy 11
    fits = ridge(x, y, (1.0, 5.0))
    assert fits[0].coef.ravel() == pytest.approx([11 / 6])
    assert fits[0].intercept == pytest.approx([4 - 1.5 * 11 / 6])
    assert fits[1].coef.ravel() == pytest.approx([11 / 10])
    assert fits[1].predict(np.array([[4.0]])).ravel() == pytest.approx([4 + 2.5 * 1.1])


def test_fit_linear_picks_alpha_on_validation_and_predicts_direct_multi_output() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3, 2))  # [N, L, C] windows
    w = rng.standard_normal((6, 2))
    y = x.reshape(200, -1) @ w + 0.5  # noiseless, two horizon steps
    fit = fit_linear(x[:150], y[:150], x[150:], y[150:])
    assert fit.alpha == min(ALPHAS)  # least shrinkage fits a noiseless linear map best
    assert fit.predict(x[150:]) == pytest.approx(y[150:], abs=1e-4)
    assert fit.val_mse < 1e-8
    # pure noise: the largest penalty wins (prediction close to the training mean)
    noise = rng.standard_normal((200, 2))
    fit = fit_linear(x[:150], noise[:150], x[150:], noise[150:])
    assert fit.alpha == max(ALPHAS)
    with pytest.raises(ValueError, match="5 inputs per window; fit on 6"):
        fit.predict(np.zeros((2, 5)))
