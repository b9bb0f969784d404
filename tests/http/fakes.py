"""A fake model store and tiny fake classifiers: the real engine and HTTP stack, no models."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from service.classifier import Inference
from service.model_store import StoredVariant, UnreadableVariant, list_stored, read_stored

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


def metadata(
    name: str, gate: str = "accepted", reason: str = "", *, task: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """A variant's metadata as `prepare` stores it (`service.contracts.VariantMetadata`), for `<task>-<candidate>-
    <variant>` names: sentiment is a text task, anything else an image one; `task`/`kind` override the name's."""
    task = task or name.split("-")[0]
    kind = kind or ("text" if task == "sentiment" else "image")
    labels = SENTIMENT_LABELS if kind == "text" else DIGIT_LABELS
    candidate, variant = name.split("-")[1], "-".join(name.split("-")[2:])
    runtime, precision = variant.split("-")
    input_spec: dict[str, Any] = (
        {"max_length": 8}
        if kind == "text"
        else {"image_size": 8, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "layout": "NCHW"}
    )
    family = "hf-sequence-classification" if kind == "text" else "torchvision"
    stored = {
        "task": task,
        "task_kind": kind,
        "labels": labels,
        "candidate": candidate,
        "description": f"fake {kind} classifier",
        "source": {"type": "fake"},
        "architecture": {"family": family, "arch": candidate, "num_classes": len(labels), "input_names": ["x"]},
        "input_spec": input_spec,
        "training": {
            "rows": 100,
            "steps": 10,
            "final_loss": 0.25,
            "epochs": 1.0,
            "batch_size": 16,
            "learning_rate": 0.001,
            "weight_decay": 0.0,
            "seed": 0,
        },
        "test_split": {"fingerprint": "0123456789abcdef", "rows": 20},
        "versions": {"python": "3.11.7"},
        "git_commit": "0000000",
        "variant": variant,
        "runtime": "torch" if runtime == "torch" else "onnxruntime",
        "precision": precision,
        "reference": None if variant == "torch-fp32" else f"{task}-{candidate}-torch-fp32",
        "size_bytes": 1234,
        "fingerprint": f"fake-{name}",
        "eval": {
            "samples": 20,
            "accuracy": 0.9,
            "macro_precision": 0.88,
            "macro_recall": 0.88,
            "macro_f1": 0.88,
            "per_class_f1": dict.fromkeys(labels, 0.88),
            "confusion_matrix": [[2 if row == col else 0 for col in range(len(labels))] for row in range(len(labels))],
        },
        "gate": {"status": gate, "reason": reason},
        "artifact_sha256": {"model.onnx" if runtime == "onnx" else "model.safetensors": "0" * 64},
    }
    return {key: value for key, value in stored.items() if value is not None}  # as BentoML stores it


def stored_variant(name: str, version: str = "v1", **changes: Any) -> StoredVariant:
    """A variant as the store describes it: `metadata(name)` with `changes`, read through the service's check."""
    return read_stored(name, version, {**metadata(name), **changes})


class FakeStore:
    """`names`: variants in the store; `fail`: name -> error raised on load; `gates`: name -> gate status;
    `block`: an event every load waits on (to observe the service before it is ready); `attempts`: every
    load begun, in order (before `block`). `stored`: name -> its metadata as the store holds it (a test may break
    it), read and validated like BentoModelStore's (`service.model_store.read_stored`)."""

    def __init__(
        self,
        names: list[str],
        fail: dict[str, str] | None = None,
        gates: dict[str, str] | None = None,
        block: threading.Event | None = None,
    ) -> None:
        self.stored = {name: metadata(name, (gates or {}).get(name, "accepted")) for name in names}
        self.fail = fail or {}
        self.block = block
        self.loaded: dict[str, FakeTextClassifier | FakeImageClassifier] = {}
        self.attempts: list[str] = []

    @staticmethod
    def version(name: str) -> str:
        return f"v-{name.split('-')[1]}"

    def describe(self, name: str) -> StoredVariant:
        if name not in self.stored:
            raise LookupError(f"Model '{name}:latest' is not found in the store")
        return read_stored(name, self.version(name), self.stored[name])

    def load(
        self, stored: StoredVariant, threads: int, max_batch_tokens: int
    ) -> FakeTextClassifier | FakeImageClassifier:
        self.attempts.append(stored.name)
        if self.block is not None:
            assert self.block.wait(10), "test never released the store"
        if stored.name in self.fail:
            raise RuntimeError(self.fail[stored.name])
        classifier = FakeTextClassifier() if stored.metadata.task_kind == "text" else FakeImageClassifier()
        self.loaded[stored.name] = classifier
        return classifier

    def list(self) -> list[StoredVariant | UnreadableVariant]:
        return [list_stored(name, self.version(name), raw) for name, raw in self.stored.items()]
