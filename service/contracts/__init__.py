"""The documents that pass between the stages, as pydantic models: the one definition every writer and reader uses.

    prepare ──VariantMetadata──▶ model store ──▶ service (load_classifier), measure
    measure ──Measurements (reports/measurements.json)──▶ select, report
    select ──SelectionEvidence (in selection.json)──▶ report, GET /v1/scenarios
    live ──LiveObservations──▶ report ──ReportData (report.json)──▶ Markdown, HTML

The bottom layer: `service/` may not import `models/`, and both sides need these, so they live here and import
nothing but pydantic. Unknown keys: documents written and read by the same code version (`Strict`: measurements,
evidence, report data, live observations) forbid them, so a key renamed on one side fails where it is read, naming it;
variant metadata outlives code versions in the store (`Kept`): reading keeps unknown keys, writing refuses them.
"""

from service.contracts.common import Kept, Objective, Strict, TaskKind, unknown_keys
from service.contracts.evidence import (
    CandidateEvidence,
    ConstraintFailure,
    MeasurementsRef,
    ScenarioMetrics,
    SelectionEvidence,
    is_select_evidence,
)
from service.contracts.measurements import (
    Measurements,
    MeasurementsError,
    Run,
    ServerSearch,
    TaskMeasurements,
    VariantMeasurements,
    read_measurements,
)
from service.contracts.metadata import (
    Evaluation,
    Gate,
    GateStatus,
    ImageInputSpec,
    MetadataError,
    OutputAgreement,
    Precision,
    Runtime,
    RuntimeVariant,
    ServingSpec,
    TextInputSpec,
    VariantMetadata,
    read_metadata,
)
from service.contracts.report import CapacityPlan, LiveObservations, ReportData

__all__ = [
    "CandidateEvidence",
    "CapacityPlan",
    "ConstraintFailure",
    "Evaluation",
    "Gate",
    "GateStatus",
    "ImageInputSpec",
    "Kept",
    "LiveObservations",
    "Measurements",
    "MeasurementsError",
    "MeasurementsRef",
    "MetadataError",
    "Objective",
    "OutputAgreement",
    "Precision",
    "ReportData",
    "Run",
    "Runtime",
    "RuntimeVariant",
    "ScenarioMetrics",
    "SelectionEvidence",
    "ServerSearch",
    "ServingSpec",
    "Strict",
    "TaskKind",
    "TaskMeasurements",
    "TextInputSpec",
    "VariantMeasurements",
    "VariantMetadata",
    "is_select_evidence",
    "read_measurements",
    "read_metadata",
    "unknown_keys",
]
