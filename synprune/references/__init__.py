"""Reference forecasters and scale-free forecast errors (no torch models, no Ray, no MLflow).

``metrics``: sMAPE, MASE and OWA exactly as the M4 competition's evaluation code defines them
(Makridakis, Spiliotis & Assimakopoulos 2020; M4-methods ``Benchmarks and Evaluation.R``).
Imports only numpy; used by ``synprune.experiment`` (per-trial ``smape``/``mase``) and by
``synprune reference``.
"""

from synprune.references.metrics import mase, mase_scale, owa, smape

__all__ = ["mase", "mase_scale", "owa", "smape"]
