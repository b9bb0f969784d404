"""The embedded default tasks, prepared for real with a small training budget."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_prepare_default_tasks_with_a_small_budget(default_variants: dict[str, dict]) -> None:
    variants = default_variants
    assert len(variants) == 12
    for candidate in ("sentiment-minilm-l6", "sentiment-minilm-l3", "digits-resnet18", "digits-resnet50"):
        reference = variants[f"{candidate}-torch-fp32"]
        onnx_fp32 = variants[f"{candidate}-onnx-fp32"]
        int8 = variants[f"{candidate}-onnx-int8"]
        assert reference["gate"]["status"] == "reference"
        assert onnx_fp32["eval"]["vs_reference"]["top1_agreement"] >= 0.99
        assert int8["gate"]["status"] in {"accepted", "rejected"} and int8["gate"]["reason"]
        assert int8["size_bytes"] < 0.5 * reference["size_bytes"]
    assert variants["sentiment-minilm-l6-torch-fp32"]["test_split"]["rows"] == 2000
    assert variants["sentiment-minilm-l3-torch-fp32"]["architecture"]["layers"] == 3
    assert variants["digits-resnet18-torch-fp32"]["test_split"]["rows"] == 360
    probe = variants["digits-resnet50-onnx-int8"]["latency_probe"]
    assert set(probe) >= {"32x32", "224x224"}
    # better than chance even after a few hundred rows: the pipeline really learns from real data
    assert variants["digits-resnet18-torch-fp32"]["eval"]["accuracy"] > 0.8
    assert variants["sentiment-minilm-l6-torch-fp32"]["eval"]["accuracy"] > 0.45
