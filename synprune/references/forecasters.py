"""Reference forecasters: pure functions on numpy arrays (float64), no torch, no fitting state.

* :func:`naive` -- persistence: the last observed value, repeated for every step.
* :func:`seasonal_naive` -- step ``h`` (1-based) repeats the last observed value of the same
  phase, ``y[t + h - m * ceil(h / m)]`` (Hyndman & Athanasopoulos, *Forecasting: Principles and
  Practice*, 3rd ed., sec. 5.2, "Seasonal naive method"); ``m = 1`` is :func:`naive`.
* :func:`fit_linear` -- ridge regression on the flattened input window (target history plus
  the features), one output per horizon step (direct multi-output), closed form with an
  unpenalised intercept; fit on the training windows only, ``alpha`` chosen from a fixed grid
  by the validation MSE (no refit on train + val).
* :func:`seasonal_naive_scale` -- M4's MASE denominator (:func:`~synprune.references.metrics.
  mase_scale`) over the observed pairs only, for series with unobserved (filled) values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from synprune.references.metrics import mase_scale

#: the ridge penalties tried, smallest first (inputs are standardised: see ``fit_linear``)
ALPHAS: tuple[float, ...] = tuple(float(a) for a in 10.0 ** np.arange(-4, 5))


def _check_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def naive(history: ArrayLike, horizon: int) -> np.ndarray:
    """``[..., L]`` histories (time last) -> ``[..., H]``: the last value repeated."""
    h = _check_int("horizon", horizon)
    x = np.asarray(history, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError("naive: the history needs at least one value")
    return np.repeat(x[..., -1:], h, axis=-1)


def seasonal_naive(history: ArrayLike, horizon: int, season: int) -> np.ndarray:
    """``[..., L]`` histories (time last, ``L >= season``) -> ``[..., H]``.

    With ``t`` the last observed index, step ``h = 1..H`` is ``y[t + h - m * ceil(h / m)]``,
    i.e. ``history[..., L - m + (h - 1) % m]``: the last full season repeated.
    """
    h = _check_int("horizon", horizon)
    m = _check_int("season", season)
    x = np.asarray(history, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] < m:
        have = x.shape[-1] if x.ndim else 0
        raise ValueError(f"seasonal_naive: {have} history values; season {m} needs at least {m}")
    idx = x.shape[-1] - m + np.arange(h) % m
    return x[..., idx]


def seasonal_naive_scale(insample: ArrayLike, season: int, valid: ArrayLike | None = None) -> float:
    """In-sample MAE of ``y[t] - y[t - m]`` (M4's MASE scale, :func:`mase_scale`).

    ``valid`` (bool, same length) marks observed values: pairs with an unobserved end are left
    out, so values a gap policy filled in never enter the scale. ``ValueError`` if no pair
    is left (series shorter than ``season + 1``).
    """
    m = _check_int("season", season)
    if valid is None:
        return mase_scale(insample, m)
    x = np.asarray(insample, dtype=np.float64).ravel()
    ok = np.asarray(valid, dtype=bool).ravel()
    if ok.shape != x.shape:
        raise ValueError(f"seasonal_naive_scale: valid {ok.shape} must match insample {x.shape}")
    if ok.all():
        return mase_scale(x, m)
    pairs = ok[m:] & ok[:-m] if x.size > m else np.zeros(0, dtype=bool)
    if not pairs.any():
        raise ValueError(f"seasonal_naive_scale: no observed pair of values {m} rows apart")
    return float(np.abs(x[m:] - x[:-m])[pairs].mean())


@dataclass(frozen=True)
class LinearFit:
    """A fitted ridge model: ``predict(x) = flatten(x) @ coef + intercept``."""

    coef: np.ndarray  # [D, H]
    intercept: np.ndarray  # [H]
    alpha: float
    val_mse: float  # validation MSE of the chosen alpha (the units of ``y``)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """``[N, ...]`` inputs -> ``[N, H]``."""
        flat = _flat(x)
        if flat.shape[1] != self.coef.shape[0]:
            raise ValueError(
                f"linear: {flat.shape[1]} inputs per window; fit on {self.coef.shape[0]}"
            )
        return flat @ self.coef + self.intercept


def _flat(x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"linear: inputs must be [N, ...] with N >= 1, got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def _targets(y: ArrayLike, n: int) -> np.ndarray:
    b = np.asarray(y, dtype=np.float64)
    b = b[:, None] if b.ndim == 1 else b
    if b.ndim != 2 or b.shape[0] != n:
        raise ValueError(f"linear: targets must be [N={n}, H], got shape {b.shape}")
    return b


def ridge(x: ArrayLike, y: ArrayLike, alphas: tuple[float, ...]) -> list[LinearFit]:
    """Closed-form ridge for each ``alpha``: centre inputs and targets, solve
    ``(Xc'Xc + alpha I) W = Xc'Yc``, intercept ``mean(y) - mean(x) W`` (unpenalised; Hastie,
    Tibshirani & Friedman, *The Elements of Statistical Learning*, 2nd ed., eq. 3.44 and
    sec. 3.4.1). ``Xc'Xc`` and ``Xc'Yc`` are formed once; each alpha is one linear solve."""
    if not alphas or any(not (np.isfinite(a) and a > 0) for a in alphas):
        raise ValueError(f"ridge: alphas must be positive finite numbers, got {alphas!r}")
    a = _flat(x)
    b = _targets(y, a.shape[0])
    mx, my = a.mean(axis=0), b.mean(axis=0)
    xc, yc = a - mx, b - my
    gram, cross = xc.T @ xc, xc.T @ yc  # [D, D], [D, H]
    eye = np.eye(gram.shape[0])
    fits = []
    for alpha in alphas:
        coef = np.linalg.solve(gram + alpha * eye, cross)
        fits.append(LinearFit(coef, my - mx @ coef, float(alpha), float("nan")))
    return fits


def fit_linear(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_val: ArrayLike,
    y_val: ArrayLike,
    alphas: tuple[float, ...] = ALPHAS,
) -> LinearFit:
    """Ridge on the training windows for every ``alpha``; the one with the lowest validation
    MSE is returned (ties: the smaller alpha). ``x_*`` are ``[N, L, C]`` (or ``[N, D]``)
    windows as the models see them (standardised with the training statistics, so one alpha
    grid suits every dataset); ``y_*`` ``[N, H]``."""
    xv = _flat(x_val)
    yv = _targets(y_val, xv.shape[0])
    best: LinearFit | None = None
    for fit in ridge(x_train, y_train, alphas):
        mse = float(np.mean((fit.predict(xv) - yv) ** 2))
        if best is None or mse < best.val_mse:
            best = LinearFit(fit.coef, fit.intercept, fit.alpha, mse)
    assert best is not None
    return best
