"""Statistics for the benchmark: block design, Friedman / Iman-Davenport, Nemenyi, Wilcoxon-Holm.

Method after Demšar (2006), "Statistical comparisons of classifiers over multiple data sets",
JMLR 7:1-30. The statistics are pure functions (``ranking``, ``tests``, ``headline``,
``selection``, ``cells``, ``integrity``, ``analysis``, ``summary``; and on top of the rank
tests ``relative`` (rel_mae), ``effects`` (geometric-mean ratios, hierarchical bootstrap),
``primary`` (Wilcoxon, TOST, Bayesian signed-rank), ``power``, ``dm`` (Diebold-Mariano),
``refs`` (reference forecasts), gathered by ``answers`` and worded by ``verdict``); ``io``
reads CSV rows (MLflow rows come from ``synprune.tracking.reader``); ``report`` /
``report_md`` / ``plots`` / ``plots_sensitivity`` / ``outdir`` write results. matplotlib is
imported lazily; MLflow never.
"""

from synprune.stats.analysis import StatsResult, analyze
from synprune.stats.arms import Arm, parse_arm, swept_fields
from synprune.stats.ranking import (
    BlockDesign,
    IncompleteBlocksError,
    average_ranks,
    block_matrix,
    cd_groups,
    critical_difference,
    q_alpha,
    rank_matrix,
    tied_positions,
)
from synprune.stats.selection import Selection, select_on
from synprune.stats.tests import (
    FriedmanResult,
    friedman,
    friedman_chi2_formula,
    holm,
    iman_davenport,
    nemenyi,
    wilcoxon_holm,
)

__all__ = [
    "Arm",
    "BlockDesign",
    "FriedmanResult",
    "IncompleteBlocksError",
    "Selection",
    "StatsResult",
    "analyze",
    "average_ranks",
    "block_matrix",
    "cd_groups",
    "critical_difference",
    "friedman",
    "friedman_chi2_formula",
    "holm",
    "iman_davenport",
    "nemenyi",
    "parse_arm",
    "q_alpha",
    "rank_matrix",
    "select_on",
    "swept_fields",
    "tied_positions",
    "wilcoxon_holm",
]
