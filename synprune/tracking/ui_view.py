"""The experiment's ready-made MLflow UI view: key columns shown, trials sorted by
``ratio_to_naive``, the training curves and test errors charted first.

MLflow 3.17's runs page has no server-side "default columns" setting: a fresh browser shows
Created / Dataset / Duration / Source / Models and hides every metric, param and tag behind
"Columns". What it has is *shared views*: an experiment tag ``mlflow.sharedViewState.<key>``
holding the page's UI state as JSON, opened by the URL parameter ``viewStateShareKey=<key>``
(the UI's own "Share" button writes such tags). The Tracker writes one under the key
``synprune`` and ``synprune ui`` prints the link; in the page, "Override saved view" (one
click) keeps it as the browser's default for that experiment. ``workflowType=machine_learning``
in the link selects the model-training navigation (the toggle is per browser, default GenAI).

The state's keys are those the UI persists (``selectedColumns``, ``columnOrder``,
``columnWidths``, ``compareRunCharts``, ``compareRunSections``, ``isAccordionReordered``, ...)
plus the search facets (``orderByKey``, ``orderByAsc``); column ids are the UI's canonical keys
(``metrics.`test_mae```, ``tags.`arm```, ``attributes.`Run Name```).
"""

from __future__ import annotations

import json
from typing import Any

from synprune.tracking.schema import KEY_METRICS

VIEW_KEY = "synprune"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
GRID_TAGS = ("arm", "model", "dataset", "seq_len", "horizon", "seed")
TRAINING_CURVES = ("val_loss", "train_loss", "sparsity")
TEST_BARS = (
    "ratio_to_naive",
    "test_mae",
    "naive_mae",
    "snaive_mae",
    "linear_mae",
    "final_sparsity",
)


def _col(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


def _line(uuid: str, section: str, metric: str) -> dict[str, Any]:
    return {
        "type": "LINE", "uuid": uuid, "metricSectionId": section, "metricKey": metric,
        "displayName": metric, "runsCountToCompare": 10, "deleted": False, "isGenerated": True,
        "lineSmoothness": 0, "xAxisScaleType": "linear", "scaleType": "linear",
        "range": {}, "xAxisKey": "step", "selectedXAxisMetricKey": "", "yAxisKey": "metric",
        "yAxisExpressions": [], "ignoreOutliers": False, "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
    }  # fmt: skip


def _bar(uuid: str, section: str, metric: str) -> dict[str, Any]:
    return {
        "type": "BAR", "uuid": uuid, "metricSectionId": section, "metricKey": metric,
        "displayName": metric, "runsCountToCompare": 10, "deleted": False, "isGenerated": True,
    }  # fmt: skip


def _section(uuid: str, name: str) -> dict[str, Any]:
    return {
        "uuid": uuid, "name": name, "display": True, "isReordered": False, "deleted": False,
        "isGenerated": False,
    }  # fmt: skip


def view_state() -> dict[str, Any]:
    """The shared view (JSON-able)."""
    metrics = [_col("metrics", m) for m in KEY_METRICS]
    tags = [_col("tags", t) for t in GRID_TAGS]
    models = _col("attributes", "Models")
    widths = {_col("attributes", "Run Name"): 330, _col("tags", "arm"): 210}
    widths |= {c: 110 for c in metrics} | {c: 80 for c in tags[1:]}
    sections = [
        _section("synprune-training", "Training (per epoch)"),
        _section("synprune-test", "Test (restored best model)"),
        _section("synprune-tensors", "sparsity"),  # sparsity/<tensor> lands here by prefix
        _section("synprune-other", "Model metrics"),
        _section("synprune-system", "System metrics"),
    ]
    charts = [_line(f"synprune-line-{m}", "synprune-training", m) for m in TRAINING_CURVES]
    charts += [_bar(f"synprune-bar-{m}", "synprune-test", m) for m in TEST_BARS]
    return {
        "selectedColumns": [*metrics, *tags, models],
        # the arm right after the run name: a wide table renders only the columns in view
        "columnOrder": [
            *("0", _col("attributes", "Run Name"), tags[0], *metrics, *tags[1:]),
            *("runDateAndNestInfo", "duration", models),
        ],
        "columnWidths": widths,
        "orderByKey": _col("metrics", "ratio_to_naive"),
        "orderByAsc": True,
        "compareRunSections": sections,
        "compareRunCharts": charts,
        "isAccordionReordered": True,
        "hideEmptyCharts": True,
    }


def view_tag_value() -> str:
    return json.dumps(view_state(), separators=(",", ":"))


def runs_page(base_url: str, experiment_id: str, charts: bool = False) -> str:
    """The link to the experiment's runs page in the model-training view with the view."""
    mode = "&compareRunsMode=CHART" if charts else ""
    return (
        f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType="
        f"machine_learning&viewStateShareKey={VIEW_KEY}{mode}"
    )
