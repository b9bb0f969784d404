"""A stand-in for one setting of BentoML's configuration container (`.get()` / `.set()`), for tests of code that
reads that container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Setting:
    value: Any

    def get(self) -> Any:
        return self.value

    def set(self, value: Any) -> None:
        self.value = value
