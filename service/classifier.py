"""A loaded variant: preprocessing + runtime + labels, turning raw inputs into probabilities."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.config import DEFAULTS
from service.contracts import ServingSpec, TextInputSpec, VariantMetadata
from service.contracts.metadata import serving_spec
from service.preprocessing import Feed, ImageSpec, Prepared, TextEncoder, images_to_batch
from service.runtimes import Runtime, load_runtime


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Inference:
    """What a batch of items gives: class probabilities and, per item, whether its text was truncated."""

    probabilities: np.ndarray
    truncated: np.ndarray

    def rows(self, start: int, stop: int) -> Inference:
        return Inference(self.probabilities[start:stop], self.truncated[start:stop])

    @staticmethod
    def concatenate(parts: Sequence[Inference]) -> Inference:
        if len(parts) == 1:
            return parts[0]
        return Inference(
            np.concatenate([part.probabilities for part in parts]), np.concatenate([part.truncated for part in parts])
        )

    def truncated_indices(self) -> list[int]:
        return [index for index, truncated in enumerate(self.truncated.tolist()) if truncated]


@dataclass
class Classifier:
    labels: list[str]
    prepare: Callable[[list[Any]], Prepared]
    runtime: Runtime

    def _logits(self, prepared: Prepared, count: int) -> np.ndarray:
        rows: np.ndarray | None = None
        for indices, feed in prepared.groups:
            logits = self.runtime.predict(feed)
            if rows is None:
                rows = np.empty((count, logits.shape[1]), dtype=np.float32)
            rows[indices] = logits
        assert rows is not None, "no items"
        return rows

    def logits(self, items: list[Any]) -> np.ndarray:
        return self._logits(self.prepare(items), len(items))

    def probabilities(self, items: list[Any]) -> np.ndarray:
        return softmax(self.logits(items))

    def run(self, items: list[Any]) -> Inference:
        """Preprocess once (texts: one tokenization, grouped by length), run, and report truncation."""
        prepared = self.prepare(items)
        return Inference(softmax(self._logits(prepared, len(items))), prepared.truncated)


def image_preparer(spec: ImageSpec) -> Callable[[list[Any]], Prepared]:
    def prepare(images: list[Any]) -> Prepared:
        feed: Feed = images_to_batch(images, spec)
        return Prepared([(np.arange(len(images)), feed)], np.zeros(len(images), dtype=bool))

    return prepare


# a variant's metadata, typed or as the store holds it: loading reads (and validates) its `ServingSpec` part only
Metadata = ServingSpec | VariantMetadata | Mapping[str, Any]


def build_preparer(
    model_dir: Path, metadata: Metadata, max_batch_tokens: int = DEFAULTS.max_batch_tokens
) -> Callable[[list[Any]], Prepared]:
    spec = serving_spec(metadata, str(model_dir)).input_spec
    if isinstance(spec, TextInputSpec):
        encoder = TextEncoder.from_dir(model_dir, spec.max_length)
        return lambda texts: encoder.prepare(texts, max_batch_tokens)
    return image_preparer(ImageSpec(size=spec.image_size, mean=spec.mean, std=spec.std))


def load_classifier(
    model_dir: Path,
    metadata: Metadata,
    threads: int = DEFAULTS.threads,
    max_batch_tokens: int = DEFAULTS.max_batch_tokens,
) -> Classifier:
    """Load a variant as it is served; metadata that does not match the contract raises MetadataError."""
    spec = serving_spec(metadata, str(model_dir))
    return Classifier(
        labels=list(spec.labels),
        prepare=build_preparer(model_dir, spec, max_batch_tokens),
        runtime=load_runtime(spec.runtime, model_dir, spec.architecture, threads),
    )
