"""The naive peer of the comparison: BentoML services written the way BentoML's quickstart writes them.

    NAIVE_MODEL_DIR=<dir> bentoml serve loadtests/naive_peer.py:NaiveSentiment
    NAIVE_MODEL_DIR=<dir> bentoml serve loadtests/naive_peer.py:NaiveDigits

`NaiveSentiment` wraps `transformers.pipeline("text-classification")` over a Hugging Face model directory (the
fine-tuned MiniLM-L6 `torch-fp32` variant); `NaiveDigits` a torchvision ResNet-18 with the digits weights. Both
use a batchable `@bentoml.api` with BentoML's defaults, as a user new to serving would. Not part of the product:
only `loadtests/compare.py` starts them.
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml
from PIL.Image import Image

DIGITS_SIZE = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@bentoml.service(name="naive-sentiment")
class NaiveSentiment:
    def __init__(self) -> None:
        from transformers import pipeline

        self.pipeline = pipeline("text-classification", model=os.environ["NAIVE_MODEL_DIR"], device="cpu")

    @bentoml.api(batchable=True)
    def classify(self, texts: list[str]) -> list[dict[str, object]]:
        return self.pipeline(texts)


@bentoml.service(name="naive-digits")
class NaiveDigits:
    def __init__(self) -> None:
        import torch
        import torchvision
        from safetensors.torch import load_file

        self.torch = torch
        self.model = torchvision.models.resnet18(num_classes=10)
        self.model.load_state_dict(load_file(str(Path(os.environ["NAIVE_MODEL_DIR"]) / "model.safetensors")))
        self.model.eval()
        self.transform = torchvision.transforms.Compose(
            [
                torchvision.transforms.Resize((DIGITS_SIZE, DIGITS_SIZE)),
                torchvision.transforms.ToTensor(),
                torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    @bentoml.api(batchable=True)
    def classify(self, images: list[Image]) -> list[int]:
        batch = self.torch.stack([self.transform(image.convert("RGB")) for image in images])
        with self.torch.inference_mode():
            return self.model(batch).argmax(dim=1).tolist()
