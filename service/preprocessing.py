"""Input preprocessing shared by training, evaluation and serving (one function per modality)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class Prepared:
    """Preprocessed items: runtime feeds, each with the item indices it holds, and per item a truncation flag."""

    groups: list[tuple[np.ndarray, Feed]]
    truncated: np.ndarray


@dataclass(frozen=True)
class ImageSpec:
    """How raw images become model input: square resize, then per-channel normalization."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_metadata(cls, spec: dict[str, Any]) -> ImageSpec:
        return cls(size=int(spec["image_size"]), mean=tuple(spec["mean"]), std=tuple(spec["std"]))

    def to_metadata(self) -> dict[str, Any]:
        return {"image_size": self.size, "mean": list(self.mean), "std": list(self.std), "layout": "NCHW"}


def image_to_array(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """PIL image (any mode, any size) -> float32 CHW array normalized as the model expects."""
    rgb = image.convert("RGB").resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    normalized = (pixels - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return normalized.transpose(2, 0, 1).copy()


def images_to_batch(images: list[Image.Image], spec: ImageSpec) -> Feed:
    return {"pixel_values": np.stack([image_to_array(image, spec) for image in images])}


class TextEncoder:
    """Tokenizes texts to int64 arrays, truncated at max_length, with the `tokenizers` library directly.

    Its own copy of the Rust tokenizer is configured once (truncation on, padding off) and never changed per
    call, so concurrent calls are safe without a lock; padding is done here, per group of similar lengths.
    Neither transformers nor torch is imported (a worker serving only ONNX variants stays lean).
    """

    input_names = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, tokenizer: Any, max_length: int, pad_id: int | None = None) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)  # a transformers fast tokenizer, or tokenizers'
        self._tokenizer = Tokenizer.from_str(backend.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        if pad_id is None:
            pad_id = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad_id or 0)
        self.max_length = max_length

    @classmethod
    def from_dir(cls, tokenizer_dir: Path, max_length: int) -> TextEncoder:
        """From a Hugging Face model directory's `tokenizer.json` (and the pad token of `tokenizer_config.json`)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        return cls(tokenizer, max_length, pad_id=pad_token_id(tokenizer_dir, tokenizer))

    def _encode(self, texts: list[str]) -> list[Any]:
        return self._tokenizer.encode_batch(texts)

    def __call__(self, texts: list[str]) -> Feed:
        """One feed for all texts, padded to the longest (training, export and evaluation)."""
        encodings = self._encode(texts)
        return pad_feed(encodings, self.pad_id)

    def prepare(self, texts: list[str], max_batch_tokens: int) -> Prepared:
        """One tokenization of `texts`, grouped by length into feeds of at most `max_batch_tokens` padded tokens
        each (a single longer text still gets a feed of its own), with each text's truncation flag."""
        encodings = self._encode(texts)
        lengths = np.asarray([len(encoding.ids) for encoding in encodings])
        groups: list[tuple[np.ndarray, Feed]] = []
        for indices in length_groups(lengths, max_batch_tokens):
            groups.append((indices, pad_feed([encodings[i] for i in indices], self.pad_id)))
        truncated = np.asarray([bool(encoding.overflowing) for encoding in encodings], dtype=bool)
        return Prepared(groups, truncated)


def pad_token_id(tokenizer_dir: Path, tokenizer: Any) -> int:
    config_path = tokenizer_dir / "tokenizer_config.json"
    token = None
    if config_path.exists():
        token = json.loads(config_path.read_text(encoding="utf-8")).get("pad_token")
    if isinstance(token, dict):  # older files store an AddedToken
        token = token.get("content")
    found = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return int(found) if found is not None else 0


def pad_feed(encodings: list[Any], pad_id: int) -> Feed:
    """Right-padded int64 arrays of a group of encodings (attention mask 0 and token type 0 on padding)."""
    width = max(len(encoding.ids) for encoding in encodings)
    shape = (len(encodings), width)
    input_ids = np.full(shape, pad_id, dtype=np.int64)
    attention_mask = np.zeros(shape, dtype=np.int64)
    token_type_ids = np.zeros(shape, dtype=np.int64)
    for row, encoding in enumerate(encodings):
        length = len(encoding.ids)
        input_ids[row, :length] = encoding.ids
        attention_mask[row, :length] = encoding.attention_mask
        token_type_ids[row, :length] = encoding.type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def length_groups(lengths: np.ndarray, max_batch_tokens: int) -> list[np.ndarray]:
    """Indices grouped by ascending length so that each group's count x longest length <= max_batch_tokens."""
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    start = 0
    for stop in range(1, len(order) + 1):
        if stop == len(order) or (stop + 1 - start) * int(lengths[order[stop]]) > max_batch_tokens:
            groups.append(order[start:stop])
            start = stop
    return groups
