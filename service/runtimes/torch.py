"""PyTorch eager backend: Hugging Face sequence/image classifiers and torchvision classifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from service.contracts.metadata import Architecture, ModelFamily


class LogitsOnly(nn.Module):
    """Makes Hugging Face models return a bare logits tensor, like torchvision ones (and ONNX)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return self.model(*args, **kwargs).logits


class PixelInput(nn.Module):
    """Gives torchvision classifiers the same named input (`pixel_values`) as every other model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values)


def build_torchvision(arch: str, num_classes: int) -> nn.Module:
    import torchvision

    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def load_module(model_dir: Path, architecture: Architecture) -> nn.Module:
    """Rebuild a stored model from its directory; weights are safetensors, never pickles."""
    family = architecture.family
    if family == ModelFamily.HF_SEQUENCE_CLASSIFICATION:
        from transformers import AutoModelForSequenceClassification

        return LogitsOnly(AutoModelForSequenceClassification.from_pretrained(str(model_dir)))
    if family == ModelFamily.HF_IMAGE_CLASSIFICATION:
        from transformers import AutoModelForImageClassification

        return LogitsOnly(AutoModelForImageClassification.from_pretrained(str(model_dir)))
    if family == ModelFamily.TORCHVISION:
        from safetensors.torch import load_file

        module = build_torchvision(architecture.arch, architecture.num_classes)
        module.load_state_dict(load_file(str(model_dir / "model.safetensors")))
        return PixelInput(module)
    raise ValueError(f"unknown model family {family!r}")


class TorchRuntime:
    name = "torch"

    def __init__(self, module: nn.Module, input_names: tuple[str, ...], threads: int) -> None:
        torch.set_num_threads(threads)
        self.module = module.eval()
        self.input_names = input_names

    @classmethod
    def from_dir(cls, model_dir: Path, architecture: Architecture, threads: int) -> TorchRuntime:
        return cls(load_module(model_dir, architecture), tuple(architecture.input_names), threads)

    @torch.inference_mode()
    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {name: torch.from_numpy(inputs[name]) for name in self.input_names}
        return self.module(**tensors).float().numpy()

    def warmup(self, inputs: dict[str, np.ndarray], runs: int = 3) -> None:
        for _ in range(runs):
            self.predict(inputs)
