"""The one interface every runtime implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runtime(Protocol):
    """Executes a preprocessed batch and returns logits of shape (batch, classes)."""

    name: str

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...

    def warmup(self, inputs: dict[str, np.ndarray], runs: int = 3) -> None: ...
