"""PyTorch -> ONNX export with dynamic batch (and sequence / spatial) axes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17


class PositionalInputs(nn.Module):
    """The exporter traces positional arguments; our modules take named inputs."""

    def __init__(self, module: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.input_names = input_names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.module(**dict(zip(self.input_names, tensors, strict=True)))


def dynamic_axes(input_names: list[str]) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {"logits": {0: "batch"}}
    for name in input_names:
        axes[name] = {0: "batch", 2: "height", 3: "width"} if name == "pixel_values" else {0: "batch", 1: "sequence"}
    return axes


def export_onnx(module: nn.Module, example: dict[str, np.ndarray], input_names: list[str], path: Path) -> Path:
    """Trace `module` on `example` (use a padded text batch, so masking is traced) and write ONNX."""
    args = tuple(torch.from_numpy(example[name]) for name in input_names)
    with warnings.catch_warnings():
        # The TorchScript exporter warns about deprecation and traced Python branches; correctness is
        # checked instead by comparing every exported variant's outputs with PyTorch on the test split.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PositionalInputs(module.eval(), input_names),
            args,
            str(path),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=dynamic_axes(input_names),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return path
