"""Compare static INT8 recipes for a stored digits ResNet on this CPU: which operators to quantize.

    python loadtests/int8_recipes.py --model resnet50 --threads 2 --runs 30

Each recipe quantizes the stored `digits-<model>-onnx-fp32` ONNX file the way `prepare` does (QOperator, uint8
activations, per-channel int8 weights, MinMax calibration on the same 16 training batches) with a different list
of operator types. It prints each recipe's top-1 agreement with FP32 on the digits test split at the served size,
then batch-1 p50 at 224x224 and at the served size, the runtimes taking turns, and FP32's p50 over each recipe's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from models.catalog import load_catalog  # noqa: E402
from models.datasets import load_task_data  # noqa: E402
from models.latency import interleaved_latency  # noqa: E402
from models.prepare import calibration_batches, image_encoder  # noqa: E402
from models.quantize import quantize_static_int8  # noqa: E402
from service.runtimes.onnx import OnnxRuntime  # noqa: E402

RECIPES = {
    "conv": ["Conv"],
    "conv+add+relu": ["Conv", "Add", "Relu"],
    "every-op": ["Conv", "Add", "Relu", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm"],
}


def stored_fp32(model: str) -> Path:
    import bentoml

    return Path(bentoml.models.get(f"digits-{model}-onnx-fp32:latest").path) / "model.onnx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50", help="digits candidate (default: resnet50)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default: 2)")
    parser.add_argument("--runs", type=int, default=30, help="timed batches per runtime and size (default: 30)")
    args = parser.parse_args(argv)

    task = load_catalog().tasks["digits"]
    data = load_task_data(task)
    encode = image_encoder(task)
    fp32 = stored_fp32(args.model)
    runtimes = {"fp32": OnnxRuntime(fp32, args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, op_types in RECIPES.items():
            target = Path(tmp) / f"{name}.onnx"
            quantize_static_int8(fp32, target, calibration_batches(encode, data.train.items), op_types)
            runtimes[name] = OnnxRuntime(target, args.threads)
    test = encode(data.test.items)
    reference = runtimes["fp32"].predict(test).argmax(axis=1)
    for name, runtime in runtimes.items():
        agreement = float((runtime.predict(test).argmax(axis=1) == reference).mean())
        print(f"{name:14s} top-1 agreement with FP32 at {task.image_size}x{task.image_size}: {agreement:.4f}")
    for side in (224, task.image_size):
        pixels = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
        timings = interleaved_latency(runtimes, {"pixel_values": pixels}, runs=args.runs)
        base = timings["fp32"]["p50_ms"]
        cells = [f"{name} {t['p50_ms']:.2f} ms ({base / t['p50_ms']:.2f}x)" for name, t in timings.items()]
        print(f"{side}x{side}, batch 1, {args.threads} thread(s), p50: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
