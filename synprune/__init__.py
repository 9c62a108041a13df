"""synprune: synaptic pruning as a drop-in replacement for dropout, plus a leak-free benchmark.

The library part (`synprune.regularizers`, `synprune.models`) imports without Ray or MLflow.
"""

__version__ = "0.1.0"
