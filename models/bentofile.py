"""Keeps `bentofile.yaml`'s `models:` list equal to the variants the selection file routes."""

from __future__ import annotations

import re
from pathlib import Path

from models.deploy_sync import write_if_changed

MODELS_BLOCK = re.compile(r"^models:\n(?:[ \t]+-.*\n?)*", re.MULTILINE)


def sync_bentofile_models(path: Path, variants: list[str]) -> bool:
    """Rewrite the `models:` block (comments and the rest of the file kept); True when the file changed."""
    text = path.read_text(encoding="utf-8")
    block = "models:\n" + "".join(f'  - "{name}:latest"\n' for name in variants)
    if MODELS_BLOCK.search(text):
        updated = MODELS_BLOCK.sub(lambda _: block, text, count=1)
    else:
        updated = text.rstrip("\n") + "\n" + block
    return updated != text and write_if_changed(path, updated)
