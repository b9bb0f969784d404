"""Input preprocessing shared by training, evaluation and serving (one function per modality)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageSpec:
    """How raw images become model input: square resize, then per-channel normalization."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_metadata(cls, spec: dict[str, Any]) -> "ImageSpec":
        return cls(size=int(spec["image_size"]), mean=tuple(spec["mean"]), std=tuple(spec["std"]))

    def to_metadata(self) -> dict[str, Any]:
        return {"image_size": self.size, "mean": list(self.mean), "std": list(self.std), "layout": "NCHW"}


def image_to_array(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """PIL image (any mode, any size) -> float32 CHW array normalized as the model expects."""
    rgb = image.convert("RGB").resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    normalized = (pixels - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return normalized.transpose(2, 0, 1).copy()


def images_to_batch(images: list[Image.Image], spec: ImageSpec) -> dict[str, np.ndarray]:
    return {"pixel_values": np.stack([image_to_array(image, spec) for image in images])}


class TextEncoder:
    """Tokenizes a batch of texts to int64 arrays, padded to the longest text, truncated at max_length."""

    input_names = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        # A fast tokenizer's padding and truncation are settings of the shared Rust object, set on every call:
        # two threads calling it at once (the batcher's inference and `token_counts`) get ragged batches.
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, tokenizer_dir: Path, max_length: int) -> "TextEncoder":
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(tokenizer_dir)), max_length)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            encoded = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
        batch = {name: np.asarray(encoded[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}
        batch["token_type_ids"] = np.asarray(
            encoded.get("token_type_ids", np.zeros_like(batch["input_ids"])), dtype=np.int64
        )
        return batch

    def token_counts(self, texts: list[str]) -> list[int]:
        """Untruncated token counts, so callers can tell a user which texts were truncated."""
        with self._lock:
            ids = self.tokenizer(texts, truncation=False)["input_ids"]
        return [len(row) for row in ids]
