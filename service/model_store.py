"""Where variants come from: the `ModelStore` interface the engine loads through, and its BentoML implementation.

The store is injected into the engine, so HTTP tests run the real engine on a fake store (tests/http/fakes.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from service.classifier import Inference
from service.contracts import MetadataError, VariantMetadata, read_metadata
from service.integrity import verify_artifact

if TYPE_CHECKING:
    import bentoml

VARIANT_MODULE = "scenario_serve"  # the BentoML `module` of every variant `prepare` saves (models.store)


class ClassifierLike(Protocol):
    """What the engine needs of a loaded variant (`service.classifier.Classifier` is one)."""

    labels: list[str]

    def run(self, items: list[Any]) -> Inference: ...


@dataclass(frozen=True)
class StoredVariant:
    """A variant of the store, its metadata validated against the contract (`read_stored` makes one)."""

    name: str
    version: str
    metadata: VariantMetadata


@dataclass(frozen=True)
class UnreadableVariant:
    """A variant of the store whose metadata does not match the contract: listed with the reason, never loaded."""

    name: str
    version: str
    reason: str


def read_stored(name: str, version: str, metadata: Mapping[str, Any]) -> StoredVariant:
    """The service's one full check of a variant's stored metadata; MetadataError names the variant and the key."""
    return StoredVariant(name, version, read_metadata(metadata, f"{name}:{version}"))


def list_stored(name: str, version: str, metadata: Mapping[str, Any]) -> StoredVariant | UnreadableVariant:
    """As `read_stored`, for a listing: one variant that does not match the contract does not fail the rest."""
    try:
        return read_stored(name, version, metadata)
    except MetadataError as exc:
        return UnreadableVariant(name, version, f"{type(exc).__name__}: {exc}")


class ModelStore(Protocol):
    def describe(self, name: str) -> StoredVariant: ...

    def load(self, stored: StoredVariant, threads: int, max_batch_tokens: int) -> ClassifierLike: ...

    def list(self) -> list[StoredVariant | UnreadableVariant]: ...


class BentoModelStore:
    """Variants from the BentoML model store (`BENTOML_HOME`), latest version of each name; a variant's files are
    checked against the content hashes prepare recorded before any runtime reads them (`service.integrity`)."""

    def describe(self, name: str) -> StoredVariant:
        import bentoml

        model = bentoml.models.get(f"{name}:latest")
        return read_stored(name, str(model.tag.version), model.info.metadata)

    def load(self, stored: StoredVariant, threads: int, max_batch_tokens: int) -> ClassifierLike:
        import bentoml

        from service.classifier import load_classifier

        model = bentoml.models.get(f"{stored.name}:{stored.version}")
        verify_artifact(Path(model.path), stored.metadata.artifact_sha256)
        return load_classifier(Path(model.path), stored.metadata, threads, max_batch_tokens)

    def list(self) -> list[StoredVariant | UnreadableVariant]:
        return [list_stored(m.tag.name, str(m.tag.version), m.info.metadata) for m in latest_variants()]


def latest_variants(task: str | None = None) -> list[bentoml.Model]:
    """The latest version of every variant in the BentoML store (those `prepare` saved, with module
    VARIANT_MODULE), by name, optionally of one task only; what the service loads and `measure` measures."""
    import bentoml

    latest: dict[str, bentoml.Model] = {}
    for model in bentoml.models.list():
        if model.info.module != VARIANT_MODULE:
            continue
        if task and model.info.metadata.get("task") != task:  # raw: a listing never fails on one bad variant
            continue
        name = model.tag.name
        if name not in latest or model.info.creation_time > latest[name].info.creation_time:
            latest[name] = model
    return sorted(latest.values(), key=lambda m: m.tag.name)
