"""What identifies the report's JSON, and the names its parts share."""

from __future__ import annotations

from typing import Any

from service.contracts.constraints import Quantile
from service.contracts.report import REPORT_SCHEMA, REPORT_VERSION

# the latency percentiles the report shows, predicted and observed
QUANTILES: tuple[Quantile, ...] = ("p50", "p95", "p99")

Json = dict[str, Any]

__all__ = ["QUANTILES", "REPORT_SCHEMA", "REPORT_VERSION", "Json"]
