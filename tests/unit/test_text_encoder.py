"""The text encoder is shared by the batcher's inference thread and the request path's truncation check."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from service.preprocessing import TextEncoder


def test_concurrent_encoding_and_token_counts_stay_rectangular(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder.from_dir(tiny_bert_dir, max_length=16)
    texts = ["short", "a much longer text with many more words than the other one in the batch", "mid length text"]
    failures: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            encoder.token_counts(texts * 4)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(200):
            try:
                batch = encoder(texts)
                assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 16)
            except (AssertionError, ValueError) as exc:
                failures.append(exc)
                break
    finally:
        stop.set()
        counter.join()
    assert not failures, failures
    assert np.array_equal(encoder(texts)["input_ids"].shape, (3, 16))
