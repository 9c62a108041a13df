"""The M4 competition's statistical benchmarks Naive, sNaive and Naive2, as its R code does them.

Naive and sNaive are ``forecasters.naive`` / ``forecasters.seasonal_naive`` (the same
definitions); this module adds the seasonality test, the classical multiplicative
decomposition and Naive2, and scores forecasts the M4 way (``score_m4``).

Source: M4-methods, ``Benchmarks and Evaluation.R`` (Makridakis, Spiliotis & Assimakopoulos,
IJF 2020), with R's ``stats::acf`` and ``stats::decompose`` that it calls::

    SeasonalityTest <- function(input, ppy){
      tcrit <- 1.645
      if (length(input)<3*ppy){ test_seasonal <- FALSE }else{
        xacf <- acf(input, plot = FALSE)$acf[-1, 1, 1]
        clim <- tcrit/sqrt(length(input)) * sqrt(cumsum(c(1, 2 * xacf^2)))
        test_seasonal <- ( abs(xacf[ppy]) > clim[ppy] )
        if (is.na(test_seasonal)==TRUE){ test_seasonal <- FALSE } }
      return(test_seasonal) }
    ...
    if (ST==T){
      Dec <- decompose(input,type="multiplicative")
      des_input <- input/Dec$seasonal
      SIout <- head(rep(Dec$seasonal[(length(Dec$seasonal)-ppy+1):length(Dec$seasonal)], fh), fh)
    }else{ des_input <- input ; SIout <- rep(1, fh) }
    f1 <- naive(input, h=fh)$mean                   # Naive
    f2 <- naive_seasonal(input, fh=fh)              # sNaive: the last ppy values repeated
    f3 <- naive(des_input, h=fh)$mean*SIout         # Naive2

Scores (``score_m4``): per series the sMAPE / MASE of the ``fh`` points are averaged, then the
mean over series; MASE's in-sample scale uses the seasonal lag ``ppy`` (``mase_cal``); OWA is
relative to Naive2 (``metrics``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from synprune.references.forecasters import ALPHAS, fit_linear, naive, seasonal_naive
from synprune.references.metrics import mase, mase_scale, owa, smape

Array = NDArray[np.float64]

MIN_STD = 1e-8  # a fit part with std <= MIN_STD is scaled by 1 (datasets.scaling's rule)
TCRIT = 1.645  # one-sided 95 % normal quantile of the M4 seasonality test (90 % two-sided)


def _series(x: ArrayLike, name: str = "x") -> Array:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name}: need a non-empty series of finite numbers")
    return a


def r_acf(x: ArrayLike, lag_max: int | None = None) -> Array:
    """Autocorrelations at lags 1..lag_max as R's ``acf(x)$acf[-1]`` computes them.

    ``r_k = sum_{t<n-k} (x_t - mean)(x_{t+k} - mean) / sum_t (x_t - mean)^2`` (denominator n
    for both: the biased estimator of ``stats::acf``). R's default ``lag.max`` is
    ``floor(10 * log10(n))`` capped at ``n - 1``; a constant series gives NaN (0/0) as in R.
    """
    a = _series(x)
    n = a.size
    if lag_max is None:
        lag_max = int(np.floor(10 * np.log10(n)))
    lag_max = max(0, min(int(lag_max), n - 1))
    d = a - a.mean()
    den = float(d @ d)
    num = np.array([d[: n - k] @ d[k:] for k in range(1, lag_max + 1)], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den if den > 0 else np.full(lag_max, np.nan)


def seasonality_test(x: ArrayLike, season: int, tcrit: float = TCRIT) -> bool:
    """M4's ``SeasonalityTest``: is the autocorrelation at lag ``season`` significant?

    Seasonal iff ``|r_m| > tcrit / sqrt(n) * sqrt(1 + 2 * sum_{k<m} r_k^2)`` (Bartlett's limit
    for the standard error of ``r_m``); never for ``n < 3m`` or ``m <= 1``. Exactly as in R,
    the ACF stops at R's default ``lag.max = floor(10 log10 n)``: where that is below ``m`` the
    test is NA and so False (for m = 24, series shorter than 252 points).
    """
    a = _series(x)
    m = int(season)
    if m <= 1 or a.size < 3 * m:
        return False
    r = r_acf(a)
    if r.size < m or not np.isfinite(r[:m]).all():
        return False
    clim = tcrit / np.sqrt(a.size) * np.sqrt(1.0 + 2.0 * np.sum(r[: m - 1] ** 2))
    return bool(abs(r[m - 1]) > clim)


def decompose_multiplicative(x: ArrayLike, season: int) -> tuple[Array, Array]:
    """``(trend, seasonal)`` of R's ``decompose(ts(x, frequency=season), "multiplicative")``.

    Trend: the centred moving average of order ``m`` (for even m the 2 x m MA, weights
    ``[0.5, 1, ..., 1, 0.5] / m``; for odd m the plain m-term MA), NaN where the window leaves
    the series. Seasonal: the ratios ``x / trend`` averaged per phase (positions i, i+m, ...
    from the series' start, NaN skipped), normalised to mean 1, and repeated over the series.
    """
    a = _series(x)
    m = int(season)
    if m <= 1 or a.size < 2 * m:
        raise ValueError(f"decompose: season={season} needs m >= 2 and at least 2m points")
    w = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    half = w.size // 2  # R's filter(sides = 2): the window is centred on each point
    trend = np.full(a.size, np.nan)
    trend[half : a.size - half] = np.convolve(a, w, mode="valid")
    ratio = a / trend
    pad = (-a.size) % m
    phases = np.r_[ratio, np.full(pad, np.nan)].reshape(-1, m)
    figure = np.nanmean(phases, axis=0)
    figure = figure / figure.mean()
    seasonal = np.tile(figure, a.size // m + 1)[: a.size]
    return trend, seasonal


def seasonal_indices(x: ArrayLike, horizon: int, season: int) -> tuple[Array, Array]:
    """``(in-sample indices, out-of-sample indices)`` of M4's benchmarks (all 1 when the
    seasonality test says not seasonal)."""
    a = _series(x)
    m = int(season)
    if m > 1 and seasonality_test(a, m):
        _, seasonal = decompose_multiplicative(a, m)
        return seasonal, np.resize(seasonal[-m:], int(horizon))
    return np.ones(a.size), np.ones(int(horizon))


def naive2(x: ArrayLike, horizon: int, season: int) -> Array:
    """Naive on the seasonally adjusted series, reseasonalised (M4's Naive2); the argument
    order of ``forecasters.seasonal_naive``."""
    a = _series(x)
    si_in, si_out = seasonal_indices(a, horizon, season)
    return (a[-1] / si_in[-1]) * si_out


Forecaster = Callable[[Array, int, int], Array]  # (train, horizon, season) -> forecast

#: M4's Naive (``forecast::naive``), sNaive (``naive_seasonal``: the last season repeated, which
#: is ``forecasters.seasonal_naive``) and Naive2.
M4_BENCHMARKS: dict[str, Forecaster] = {
    "naive": lambda x, h, m: naive(x, h),
    "snaive": seasonal_naive,
    "naive2": naive2,
}


def series_errors(
    train: ArrayLike, test: ArrayLike, forecast: ArrayLike, season: int
) -> tuple[float, float]:
    """``(sMAPE, MASE)`` of one series, each averaged over its horizon (M4's ``smape_cal`` /
    ``mase_cal``; a point with ``|y| + |f| = 0`` counts 0, see ``metrics.smape``)."""
    return smape(test, forecast), mase(test, forecast, mase_scale(train, season))


def score_m4(
    forecasts: Mapping[str, Mapping[str, ArrayLike]],
    table: Mapping[str, tuple[ArrayLike, ArrayLike]],
    season: int,
    *,
    reference: str = "naive2",
) -> dict[str, dict[str, float]]:
    """``{forecaster: {"smape", "mase", "owa"}}``: per-series errors averaged over series.

    ``forecasts[name][series_id]`` is that forecaster's forecast of ``table[series_id]``'s test
    points; every forecaster must cover the same series. OWA is relative to ``reference``'s
    scores (computed here with :func:`naive2` over the same series when it is not among the
    forecasters).
    """
    ids = list(table)
    if not ids:
        raise ValueError("score_m4: no series")
    out: dict[str, dict[str, float]] = {}
    for name, per_series in forecasts.items():
        missing = [sid for sid in ids if sid not in per_series]
        if missing:
            raise ValueError(f"score_m4: forecaster {name!r} has no forecast for {missing[0]}")
        errs = np.array([series_errors(*table[s], per_series[s], season) for s in ids])
        out[name] = {"smape": float(errs[:, 0].mean()), "mase": float(errs[:, 1].mean())}
    if reference in out:
        ref = out[reference]
    else:
        ref_fc = {s: naive2(table[s][0], len(np.asarray(table[s][1])), season) for s in ids}
        ref = score_m4({reference: ref_fc}, table, season, reference=reference)[reference]
    for scores in out.values():
        scores["owa"] = owa(scores["smape"], scores["mase"], ref["smape"], ref["mase"])
    return out


def linear_m4(
    x: ArrayLike, horizon: int, seq_len: int, alphas: tuple[float, ...] = ALPHAS
) -> Array:
    """Ridge on an input window of ``seq_len`` points, a direct ``horizon``-step forecast, under
    the M4 protocol's layout (``synprune.datasets.m4_series``; n = training length, H = horizon):

    * scaler: mean and standard deviation of rows ``[0, n - H)`` (1 if it is ``<= MIN_STD``);
    * fit (``forecasters.fit_linear``): every window whose targets end before ``n - H``;
    * validation (chooses alpha): the one window whose targets are the last H training points;
    * forecast: from the last ``seq_len`` training points, unscaled. The test is never read.
    """
    a = _series(x)
    n, h, L = a.size, int(horizon), int(seq_len)
    if L < 1 or n - 2 * h - L + 1 < 1:
        raise ValueError(
            f"linear_m4: seq_len={seq_len} needs 1 <= seq_len <= n - 2 * horizon "
            f"= {n - 2 * h} for a series of {n} points"
        )
    fit_part = a[: n - h]
    mu, sd = float(fit_part.mean()), float(fit_part.std())
    sd = sd if sd > MIN_STD else 1.0
    z = (a - mu) / sd
    win = np.lib.stride_tricks.sliding_window_view(z[: n - h], L + h)
    val_in, val_out = z[n - h - L : n - h][None], z[n - h :][None]
    fit = fit_linear(win[:, :L], win[:, L:], val_in, val_out, alphas)
    return fit.predict(z[n - L :][None])[0] * sd + mu


#: the reference forecasters ``reference_scores`` reports, in order
REFERENCE_FORECASTERS = ("naive", "snaive", "naive2", "linear")


def reference_scores(
    table: Mapping[str, tuple[ArrayLike, ArrayLike]], horizon: int, season: int, seq_len: int
) -> dict[str, dict[str, float]]:
    """``{forecaster: {"smape", "mase", "owa"}}`` of M4's Naive, sNaive, Naive2 and the linear
    reference (:func:`linear_m4` on ``seq_len`` inputs) over the series of ``table``
    (``{id: (train, test)}``), scored by :func:`score_m4` (OWA relative to Naive2)."""
    forecasts: dict[str, dict[str, ArrayLike]] = {
        f: {
            sid: fn(np.asarray(train, dtype=float), horizon, season)
            for sid, (train, _) in table.items()
        }
        for f, fn in M4_BENCHMARKS.items()
    }
    with _one_blas_thread():
        forecasts["linear"] = {
            sid: linear_m4(tr, horizon, seq_len) for sid, (tr, _) in table.items()
        }
    return score_m4({f: forecasts[f] for f in REFERENCE_FORECASTERS}, table, season)


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Single-threaded BLAS for the many small ridge problems (168 x 168): multi-threaded
    OpenBLAS oversubscribes a busy 2-core machine (measured for 414 series: 37 s with 2 BLAS
    threads under load, 2.2 s with 1). ``threadpoolctl`` is optional (a numpy-stack package)."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the pinned stack has it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
