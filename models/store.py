"""Variants in the BentoML model store: names, metadata, idempotent saves, listing."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound

from service.contracts import VariantMetadata, read_metadata
from service.integrity import METADATA_KEY, artifact_digests
from service.model_store import latest_variants

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


def save_variant(name: str, files: Path, metadata: VariantMetadata | Mapping[str, Any]) -> bentoml.Model:
    """Copy a built variant directory into the store as a new version of `name`, with the SHA-256 of each of its
    files in the metadata (`artifact_sha256`), which the service verifies before loading it.

    The metadata is validated against the contract (`service.contracts.VariantMetadata`) and may hold no key it
    does not declare: MetadataError names the key, and nothing is stored."""
    typed = read_metadata(metadata, name).model_copy(update={METADATA_KEY: artifact_digests(files)})
    stored = typed.to_store()
    labels = {  # plain str: BentoML writes them to YAML, which does not know enum members
        "task": typed.task,
        "runtime": str(typed.runtime),
        "variant": str(typed.variant),
        "gate": str(typed.gate.status),
    }
    with bentoml.models.create(name, labels=labels, metadata=store_safe(stored), module="scenario_serve") as model:
        shutil.copytree(files, model.path, dirs_exist_ok=True)
    return model


def record_digests(model: bentoml.Model) -> bool:
    """Record the content hashes of a variant stored before prepare recorded them, as its files are now, in its
    model.yaml (no rebuild); False when they are recorded already."""
    if METADATA_KEY in model.info.metadata:
        return False
    model.info.metadata[METADATA_KEY] = store_safe(artifact_digests(Path(model.path)))
    model.flush()  # rewrites model.yaml from model.info
    return True


def list_variants(task: str | None = None) -> list[bentoml.Model]:
    """Latest version of every scenario-serve variant in the store, optionally for one task: the listing the
    service loads from (`service.model_store.latest_variants`)."""
    return latest_variants(task)
