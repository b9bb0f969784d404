"""Variants in the BentoML model store: names, metadata, idempotent saves, listing."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound

RUNTIME_VARIANTS = ("torch-fp32", "onnx-fp32", "onnx-int8")


def variant_name(task: str, candidate: str, variant: str) -> str:
    """Store name of a variant, e.g. `sentiment-minilm-l6-onnx-int8`."""
    return f"{task}-{candidate}-{variant}"


def fingerprint(*parts: Any) -> str:
    """Hash of everything a variant is built from; equal fingerprints mean the stored one is current."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def find_current(name: str, expected_fingerprint: str) -> bentoml.Model | None:
    try:
        model = bentoml.models.get(f"{name}:latest")
    except NotFound:
        return None
    return model if model.info.metadata.get("fingerprint") == expected_fingerprint else None


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def package_versions(*packages: str) -> dict[str, str | None]:
    """Python's and the installed packages' versions (None when one is not installed), without importing them."""
    import importlib.metadata
    import platform

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def store_safe(value: Any) -> Any:
    """BentoML metadata takes basic types only: plain JSON values, with None entries dropped."""
    return _drop_none(json.loads(json.dumps(value, default=str)))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def save_variant(name: str, files: Path, metadata: dict[str, Any]) -> bentoml.Model:
    """Copy a built variant directory into the store as a new version of `name`."""
    labels = {
        "task": str(metadata["task"]),
        "runtime": str(metadata["runtime"]),
        "variant": str(metadata["variant"]),
        "gate": str(metadata["gate"]["status"]),
    }
    with bentoml.models.create(name, labels=labels, metadata=store_safe(metadata), module="scenario_serve") as model:
        shutil.copytree(files, model.path, dirs_exist_ok=True)
    return model


def list_variants(task: str | None = None) -> list[bentoml.Model]:
    """Latest version of every scenario-serve variant in the store, optionally for one task."""
    latest: dict[str, bentoml.Model] = {}
    for model in bentoml.models.list():
        if model.info.module != "scenario_serve":
            continue
        if task and model.info.metadata.get("task") != task:
            continue
        name = model.tag.name
        if name not in latest or model.info.creation_time > latest[name].info.creation_time:
            latest[name] = model
    return sorted(latest.values(), key=lambda m: m.tag.name)
