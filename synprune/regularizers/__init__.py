"""Regularizers: the hooks the training loop calls, the built-ins, and synaptic pruning.

Registry ``regularizer`` with the built-ins ``none``, ``dropout``, ``mc_dropout``,
``synaptic``, ``weight_decay`` (AdamW's decoupled decay) and ``l1`` (an L1 penalty on the
prunable weights); each registers itself where it is defined, and the explicit imports below are
what registers them. Composites ``a+b`` (e.g. ``synaptic+dropout``) combine registered parts
(:mod:`~synprune.regularizers.composite`). Plugins register with::

    @register_regularizer("my_reg")
    class MyReg(Regularizer): ...

This package imports neither Ray nor MLflow.
"""

from __future__ import annotations

from synprune.regularizers.base import Regularizer, collapsed_tensors
from synprune.regularizers.composite import CompositeRegularizer
from synprune.regularizers.dropout import DropoutRegularizer, NoRegularizer
from synprune.regularizers.l1 import L1Regularizer
from synprune.regularizers.mc_dropout import MCDropoutRegularizer
from synprune.regularizers.registry import (
    REGULARIZERS,
    create_regularizer,
    is_composite,
    list_regularizers,
    parts,
    register_regularizer,
    regularizer_fields,
)
from synprune.regularizers.schedules import cubic_sparsity
from synprune.regularizers.selection import select_prunable
from synprune.regularizers.synaptic import SynapticPruning
from synprune.regularizers.synaptic_regularizer import SynapticRegularizer
from synprune.regularizers.weight_decay import WeightDecayRegularizer

#: Deprecated alias of ``REGULARIZERS`` for callers written before ``regularizer_fields``.
_REGISTRY = REGULARIZERS

__all__ = [
    "REGULARIZERS",
    "CompositeRegularizer",
    "DropoutRegularizer",
    "L1Regularizer",
    "MCDropoutRegularizer",
    "NoRegularizer",
    "Regularizer",
    "SynapticPruning",
    "SynapticRegularizer",
    "WeightDecayRegularizer",
    "collapsed_tensors",
    "create_regularizer",
    "cubic_sparsity",
    "is_composite",
    "list_regularizers",
    "parts",
    "register_regularizer",
    "regularizer_fields",
    "select_prunable",
]
