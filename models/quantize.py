"""INT8 quantization with ONNX Runtime: dynamic for transformers, static (calibrated) for CNNs."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

# Per-tensor MatMul-only INT8 lost 1.05 macro-F1 points on sentiment (gate-rejected); per-channel weights
# keep it within 0.4, and quantizing Gather (the embedding tables) cuts MiniLM-L6 from 59 MB to 24 MB.
DYNAMIC_RECIPE: dict[str, Any] = {
    "method": "dynamic",
    "weight_type": "QInt8",
    "per_channel": True,
    "op_types": ["MatMul", "Gemm", "Gather"],
    "preprocess": "onnxruntime.quantization.quant_pre_process",
}

# On AVX-512 VNNI, uint8 activations x int8 weights (U8S8) is the fast path; ORT 1.32's default for
# quantize_static is int8 activations (S8S8), which measured *slower* than FP32 here. Quantizing the
# residual Add and Relu too keeps activations in uint8 between Convs (no DequantizeLinear/QuantizeLinear
# pair around every block): on an AVX2-only VM ResNet-50 at 224x224 went from 1.57x to 1.88x FP32's
# speed (2 threads) at the same 99.4% top-1 agreement; MaxPool, GlobalAveragePool and Gemm added
# nothing more. Calibrate at the served resolution: scales calibrated at 224x224 lose agreement at
# 32x32 and vice versa.
STATIC_RECIPE: dict[str, Any] = {
    "method": "static",
    "format": "QOperator",
    "activation_type": "QUInt8",
    "weight_type": "QInt8",
    "per_channel": True,
    "calibration": "MinMax",
    "op_types": ["Conv", "Add", "Relu"],
    "preprocess": "onnxruntime.quantization.quant_pre_process",
}


class ArrayReader(CalibrationDataReader):
    """Feeds calibration batches (from the training split) to the static quantizer."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _preprocess(source: Path, target: Path) -> Path:
    """Shape inference + graph optimization before quantization (ORT's recommended first step)."""
    logging.getLogger().setLevel(logging.WARNING)
    quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    return target


def quantize_dynamic_int8(fp32_path: Path, int8_path: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = _preprocess(fp32_path, Path(tmp) / "prepared.onnx")
        quantize_dynamic(
            str(prepared),
            str(int8_path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=DYNAMIC_RECIPE["op_types"],
        )
    return dict(DYNAMIC_RECIPE)


def quantize_static_int8(
    fp32_path: Path,
    int8_path: Path,
    calibration: list[dict[str, np.ndarray]],
    op_types: list[str] | None = None,
) -> dict[str, Any]:
    """The static recipe; `op_types` other than the recipe's are for comparing recipes (loadtests/int8_recipes.py)."""
    op_types = op_types or STATIC_RECIPE["op_types"]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = _preprocess(fp32_path, Path(tmp) / "prepared.onnx")
        quantize_static(
            str(prepared),
            str(int8_path),
            ArrayReader(calibration),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=op_types,
        )
    side = int(calibration[0]["pixel_values"].shape[-1])
    return {
        **STATIC_RECIPE,
        "op_types": op_types,
        "calibration_batches": len(calibration),
        "calibrated_at": f"{side}x{side}",
    }
