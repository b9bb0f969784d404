"""The documents between the stages (`service.contracts`): round trips, errors that name the key, every stored
variant's metadata, and a renamed key failing loudly on the report's path instead of rendering as "—"."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from models.evaluate import gate
from models.report import render_report, report_data
from service.contracts import (
    Evaluation,
    GateStatus,
    LiveObservations,
    Measurements,
    MeasurementsError,
    MetadataError,
    ReportData,
    SelectionEvidence,
    VariantMetadata,
    is_select_evidence,
    read_metadata,
)
from service.contracts.evidence import RouteEvidence
from service.routing import SelectionError, load_selection, parse_selection

REPO = Path(__file__).resolve().parents[2]
REPORT_DATA = REPO / "tests" / "data" / "report"
SELECTIONS = (REPO / "service" / "selection.json", REPORT_DATA / "selection.json")
EVIDENCE: TypeAdapter[RouteEvidence] = TypeAdapter(RouteEvidence)  # as GET /v1/scenarios shows a route's evidence
K8S_SELECTION = REPO / "deploy" / "kubernetes" / "base" / "selection.json"
STORES = {  # read only: every model.yaml of the user's store and of the test store (BENTOML_HOME, conftest)
    "user store": Path.home() / "bentoml",
    "test store": Path(os.environ["BENTOML_HOME"]),
}


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def evaluation(macro_f1: float) -> dict[str, Any]:
    return {
        "samples": 4,
        "accuracy": 0.75,
        "macro_precision": 0.7,
        "macro_recall": 0.7,
        "macro_f1": macro_f1,
        "per_class_f1": {"neg": 0.8, "pos": 0.6},
        "confusion_matrix": [[2, 0], [1, 1]],
    }


def text_metadata() -> dict[str, Any]:
    """A text variant's metadata as prepare stores it (None values left out)."""
    return {
        "task": "reviews",
        "task_kind": "text",
        "labels": ["neg", "pos"],
        "candidate": "tiny-bert",
        "description": "",
        "source": {"type": "local", "path": "/models/tiny-bert"},
        "architecture": {
            "family": "hf-sequence-classification",
            "arch": "bert",
            "num_classes": 2,
            "layers": 2,
            "input_names": ["input_ids", "attention_mask", "token_type_ids"],
        },
        "input_spec": {"max_length": 16},
        "training": {
            "rows": 100,
            "steps": 7,
            "final_loss": 0.3,
            "epochs": 1.0,
            "batch_size": 16,
            "learning_rate": 0.005,
            "weight_decay": 0.01,
            "seed": 0,
        },
        "test_split": {"fingerprint": "84c2100e468aa1b7", "rows": 4},
        "versions": {"python": "3.11.7", "onnxruntime": "1.32.0"},
        "git_commit": "efc3562",
        "variant": "onnx-int8",
        "runtime": "onnxruntime",
        "precision": "int8",
        "quantization": {
            "method": "dynamic",
            "weight_type": "QInt8",
            "per_channel": True,
            "op_types": ["MatMul", "Gather"],
            "preprocess": "onnxruntime.quantization.quant_pre_process",
        },
        "reference": "reviews-tiny-bert-torch-fp32",
        "size_bytes": 1234,
        "fingerprint": "3402271b2a888320",
        "eval": {
            **evaluation(0.7),
            "vs_reference": {"top1_agreement": 1.0, "max_abs_logit_diff": 0.01, "mean_abs_logit_diff": 0.001},
        },
        "gate": {
            "status": "accepted",
            "reason": "macro-F1 within 1.00 points of its reference",
            "macro_f1_drop_points": 0.5,
            "max_drop_points": 1.0,
        },
        "artifact_sha256": {"model.onnx": "ab" * 32},
    }


def select_routes(selection: dict[str, Any]) -> list[dict[str, Any]]:
    return [route for task in selection["tasks"].values() for route in task["scenarios"].values()]


# --- round trips ----------------------------------------------------------------------------------------------


def test_variant_metadata_round_trips_to_the_stored_dict() -> None:
    stored = text_metadata()
    typed = read_metadata(stored)
    assert typed.gate.status is GateStatus.ACCEPTED and typed.evaluation.vs_reference is not None
    assert typed.to_store() == stored and list(typed.to_store()) == list(stored)  # same keys, same order


@pytest.mark.parametrize("path", SELECTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_selection_evidence_round_trips_byte_for_byte(path: Path) -> None:
    routes = select_routes(load_json(path))
    assert routes and all(is_select_evidence(r["evidence"]) for r in routes)
    for route in routes:
        typed = SelectionEvidence.model_validate(route["evidence"])
        assert json.dumps(typed.model_dump(mode="json")) == json.dumps(route["evidence"])
    in_file = iter(routes)
    for task in load_selection(path).tasks.values():
        for route in task.scenarios.values():  # typed on load; GET /v1/scenarios shows it as the file has it
            assert isinstance(route.evidence, SelectionEvidence) and route.select_evidence() is route.evidence
            assert json.dumps(EVIDENCE.dump_python(route.evidence, mode="json")) == json.dumps(
                next(in_file)["evidence"]
            )


def test_the_deployed_selection_without_evidence_still_loads() -> None:
    selection = load_selection(K8S_SELECTION)
    assert all(
        r.evidence == {} and r.select_evidence() is None for t in selection.tasks.values() for r in t.scenarios.values()
    )


def test_a_candidate_not_measured_keeps_its_empty_metrics() -> None:
    evidence = select_routes(load_json(REPORT_DATA / "selection.json"))[0]["evidence"]
    unmeasured = {
        "variant": "x",
        "rank": None,
        "feasible": False,
        "metrics": {},
        "failures": [{"constraint": "threads", "limit": 4, "value": None, "excess": None, "excess_pct": 100.0}],
    }
    evidence = {**evidence, "candidates": [*evidence["candidates"], unmeasured]}
    typed = SelectionEvidence.model_validate(evidence)
    assert typed.candidates[-1].metrics is None and typed.candidates[-1].failures[0].limit == 4
    assert typed.model_dump(mode="json") == evidence  # `{}` and the integer thread count as they were


def test_report_data_round_trips() -> None:
    inputs = [load_json(REPORT_DATA / f"{name}.json") for name in ("measurements", "selection", "live")]
    data = report_data(*inputs, peak_rps=400.0)
    dumped = data.model_dump(mode="json")
    assert dumped == load_json(REPORT_DATA / "golden.json")
    assert ReportData.model_validate(dumped) == data


# --- errors name the key --------------------------------------------------------------------------------------


def test_metadata_errors_name_the_variant_and_the_key() -> None:
    broken = text_metadata()
    del broken["gate"]["status"]
    broken["eval"]["macro_f1"] = "high"
    with pytest.raises(MetadataError) as caught:
        read_metadata(broken, "reviews-tiny-bert-onnx-int8")
    message = str(caught.value)
    assert message.startswith("reviews-tiny-bert-onnx-int8: ")
    assert "gate.status: Field required" in message and "eval.macro_f1: Input should be a valid number" in message


def test_metadata_status_and_runtime_are_enums() -> None:
    for key, value in (("gate", {"status": "approved", "reason": "?"}), ("runtime", "tensorrt")):
        with pytest.raises(MetadataError, match=key):
            read_metadata({**text_metadata(), key: value})
    with pytest.raises(MetadataError, match="variant onnx-int8 runs on onnxruntime/int8, not torch/int8"):
        read_metadata({**text_metadata(), "runtime": "torch"})
    with pytest.raises(MetadataError, match="input_spec: an input spec of the image kind for a text task"):
        read_metadata({**text_metadata(), "input_spec": {"image_size": 32, "mean": [0, 0, 0], "std": [1, 1, 1]}})


def test_loading_validates_the_part_of_the_metadata_it_reads(tmp_path: Path) -> None:
    from service.classifier import load_classifier

    loading = {"task_kind": "text", "labels": ["neg", "pos"], "runtime": "onnxruntime", "input_spec": {"max_len": 8}}
    with pytest.raises(MetadataError, match=r"input_spec\.TextInputSpec\.max_length: Field required"):
        load_classifier(tmp_path, loading)
    with pytest.raises(MetadataError, match="architecture: required to load a torch variant"):
        load_classifier(tmp_path, {**loading, "runtime": "torch", "input_spec": {"max_length": 8}})


def test_unknown_metadata_keys_are_kept_on_read_and_refused_on_write() -> None:
    stored = text_metadata()
    stored["license"] = "apache-2.0"  # written by a newer prepare
    stored["eval"]["macro_f1_weighted"] = 0.7
    typed = read_metadata(stored)
    assert typed.model_extra == {"license": "apache-2.0"}
    with pytest.raises(MetadataError, match=r"keys no field declares: license, eval\.macro_f1_weighted"):
        typed.to_store()


def test_save_variant_refuses_unknown_keys_before_storing(tmp_path: Path) -> None:
    import bentoml
    from bentoml.exceptions import NotFound

    from models.store import save_variant

    (tmp_path / "model.onnx").write_bytes(b"not stored")
    with pytest.raises(MetadataError, match="accurcy"):
        save_variant("contracts-refused-onnx-int8", tmp_path, {**text_metadata(), "accurcy": 0.7})
    with pytest.raises(NotFound):
        bentoml.models.get("contracts-refused-onnx-int8:latest")


def test_gate_verdicts_are_typed_and_stored_as_plain_strings() -> None:
    reference = Evaluation.model_validate(evaluation(0.80))
    rejected = gate(Evaluation.model_validate(evaluation(0.70)), reference, max_drop_points=1.0)
    assert rejected.status is GateStatus.REJECTED and rejected.macro_f1_drop_points == pytest.approx(10.0)
    assert gate(reference, None, 1.0).status is GateStatus.REFERENCE
    stored = VariantMetadata.model_validate({**text_metadata(), "gate": rejected}).to_store()
    assert stored["gate"]["status"] == "rejected" and type(stored["gate"]["status"]) is str


def test_a_selection_with_a_renamed_evidence_key_names_it() -> None:
    selection = load_json(REPORT_DATA / "selection.json")
    evidence = selection["tasks"]["sentiment"]["scenarios"]["edge"]["evidence"]
    evidence["candidates"][0]["failures"][0]["exceeds"] = evidence["candidates"][0]["failures"][0].pop("excess")
    with pytest.raises(SelectionError) as caught:
        parse_selection(selection)
    assert caught.value.key == "tasks.sentiment.scenarios.edge.evidence.candidates[0].failures[0].excess"
    assert "evidence.candidates[0].failures[0].exceeds: Extra inputs are not permitted" in str(caught.value)


def test_hand_written_notes_are_kept_as_evidence_without_being_select_s() -> None:
    selection = load_json(REPORT_DATA / "selection.json")
    route = selection["tasks"]["sentiment"]["scenarios"]["realtime"]
    route["evidence"] = {"note": "picked by hand"}
    parsed = parse_selection(selection).tasks["sentiment"].scenarios["realtime"]
    assert parsed.evidence == {"note": "picked by hand"} and parsed.select_evidence() is None
    assert EVIDENCE.dump_python(parsed.evidence, mode="json") == {"note": "picked by hand"}
    route["evidence"] = {"note": "by hand", "feasible": True}  # one of select's keys: then all of them
    with pytest.raises(SelectionError, match=r"realtime\.evidence\.message: Field required"):
        parse_selection(selection)
    route["evidence"] = "picked by hand"
    with pytest.raises(SelectionError, match=r"realtime\.evidence: Value error, must be an object"):
        parse_selection(selection)


# --- the report's path ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_inputs() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return (
        load_json(REPORT_DATA / "measurements.json"),
        load_json(REPORT_DATA / "selection.json"),
        load_json(REPORT_DATA / "live.json"),
    )


def test_a_renamed_evidence_key_fails_the_report_instead_of_showing_a_dash(report_inputs: tuple) -> None:
    measurements, selection, live = copy.deepcopy(report_inputs)
    evidence = selection["tasks"]["sentiment"]["scenarios"]["realtime"]["evidence"]
    evidence["baseline_variant"] = evidence.pop("baseline")
    with pytest.raises(SelectionError) as caught:
        render_report(measurements, selection, live)
    assert caught.value.key == "tasks.sentiment.scenarios.realtime.evidence.baseline"
    assert "evidence.baseline_variant: Extra inputs are not permitted" in str(caught.value)


def test_a_renamed_live_key_fails_the_report(report_inputs: tuple) -> None:
    measurements, selection, live = copy.deepcopy(report_inputs)
    observed = live["scenarios"]["sentiment"]["realtime"]
    observed["p99"] = observed.pop("p99_ms")
    with pytest.raises(ValidationError, match=r"scenarios\.sentiment\.realtime\.p99_ms"):
        render_report(measurements, selection, live)
    with pytest.raises(ValidationError, match="prometheus"):
        LiveObservations.model_validate({"scenarios": {}})


def test_a_renamed_measurements_key_fails_the_report_instead_of_showing_a_dash(report_inputs: tuple) -> None:
    measurements, selection, live = copy.deepcopy(report_inputs)
    memory = measurements["tasks"]["sentiment"]["variants"]["sentiment-minilm-l6-onnx-int8"]["runs"]["1"]["memory"]
    memory["peak_mb"] = memory.pop("peak_rss_mb")
    with pytest.raises(MeasurementsError) as caught:
        render_report(measurements, selection, live)
    where = "tasks.sentiment.variants.sentiment-minilm-l6-onnx-int8.runs.1.memory"
    assert f"{where}.peak_rss_mb: Field required" in str(caught.value)
    assert f"{where}.peak_mb: Extra inputs are not permitted" in str(caught.value)


def test_measurements_runtime_and_thread_keys_must_agree(report_inputs: tuple) -> None:
    def broken(change: Any) -> dict[str, Any]:
        measurements = copy.deepcopy(report_inputs[0])
        change(measurements["tasks"]["sentiment"]["variants"]["sentiment-minilm-l6-onnx-int8"])
        return measurements

    with pytest.raises(ValidationError, match="variant onnx-int8 runs on onnxruntime/int8, not torch/int8"):
        Measurements.model_validate(broken(lambda variant: variant.update(runtime="torch")))
    with pytest.raises(ValidationError, match="keyed by thread count, but run 2 says threads=3"):
        Measurements.model_validate(broken(lambda variant: variant["runs"]["2"].update(threads=3)))


def test_report_data_refuses_a_renamed_key() -> None:
    data = load_json(REPORT_DATA / "golden.json")
    data["tasks"]["sentiment"]["scenarios"]["realtime"]["verdict"] = data["tasks"]["sentiment"]["scenarios"][
        "realtime"
    ].pop("feasible")
    with pytest.raises(ValidationError) as caught:
        ReportData.model_validate(data)
    locations = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert locations == {"tasks.sentiment.scenarios.realtime.feasible", "tasks.sentiment.scenarios.realtime.verdict"}


# --- every stored variant -------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", list(STORES), ids=list(STORES))
def test_every_stored_variant_matches_the_contract(store: str) -> None:
    """Metadata written by every code version that prepared these stores reads back; nothing is unknown."""
    files = sorted(STORES[store].glob("models/*/*/model.yaml"))
    documents = [yaml.safe_load(f.read_text(encoding="utf-8")) for f in files]
    variants = [d for d in documents if d.get("module") == "scenario_serve"]
    if not variants:
        pytest.skip(f"no prepared variants in the {store} ({STORES[store]})")
    for document in variants:
        name = f"{document['name']}:{document['version']}"
        typed = read_metadata(document["metadata"], name)
        assert typed.to_store() == document["metadata"], name
        assert document["labels"]["gate"] == typed.gate.status, name
