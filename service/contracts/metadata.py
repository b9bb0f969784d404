"""A variant's metadata in the BentoML model store: what `prepare` built, how, how well it does, and its gate.

Written once by `models.prepare` (through `models.store.save_variant`), read by the service before it loads a
variant (`service.classifier.load_classifier`) and by the offline tools. BentoML keeps basic types only and drops
None values, so every optional key may be absent. Stores outlive code versions: reading keeps keys no field
declares (`Kept`); writing refuses them (`VariantMetadata.to_store`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from service.contracts.common import Kept, TaskKind, unknown_keys
from service.field_paths import field_path


class GateStatus(StrEnum):
    """The accuracy gate's verdict (`models.evaluate.gate`); only `rejected` variants are never served."""

    REFERENCE = "reference"  # the FP32 reference the others are gated against; not gated itself
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class RuntimeVariant(StrEnum):
    TORCH_FP32 = "torch-fp32"
    ONNX_FP32 = "onnx-fp32"
    ONNX_INT8 = "onnx-int8"


class Runtime(StrEnum):
    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"


class Precision(StrEnum):
    FP32 = "fp32"
    INT8 = "int8"


class ModelFamily(StrEnum):
    """How `service.runtimes.torch` rebuilds a torch variant from its directory."""

    HF_SEQUENCE_CLASSIFICATION = "hf-sequence-classification"
    HF_IMAGE_CLASSIFICATION = "hf-image-classification"
    TORCHVISION = "torchvision"


RUNTIME_OF = {
    RuntimeVariant.TORCH_FP32: (Runtime.TORCH, Precision.FP32),
    RuntimeVariant.ONNX_FP32: (Runtime.ONNXRUNTIME, Precision.FP32),
    RuntimeVariant.ONNX_INT8: (Runtime.ONNXRUNTIME, Precision.INT8),
}


class MetadataError(ValueError):
    """A variant's metadata does not match the contract; the message names the variant and every bad key."""


class Architecture(Kept):
    family: ModelFamily
    arch: str
    num_classes: int = Field(gt=0)
    layers: int | None = None  # transformers only
    input_names: list[str] = Field(min_length=1)


class TextInputSpec(Kept):
    max_length: int = Field(gt=0, description="tokens per text; longer texts are truncated")


class ImageInputSpec(Kept):
    image_size: int = Field(gt=0, description="square side the image is resized to")
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layout: Literal["NCHW"] = "NCHW"


class Training(Kept):
    rows: int = Field(ge=0)
    steps: int = Field(ge=0)
    final_loss: float
    epochs: float
    max_samples: int | None = None
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int


class TestSplit(Kept):
    __test__ = False  # a document, not a pytest test class

    fingerprint: str
    rows: int = Field(ge=0)


class DynamicQuantization(Kept):
    method: Literal["dynamic"]
    weight_type: str
    per_channel: bool
    op_types: list[str]
    preprocess: str


class StaticQuantization(Kept):
    method: Literal["static"]
    format: str
    activation_type: str
    weight_type: str
    per_channel: bool
    calibration: str
    op_types: list[str]
    preprocess: str
    calibration_batches: int = Field(gt=0)
    calibrated_at: str


Quantization = Annotated[DynamicQuantization | StaticQuantization, Field(discriminator="method")]


class Timing(Kept):
    p50_ms: float
    p90_ms: float
    samples: int


class SizeProbe(Kept):
    """ONNX FP32 vs INT8 at batch 1 at one image size."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    onnx_fp32: Timing = Field(alias="onnx-fp32")
    onnx_int8: Timing = Field(alias="onnx-int8")
    int8_over_fp32_p50: float


# `batch` and `threads` (ints) beside one SizeProbe per image size ("32x32", "224x224"), as prepare records it.
LatencyProbe = dict[str, int | SizeProbe]


class OutputAgreement(Kept):
    """How closely a derived variant reproduces its reference's logits on the test split."""

    top1_agreement: float = Field(ge=0, le=1)
    max_abs_logit_diff: float = Field(ge=0)
    mean_abs_logit_diff: float = Field(ge=0)


class Evaluation(Kept):
    """Task metrics on the fixed test split (`models.evaluate.classification_metrics`)."""

    samples: int = Field(gt=0)
    accuracy: float = Field(ge=0, le=1)
    macro_precision: float = Field(ge=0, le=1)
    macro_recall: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    per_class_f1: dict[str, float]
    confusion_matrix: list[list[int]]
    vs_reference: OutputAgreement | None = None  # derived variants only


class Gate(Kept):
    status: GateStatus
    reason: str
    macro_f1_drop_points: float | None = None  # gated variants only
    max_drop_points: float | None = None


class ServingSpec(Kept):
    """What loading a variant takes (`service.classifier.load_classifier`): the part of its metadata it reads."""

    task_kind: TaskKind
    labels: list[str] = Field(min_length=2)
    runtime: Runtime
    architecture: Architecture | None = None  # what the torch runtime rebuilds; ONNX files carry their graph
    input_spec: TextInputSpec | ImageInputSpec

    @model_validator(mode="after")
    def _torch_needs_its_architecture(self) -> ServingSpec:
        if self.runtime == Runtime.TORCH and self.architecture is None:
            raise ValueError("architecture: required to load a torch variant")
        return self


class VariantMetadata(Kept):
    """Everything `prepare` records in a variant's store metadata, in the order it writes it."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    task: str = Field(min_length=1)
    task_kind: TaskKind
    labels: list[str] = Field(min_length=2)
    candidate: str
    description: str
    source: dict[str, str | None] = Field(description="the catalog's source entry (None: not set; not stored)")
    architecture: Architecture
    input_spec: TextInputSpec | ImageInputSpec
    training: Training
    test_split: TestSplit
    versions: dict[str, str | None] = Field(description="python and package versions (None: not installed)")
    git_commit: str
    variant: RuntimeVariant
    runtime: Runtime
    precision: Precision
    quantization: Quantization | None = None  # onnx-int8 only
    reference: str | None = None  # the torch-fp32 variant it derives from; None for that one itself
    size_bytes: int = Field(ge=0)
    fingerprint: str = Field(description="hash of everything it was built from; equal means current")
    latency_probe: LatencyProbe | None = None  # image onnx variants only
    evaluation: Evaluation = Field(alias="eval")
    gate: Gate
    artifact_sha256: dict[str, str] | None = None  # relative path -> sha256; None: stored before it was recorded

    @model_validator(mode="after")
    def _consistent(self) -> VariantMetadata:
        if (self.runtime, self.precision) != RUNTIME_OF[self.variant]:
            expected = "/".join(RUNTIME_OF[self.variant])
            raise ValueError(f"variant {self.variant} runs on {expected}, not {self.runtime}/{self.precision}")
        spec_kind = "text" if isinstance(self.input_spec, TextInputSpec) else "image"
        if spec_kind != self.task_kind:
            raise ValueError(f"input_spec: an input spec of the {spec_kind} kind for a {self.task_kind} task")
        return self

    def serving_spec(self) -> ServingSpec:
        return ServingSpec(
            task_kind=self.task_kind,
            labels=self.labels,
            runtime=self.runtime,
            architecture=self.architecture,
            input_spec=self.input_spec,
        )

    def to_store(self) -> dict[str, Any]:
        """The JSON-able dict BentoML stores (None values left out); refuses keys no field declares."""
        unknown = unknown_keys(self)
        if unknown:
            raise MetadataError(f"variant metadata has keys no field declares: {', '.join(unknown)}")
        return self.model_dump(mode="json", exclude_none=True)


def read_metadata(raw: Mapping[str, Any] | VariantMetadata, variant: str = "variant") -> VariantMetadata:
    """Validate stored metadata; a missing or malformed key raises MetadataError naming the variant and the key."""
    return raw if isinstance(raw, VariantMetadata) else _validated(VariantMetadata, raw, variant)


def _validated(contract: type[Kept], raw: Mapping[str, Any], variant: str) -> Any:
    try:
        return contract.model_validate(dict(raw))
    except ValidationError as exc:
        problems = [f"{field_path(e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise MetadataError(f"{variant}: metadata does not match the contract: {'; '.join(problems)}") from None


def serving_spec(metadata: ServingSpec | VariantMetadata | Mapping[str, Any], variant: str = "variant") -> ServingSpec:
    """The loading part of a variant's metadata; of stored metadata (a mapping), only that part is validated (the
    keys it needs, by their contract; MetadataError names the variant and the key)."""
    if isinstance(metadata, ServingSpec):
        return metadata
    if isinstance(metadata, VariantMetadata):
        return metadata.serving_spec()
    return _validated(ServingSpec, metadata, variant)
