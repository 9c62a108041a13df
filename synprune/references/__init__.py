"""Reference forecasters and scale-free forecast errors (no torch models, no Ray, no MLflow).

``metrics``: sMAPE, MASE and OWA exactly as the M4 competition's evaluation code defines them
(Makridakis, Spiliotis & Assimakopoulos 2020; M4-methods ``Benchmarks and Evaluation.R``).
Imports only numpy; used by ``synprune.experiment`` (per-trial ``smape``/``mase``) and by
``synprune reference``.
``forecasters``: ``naive``, ``seasonal_naive``, ``fit_linear`` (ridge on the input window, alpha
chosen on validation) and ``seasonal_naive_scale`` (the MASE scale over observed pairs).
"""

from synprune.references.forecasters import (
    ALPHAS,
    LinearFit,
    fit_linear,
    naive,
    ridge,
    seasonal_naive,
    seasonal_naive_scale,
)
from synprune.references.metrics import mase, mase_scale, owa, smape

__all__ = [
    "ALPHAS",
    "LinearFit",
    "fit_linear",
    "mase",
    "mase_scale",
    "naive",
    "owa",
    "ridge",
    "seasonal_naive",
    "seasonal_naive_scale",
    "smape",
]
