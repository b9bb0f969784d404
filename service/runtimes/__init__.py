"""Runtimes: one module per engine, one interface (load, warm up, predict a batch)."""

from __future__ import annotations

from pathlib import Path

from service.contracts.metadata import Architecture
from service.contracts.metadata import Runtime as RuntimeName
from service.runtimes.base import Runtime


def load_runtime(runtime: RuntimeName, model_dir: Path, architecture: Architecture | None, threads: int) -> Runtime:
    """Build the runtime a stored variant names in its metadata; torch rebuilds the variant's `architecture`
    (ONNX files carry their graph)."""
    if runtime == RuntimeName.ONNXRUNTIME:
        from service.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(model_dir / "model.onnx", threads=threads)
    if runtime == RuntimeName.TORCH:
        from service.runtimes.torch import TorchRuntime

        if architecture is None:
            raise ValueError("architecture: required to load a torch variant")
        return TorchRuntime.from_dir(model_dir, architecture, threads=threads)
    raise ValueError(f"unknown runtime {runtime!r}; expected 'torch' or 'onnxruntime'")


__all__ = ["Runtime", "load_runtime"]
