"""The served path's own share of a request, from the server's request and inference duration histograms."""

from __future__ import annotations

import pytest

from models.server_share import RuntimeUse, duration_totals, ms_per_item, runtime_use, server_share
from service.contracts.measurements import Run, ServerShare

EXPOSITION = """# HELP scenario_serve_request_duration_seconds Classification request latency
# TYPE scenario_serve_request_duration_seconds histogram
scenario_serve_request_duration_seconds_bucket{le="+Inf",outcome="ok",scenario="a",task="t",variant="v"} 4.0
scenario_serve_request_duration_seconds_count{outcome="ok",scenario="a",task="t",variant="v"} 4.0
scenario_serve_request_duration_seconds_sum{outcome="ok",scenario="a",task="t",variant="v"} 0.02
scenario_serve_request_duration_seconds_bucket{le="+Inf",outcome="ok",scenario="b",task="t",variant="v"} 1.0
scenario_serve_request_duration_seconds_count{outcome="ok",scenario="b",task="t",variant="v"} 1.0
scenario_serve_request_duration_seconds_sum{outcome="ok",scenario="b",task="t",variant="v"} 0.005
# HELP scenario_serve_inference_duration_seconds Time one batch spends on its inference thread
# TYPE scenario_serve_inference_duration_seconds histogram
scenario_serve_inference_duration_seconds_bucket{le="+Inf",variant="v"} 5.0
scenario_serve_inference_duration_seconds_count{variant="v"} 5.0
scenario_serve_inference_duration_seconds_sum{variant="v"} 0.02
# HELP scenario_serve_batch_size Items per inference batch
# TYPE scenario_serve_batch_size histogram
scenario_serve_batch_size_count{variant="v"} 5.0
scenario_serve_batch_size_sum{variant="v"} 8.0
# HELP scenario_serve_queued_items Items waiting
# TYPE scenario_serve_queued_items gauge
scenario_serve_queued_items{variant="v"} 3.0
"""


def test_totals_sum_every_series_of_the_three_histograms_and_nothing_else() -> None:
    assert duration_totals(EXPOSITION) == {
        "scenario_serve_request_duration_seconds": pytest.approx((0.025, 5.0)),
        "scenario_serve_inference_duration_seconds": pytest.approx((0.02, 5.0)),
        "scenario_serve_batch_size": pytest.approx((8.0, 5.0)),
    }


def test_an_exposition_without_them_reads_as_zero() -> None:
    assert duration_totals("") == {
        "scenario_serve_request_duration_seconds": (0.0, 0.0),
        "scenario_serve_inference_duration_seconds": (0.0, 0.0),
        "scenario_serve_batch_size": (0.0, 0.0),
    }


def test_the_share_is_the_means_of_the_requests_between_two_readings() -> None:
    before = duration_totals(EXPOSITION)
    after = {
        "scenario_serve_request_duration_seconds": (0.025 + 0.012, 7.0),  # two more requests, 6 ms each
        "scenario_serve_inference_duration_seconds": (0.02 + 0.009, 7.0),  # 4.5 ms each on the inference thread
        "scenario_serve_batch_size": (10.0, 7.0),
    }
    share = server_share(before, after, client_mean_ms=7.0)
    assert share == ServerShare(client_mean_ms=7.0, request_mean_ms=6.0, inference_mean_ms=4.5)
    assert share.overhead_ms == pytest.approx(2.5)


def test_no_share_when_the_server_recorded_none_of_the_requests() -> None:
    before = duration_totals(EXPOSITION)
    assert server_share(before, before, client_mean_ms=7.0) is None


def test_a_run_recorded_before_the_share_existed_still_loads() -> None:
    assert Run.model_fields["server_share"].default is None


def test_no_share_without_both_readings() -> None:
    reading = duration_totals(EXPOSITION)
    assert server_share(None, reading, client_mean_ms=7.0) is None
    assert server_share(reading, None, client_mean_ms=7.0) is None


def test_the_runtime_use_between_two_readings_counts_items_not_batches() -> None:
    before = duration_totals(EXPOSITION)
    after = {
        **before,
        "scenario_serve_inference_duration_seconds": (0.05, 7.0),
        "scenario_serve_batch_size": (14.0, 7.0),
    }
    use = runtime_use(before, after)
    assert use == RuntimeUse(seconds=pytest.approx(0.03), items=6.0)  # two batches of 3 items in 30 ms
    assert ms_per_item([use]) == 5.0
    assert runtime_use(None, after) is None and runtime_use(before, None) is None


def test_no_runtime_per_item_without_every_reading_or_without_items() -> None:
    assert ms_per_item([]) is None
    assert ms_per_item([RuntimeUse(seconds=0.1, items=10), None]) is None
    assert ms_per_item([RuntimeUse(seconds=0.0, items=0.0)]) is None
    assert ms_per_item([RuntimeUse(seconds=0.1, items=10), RuntimeUse(seconds=0.3, items=30)]) == 10.0
