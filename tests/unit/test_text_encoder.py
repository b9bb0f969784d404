"""The serving text encoder: the `tokenizers` library directly, equal to the transformers tokenizer, one
tokenization per text, grouped by length, truncation flags from that same encoding."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from service.preprocessing import TextEncoder, length_groups

TEXTS = [
    "short",
    "a much longer text with many more words than the other one in the batch and then some more",
    "mid length text",
    "",
    "emoji 😀 and accents éàü",
]


def test_matches_the_transformers_tokenizer(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_bert_dir))(
        TEXTS, padding=True, truncation=True, max_length=16, return_tensors="np"
    )
    for encoder in (
        TextEncoder.from_dir(tiny_bert_dir, 16),
        TextEncoder(AutoTokenizer.from_pretrained(str(tiny_bert_dir)), 16),
    ):
        feed = encoder(TEXTS)
        for name in TextEncoder.input_names:
            assert np.array_equal(feed[name], reference[name]), name


def test_prepare_groups_by_length_and_flags_truncation(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder.from_dir(tiny_bert_dir, 16)
    prepared = encoder.prepare(TEXTS, max_batch_tokens=32)
    assert prepared.truncated.tolist() == [False, True, False, False, False]
    covered = sorted(int(index) for indices, _ in prepared.groups for index in indices)
    assert covered == list(range(len(TEXTS)))
    for indices, feed in prepared.groups:
        rows, width = feed["input_ids"].shape
        assert rows == len(indices) and (rows * width <= 32 or rows == 1)
        whole = encoder([TEXTS[i] for i in indices])
        assert np.array_equal(feed["input_ids"], whole["input_ids"])  # same tokens as one padded call


def test_one_tokenization_per_text(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = TextEncoder.from_dir(tiny_bert_dir, 16)
    calls: list[int] = []
    original = encoder._encode
    monkeypatch.setattr(encoder, "_encode", lambda texts: calls.append(len(texts)) or original(texts))
    encoder.prepare(TEXTS, max_batch_tokens=2048)
    assert calls == [len(TEXTS)]


@pytest.mark.parametrize(
    ("lengths", "cap", "expected"),
    [
        ([3, 1, 2], 100, [[1, 2, 0]]),
        ([4, 4, 4, 4], 8, [[0, 1], [2, 3]]),
        ([10, 1], 5, [[1], [0]]),  # a text longer than the cap still runs, alone
        ([], 8, []),
    ],
)
def test_length_groups(lengths: list[int], cap: int, expected: list[list[int]]) -> None:
    groups = length_groups(np.asarray(lengths, dtype=np.int64), cap)
    assert [group.tolist() for group in groups] == expected


def test_concurrent_calls_stay_rectangular(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder.from_dir(tiny_bert_dir, max_length=16)
    failures: list[BaseException] = []
    stop = threading.Event()

    def other() -> None:
        while not stop.is_set():
            encoder.prepare(TEXTS * 4, 64)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        for _ in range(200):
            batch = encoder(TEXTS[:3])
            if batch["input_ids"].shape != batch["attention_mask"].shape or batch["input_ids"].shape[1] != 16:
                failures.append(AssertionError(batch["input_ids"].shape))
                break
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
