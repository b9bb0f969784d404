"""Runtimes: one module per engine, one interface (load, warm up, predict a batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.runtimes.base import Runtime


def load_runtime(runtime: str, model_dir: Path, metadata: dict[str, Any], threads: int) -> Runtime:
    """Build the runtime a stored variant names in its metadata."""
    if runtime == "onnxruntime":
        from service.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(model_dir / "model.onnx", threads=threads)
    if runtime == "torch":
        from service.runtimes.torch import TorchRuntime

        return TorchRuntime.from_dir(model_dir, metadata["architecture"], threads=threads)
    raise ValueError(f"unknown runtime {runtime!r}; expected 'torch' or 'onnxruntime'")


__all__ = ["Runtime", "load_runtime"]
