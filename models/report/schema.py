"""What identifies the report's JSON, and the names its parts share."""

from __future__ import annotations

from typing import Any

REPORT_SCHEMA = "scenario-serve/report"
REPORT_VERSION = 1
QUANTILES = ("p50", "p95", "p99")  # the latency percentiles the report shows, predicted and observed

Json = dict[str, Any]
