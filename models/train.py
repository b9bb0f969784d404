"""Fine-tuning: one plain loop for text and image classifiers (AdamW, linear warm-up and decay)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.catalog import TrainConfig
from models.datasets import Split

Encode = Callable[[list[Any]], dict[str, np.ndarray]]


def training_rows(split: Split, config: TrainConfig) -> np.ndarray:
    """Indices of the rows the budget allows, a seeded sample of the training split."""
    order = np.random.default_rng(config.seed).permutation(len(split.items))
    return order[: config.max_samples] if config.max_samples else order


def _schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, total_steps // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fine_tune(module: nn.Module, encode: Encode, split: Split, config: TrainConfig, desc: str) -> dict[str, Any]:
    """Train `module` in place on the budgeted rows of `split`; returns what was done, for provenance."""
    torch.manual_seed(config.seed)
    rows = training_rows(split, config)
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = _schedule(optimizer, total_steps)
    rng = np.random.default_rng(config.seed)
    module.train()
    losses: list[float] = []
    with tqdm(total=total_steps, desc=desc, unit="step", leave=False) as progress:
        while len(losses) < total_steps:
            order = rng.permutation(rows)
            for start in range(0, len(order), config.batch_size):
                if len(losses) >= total_steps:
                    break
                batch = order[start : start + config.batch_size]
                inputs = {k: torch.from_numpy(v) for k, v in encode([split.items[i] for i in batch]).items()}
                loss = nn.functional.cross_entropy(module(**inputs), torch.from_numpy(split.targets[batch]))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                progress.update()
                progress.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    module.eval()
    return {
        "rows": int(len(rows)),
        "steps": total_steps,
        "final_loss": round(float(np.mean(losses[-20:])), 4),
        **config.model_dump(),
    }
