"""Scale-free forecast errors as the M4 competition defines them.

Source: M4-methods, ``Benchmarks and Evaluation.R`` (Makridakis, Spiliotis & Assimakopoulos,
"The M4 Competition: 100,000 time series and 61 forecasting methods", IJF 2020)::

    smape_cal <- function(outsample, forecasts) {
      smape <- (abs(outsample - forecasts) * 200) / (abs(outsample) + abs(forecasts))
      return(smape) }
    mase_cal <- function(insample, outsample, forecasts) {
      frq <- frequency(insample)
      forecastsNaiveSD <- rep(NA, frq)
      for (j in (frq + 1):length(insample))
        forecastsNaiveSD <- c(forecastsNaiveSD, insample[j - frq])
      masep <- mean(abs(insample - forecastsNaiveSD), na.rm = TRUE)
      mase <- (abs(outsample - forecasts)) / masep
      return(mase) }

Per series the horizon's values are averaged; a method's score is the mean over series; OWA is
``0.5 * (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2)`` on those means.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean of ``200 |y - f| / (|y| + |f|)`` over every point (percent, as M4 reports it).

    A point where ``|y| + |f| == 0`` is 0/0 in the R code (NaN); here it counts as 0 error
    (both are exactly zero: a perfect forecast), so one such point does not void the series."""
    y = np.asarray(actual, dtype=np.float64).ravel()
    f = np.asarray(forecast, dtype=np.float64).ravel()
    if y.shape != f.shape or y.size == 0:
        raise ValueError(f"smape: actual {y.shape} and forecast {f.shape} must match, non-empty")
    den = np.abs(y) + np.abs(f)
    num = 200.0 * np.abs(y - f)
    terms = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(terms.mean())


def mase_scale(insample: ArrayLike, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast ``y[t - season]`` (M4's ``masep``).

    ``season = 1`` is the naive one-step MAE. The series must be longer than ``season``.
    """
    x = np.asarray(insample, dtype=np.float64).ravel()
    m = int(season)
    if m < 1:
        raise ValueError(f"mase_scale: season={season} must be an integer >= 1")
    if x.size <= m:
        raise ValueError(f"mase_scale: {x.size} in-sample points; need more than season={m}")
    return float(np.abs(x[m:] - x[:-m]).mean())


def mase(actual: ArrayLike, forecast: ArrayLike, scale: float) -> float:
    """Mean absolute error of ``forecast`` divided by ``scale`` (from :func:`mase_scale`)."""
    y = np.asarray(actual, dtype=np.float64).ravel()
    f = np.asarray(forecast, dtype=np.float64).ravel()
    if y.shape != f.shape or y.size == 0:
        raise ValueError(f"mase: actual {y.shape} and forecast {f.shape} must match, non-empty")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"mase: scale={scale} must be a positive finite number")
    return float(np.abs(y - f).mean() / scale)


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    """M4's Overall Weighted Average relative to Naive2 (1.0 = as good as Naive2)."""
    return 0.5 * (smape_value / smape_naive2 + mase_value / mase_naive2)
