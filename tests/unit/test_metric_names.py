"""The metric names live in a module that registers nothing; `service.metrics` names every collector from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from service import metric_names, metrics

ROOT = Path(__file__).resolve().parents[2]


def test_every_collector_is_named_in_metric_names_and_every_name_has_one() -> None:
    collectors = [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]
    # prometheus_client keeps a counter's name without its `_total` suffix
    defined = {collector._name for collector in collectors}
    listed = {name.removesuffix("_total") for name in metric_names.ALL_METRIC_NAMES}
    assert defined == listed and len(metric_names.ALL_METRIC_NAMES) == len(collectors)
    assert metrics.ALL_METRIC_NAMES is metric_names.ALL_METRIC_NAMES and metrics.NO_LABEL == metric_names.NO_LABEL


def test_readers_of_the_metrics_register_no_collector() -> None:
    script = (
        "from prometheus_client import REGISTRY\n"
        "before = set(REGISTRY._names_to_collectors)\n"
        "import service.metric_names, models.live\n"
        "assert set(REGISTRY._names_to_collectors) == before, set(REGISTRY._names_to_collectors) - before\n"
        "import sys; assert 'service.metrics' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
