"""A fake model store and tiny fake classifiers: the real engine and HTTP stack, no models."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from service.classifier import Inference
from service.model_store import StoredVariant

SENTIMENT_LABELS = ["negative", "neutral", "positive"]
DIGIT_LABELS = [str(digit) for digit in range(10)]


class FakeTextClassifier:
    """'love'/'great' -> positive, 'hate'/'awful' -> negative, anything else -> neutral; the text 'hold' waits
    for the event `hold` (set it on a loaded classifier to keep a request in flight); `broken = True` makes
    every batch raise (a runtime fault)."""

    labels = SENTIMENT_LABELS

    def __init__(self, max_length: int = 8) -> None:
        self.max_length = max_length
        self.batch_sizes: list[int] = []
        self.hold: threading.Event | None = None
        self.broken = False
        self._lock = threading.Lock()

    def run(self, items: list[Any]) -> Inference:
        """Truncated: texts of more than max_length tokens, counting whitespace words plus [CLS]/[SEP]."""
        truncated = np.asarray([len(text.split()) + 2 > self.max_length for text in items], dtype=bool)
        return Inference(self.probabilities(items), truncated)

    def probabilities(self, items: list[Any]) -> np.ndarray:
        with self._lock:
            self.batch_sizes.append(len(items))
        if self.broken:
            raise RuntimeError("injected runtime fault")
        rows = []
        for text in items:
            assert isinstance(text, str)
            if text == "explode":
                raise RuntimeError("secret runtime internals")
            if text == "hold" and self.hold is not None:
                assert self.hold.wait(10), "test never released the request"
            words = set(text.lower().split())
            if words & {"love", "great"}:
                rows.append([0.1, 0.2, 0.7])
            elif words & {"hate", "awful"}:
                rows.append([0.8, 0.15, 0.05])
            else:
                rows.append([0.2, 0.6, 0.2])
        return np.asarray(rows, dtype=np.float32)


class FakeImageClassifier:
    """Predicts the digit int(mean brightness * 10 / 256): black -> '0', white -> '9'."""

    labels = DIGIT_LABELS

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def run(self, items: list[Any]) -> Inference:
        return Inference(self.probabilities(items), np.zeros(len(items), dtype=bool))

    def probabilities(self, items: list[Any]) -> np.ndarray:
        self.batch_sizes.append(len(items))
        rows = np.full((len(items), 10), 0.02, dtype=np.float32)
        for row, image in zip(rows, items, strict=True):
            assert isinstance(image, Image.Image)
            digit = min(9, int(np.asarray(image.convert("L"), dtype=np.float32).mean() * 10 / 256))
            row[digit] = 0.82
        return rows


def metadata(name: str, gate: str = "accepted", reason: str = "") -> dict[str, Any]:
    task = name.split("-")[0]
    kind = "text" if task == "sentiment" else "image"
    runtime = "torch" if "torch" in name else "onnxruntime"
    return {
        "task": task,
        "task_kind": kind,
        "labels": SENTIMENT_LABELS if kind == "text" else DIGIT_LABELS,
        "candidate": name.split("-")[1],
        "variant": "-".join(name.split("-")[2:]),
        "runtime": runtime,
        "precision": "int8" if name.endswith("int8") else "fp32",
        "eval": {"accuracy": 0.9, "macro_f1": 0.88},
        "gate": {"status": gate, "reason": reason},
        "size_bytes": 1234,
    }


class FakeStore:
    """`names`: variants in the store; `fail`: name -> error raised on load; `gates`: name -> gate status;
    `block`: an event every load waits on (to observe the service before it is ready); `attempts`: every
    load begun, in order (before `block`)."""

    def __init__(
        self,
        names: list[str],
        fail: dict[str, str] | None = None,
        gates: dict[str, str] | None = None,
        block: threading.Event | None = None,
    ) -> None:
        self.variants = {
            name: StoredVariant(name, f"v-{name.split('-')[1]}", metadata(name, (gates or {}).get(name, "accepted")))
            for name in names
        }
        self.fail = fail or {}
        self.block = block
        self.loaded: dict[str, FakeTextClassifier | FakeImageClassifier] = {}
        self.attempts: list[str] = []

    def describe(self, name: str) -> StoredVariant:
        if name not in self.variants:
            raise LookupError(f"Model '{name}:latest' is not found in the store")
        return self.variants[name]

    def load(
        self, stored: StoredVariant, threads: int, max_batch_tokens: int
    ) -> FakeTextClassifier | FakeImageClassifier:
        self.attempts.append(stored.name)
        if self.block is not None:
            assert self.block.wait(10), "test never released the store"
        if stored.name in self.fail:
            raise RuntimeError(self.fail[stored.name])
        classifier = FakeTextClassifier() if stored.metadata["task_kind"] == "text" else FakeImageClassifier()
        self.loaded[stored.name] = classifier
        return classifier

    def list(self) -> list[StoredVariant]:
        return list(self.variants.values())
