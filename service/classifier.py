"""A loaded variant: preprocessing + runtime + labels, turning raw inputs into probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from service.preprocessing import ImageSpec, TextEncoder, images_to_batch
from service.runtimes import Runtime, load_runtime


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class Classifier:
    labels: list[str]
    encode: Callable[[list[Any]], dict[str, np.ndarray]]
    runtime: Runtime

    def logits(self, items: list[Any]) -> np.ndarray:
        return self.runtime.predict(self.encode(items))

    def probabilities(self, items: list[Any]) -> np.ndarray:
        return softmax(self.logits(items))


def build_encoder(model_dir: Path, metadata: dict[str, Any]) -> Callable[[list[Any]], dict[str, np.ndarray]]:
    spec = metadata["input_spec"]
    if metadata["task_kind"] == "text":
        return TextEncoder.from_dir(model_dir, int(spec["max_length"]))
    image_spec = ImageSpec.from_metadata(spec)
    return lambda images: images_to_batch(images, image_spec)


def load_classifier(model_dir: Path, metadata: dict[str, Any], threads: int = 2) -> Classifier:
    runtime = load_runtime(metadata["runtime"], model_dir, metadata, threads)
    return Classifier(labels=list(metadata["labels"]), encode=build_encoder(model_dir, metadata), runtime=runtime)
