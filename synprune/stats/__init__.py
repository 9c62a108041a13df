"""Statistics for the benchmark: block design, Friedman / Iman-Davenport, Nemenyi, Wilcoxon-Holm.

Method after Demšar (2006), "Statistical comparisons of classifiers over multiple data sets",
JMLR 7:1-30. The statistics are pure functions (``ranking``, ``tests``, ``headline``,
``analysis``); ``io`` / ``mlflow_sql`` read trial rows, ``report`` / ``plots`` /
``mlflow_log`` write results. MLflow and matplotlib are imported lazily.
"""

from synprune.stats.analysis import StatsResult, analyze
from synprune.stats.ranking import (
    BlockDesign,
    IncompleteBlocksError,
    average_ranks,
    block_matrix,
    cd_groups,
    critical_difference,
    q_alpha,
    rank_matrix,
)
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
    "BlockDesign",
    "FriedmanResult",
    "IncompleteBlocksError",
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
    "q_alpha",
    "rank_matrix",
    "wilcoxon_holm",
]
