"""prepare: for every enabled candidate, train it, build its variants, evaluate, gate, and store them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from models.catalog import Candidate, Catalog, Task, TrainConfig
from models.datasets import Split, TaskData, load_task_data
from models.evaluate import classification_metrics, compare_outputs, gate
from models.export import OPSET, export_onnx
from models.latency import interleaved_latency
from models.quantize import DYNAMIC_RECIPE, STATIC_RECIPE, quantize_dynamic_int8, quantize_static_int8
from models.sources import LoadedModel, load_candidate
from models.store import (
    RUNTIME_VARIANTS,
    directory_bytes,
    find_current,
    fingerprint,
    git_commit,
    package_versions,
    record_digests,
    save_variant,
    variant_name,
)
from models.train import fine_tune
from service.classifier import load_classifier
from service.contracts import Evaluation, ImageInputSpec, RuntimeVariant, ServingSpec, TextInputSpec, VariantMetadata
from service.contracts.metadata import RUNTIME_OF, TestSplit
from service.preprocessing import ImageSpec, TextEncoder, images_to_batch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_BATCH = 64
PIPELINE_VERSION = 1  # bump when a change here alters what prepare builds
# prepare trains, evaluates and probes one model at a time, so it uses both cores of the reference machine; the
# service instead runs each variant with ServiceConfig.threads (1) in each of its workers (one per core). Evaluation
# results do not depend on it; the latency probe in each variant's metadata records the count it ran with.
PREPARE_THREADS = 2


@dataclass
class Options:
    force: bool = False
    threads: int = PREPARE_THREADS
    max_samples: int | None = None  # overrides every candidate's training budget
    epochs: float | None = None
    gate_max_drop: float | None = None  # overrides the task's gate threshold
    latency_runs: int = 30


@dataclass
class VariantRow:
    name: str
    metadata: dict[str, Any]  # as the store holds it (`service.contracts.VariantMetadata`)
    status: str  # built | current


def input_spec(task: Task) -> TextInputSpec | ImageInputSpec:
    if task.kind == "text":
        return TextInputSpec(max_length=task.max_length)
    return ImageInputSpec(image_size=task.image_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def make_encoder(task: Task, loaded: LoadedModel) -> Callable[[list[Any]], dict[str, np.ndarray]]:
    if task.kind == "text":
        return TextEncoder(loaded.tokenizer, task.max_length)
    return image_encoder(task)


def image_encoder(task: Task) -> Callable[[list[Any]], dict[str, np.ndarray]]:
    """Images to the served model's input batch (ImageNet normalization at the task's size)."""
    spec = ImageSpec(task.image_size, IMAGENET_MEAN, IMAGENET_STD)
    return lambda images: images_to_batch(images, spec)


def train_config(candidate: Candidate, options: Options) -> TrainConfig:
    updates = {"max_samples": options.max_samples, "epochs": options.epochs}
    return candidate.train.model_copy(update={k: v for k, v in updates.items() if v is not None})


def versions() -> dict[str, str | None]:
    return package_versions("torch", "onnxruntime", "transformers")


def batch_logits(predict: Callable[[list[Any]], np.ndarray], items: list[Any], desc: str) -> np.ndarray:
    """Logits in the order of `items`; texts are batched by length so little compute goes to padding."""
    order = (
        np.argsort([len(i) for i in items], kind="stable")
        if items and isinstance(items[0], str)
        else np.arange(len(items))
    )
    chunks = [
        predict([items[i] for i in order[start : start + EVAL_BATCH]])
        for start in tqdm(range(0, len(items), EVAL_BATCH), desc=desc, unit="batch", leave=False)
    ]
    stacked = np.concatenate(chunks)
    logits = np.empty_like(stacked)
    logits[order] = stacked
    return logits


def evaluate_variant(
    model_dir: Path, spec: ServingSpec, test: Split, reference_logits: np.ndarray | None, threads: int
) -> tuple[Evaluation, np.ndarray]:
    """Evaluate a built variant exactly as it will be served (loaded back from its directory)."""
    classifier = load_classifier(model_dir, spec, threads=threads)
    logits = batch_logits(classifier.logits, test.items, f"eval {model_dir.name}")
    evaluation = classification_metrics(logits, test.targets, spec.labels)
    if reference_logits is not None:
        evaluation = evaluation.model_copy(update={"vs_reference": compare_outputs(logits, reference_logits)})
    return evaluation, logits


def calibration_batches(
    encode: Callable[[list[Any]], dict[str, np.ndarray]], train: list[Any]
) -> list[dict[str, np.ndarray]]:
    """The static quantizer's calibration data: 16 batches of 8 training images, at the served size."""
    return [encode(train[i : i + 8]) for i in range(0, min(128, len(train)), 8)]


def build_variant_dirs(task: Task, loaded: LoadedModel, data: TaskData, root: Path) -> dict[str, dict[str, Any]]:
    """Write the three variant directories; returns each variant's quantization record."""
    dirs = {variant: root / variant for variant in RUNTIME_VARIANTS}
    for directory in dirs.values():
        directory.mkdir()
    loaded.save(dirs["torch-fp32"])
    encode = make_encoder(task, loaded)
    input_names = loaded.architecture["input_names"]
    if task.kind == "text":
        for variant in ("onnx-fp32", "onnx-int8"):
            loaded.tokenizer.save_pretrained(str(dirs[variant]))
        example = encode(sorted(data.train.items[:8], key=len)[:1] + data.train.items[:1])  # padded batch
    else:
        example = encode(data.train.items[:2])
    export_onnx(loaded.module, example, input_names, dirs["onnx-fp32"] / "model.onnx")
    fp32, int8 = dirs["onnx-fp32"] / "model.onnx", dirs["onnx-int8"] / "model.onnx"
    if task.kind == "text":
        recipe = quantize_dynamic_int8(fp32, int8)
    else:
        recipe = quantize_static_int8(fp32, int8, calibration_batches(encode, data.train.items))
    return {"torch-fp32": {}, "onnx-fp32": {}, "onnx-int8": recipe}


def image_latency(task: Task, root: Path, options: Options) -> dict[str, Any]:
    """INT8 vs FP32 ONNX at batch 1, at the served size and at 224x224 (real photo size)."""
    from service.runtimes.onnx import OnnxRuntime

    runtimes = {v: OnnxRuntime(root / v / "model.onnx", options.threads) for v in ("onnx-fp32", "onnx-int8")}
    result: dict[str, Any] = {"batch": 1, "threads": options.threads}
    for side in sorted({task.image_size, 224}):
        pixels = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
        timings = interleaved_latency(runtimes, {"pixel_values": pixels}, runs=options.latency_runs)
        ratio = timings["onnx-int8"]["p50_ms"] / timings["onnx-fp32"]["p50_ms"]
        result[f"{side}x{side}"] = {**timings, "int8_over_fp32_p50": round(ratio, 3)}
    return result


def prepare_candidate(
    task_name: str,
    task: Task,
    candidate: Candidate,
    data: TaskData,
    options: Options,
    log: Callable[[str], None] = print,
) -> list[VariantRow]:
    config = train_config(candidate, options)
    max_drop = task.gate_max_drop if options.gate_max_drop is None else options.gate_max_drop
    task_spec = task.model_dump(mode="json", exclude={"candidates", "description", "gate_max_drop"})
    base = fingerprint(
        PIPELINE_VERSION,
        task_spec,
        candidate.model_dump(mode="json", exclude={"train"}),
        config.model_dump(),
        data.test_fingerprint,
    )
    recipes = {
        "torch-fp32": None,
        "onnx-fp32": OPSET,
        "onnx-int8": DYNAMIC_RECIPE if task.kind == "text" else STATIC_RECIPE,
    }
    prints = {v: fingerprint(base, v, recipes[v], max_drop) for v in RUNTIME_VARIANTS}
    names = {v: variant_name(task_name, candidate.name, v) for v in RUNTIME_VARIANTS}
    found = {v: find_current(names[v], prints[v]) for v in RUNTIME_VARIANTS}
    current = {v: model for v, model in found.items() if model is not None}
    if not options.force and len(current) == len(RUNTIME_VARIANTS):
        for model in current.values():
            if record_digests(model):  # stored before prepare recorded content hashes: no rebuild needed
                log(f"{model.tag}: recorded the SHA-256 of its files as they are now (artifact_sha256)")
        return [VariantRow(names[v], current[v].info.metadata, "current") for v in RUNTIME_VARIANTS]

    torch.manual_seed(config.seed)  # new classification heads start from seeded weights: reproducible runs
    loaded = load_candidate(task, candidate, data.labels)
    training = fine_tune(
        loaded.module, make_encoder(task, loaded), data.train, config, f"train {task_name}/{candidate.name}"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="scenario-serve-") as tmp:
        root = Path(tmp)
        quantization = build_variant_dirs(task, loaded, data, root)
        common: dict[str, Any] = {
            "task": task_name,
            "task_kind": task.kind,
            "labels": data.labels,
            "candidate": candidate.name,
            "description": candidate.description,
            "source": loaded.source,
            "architecture": loaded.architecture,
            "input_spec": input_spec(task),
            "training": training,
            "test_split": TestSplit(fingerprint=data.test_fingerprint, rows=len(data.test.items)),
            "versions": versions(),
            "git_commit": git_commit(),
        }
        latency = image_latency(task, root, options) if task.kind == "image" else None
        reference_logits, reference_eval = None, None
        for variant in map(RuntimeVariant, RUNTIME_VARIANTS):
            runtime, precision = RUNTIME_OF[variant]
            spec = ServingSpec(
                task_kind=task.kind,
                labels=data.labels,
                runtime=runtime,
                architecture=loaded.architecture,
                input_spec=common["input_spec"],
            )
            evaluation, logits = evaluate_variant(root / variant, spec, data.test, reference_logits, options.threads)
            metadata = VariantMetadata(
                **common,
                variant=variant,
                runtime=runtime,
                precision=precision,
                quantization=quantization[variant] or None,
                reference=None if variant == RuntimeVariant.TORCH_FP32 else names["torch-fp32"],
                size_bytes=directory_bytes(root / variant),
                fingerprint=prints[variant],
                latency_probe=latency if variant != RuntimeVariant.TORCH_FP32 else None,
                evaluation=evaluation,
                gate=gate(evaluation, reference_eval, max_drop),
            )
            if variant == RuntimeVariant.TORCH_FP32:
                reference_logits, reference_eval = logits, evaluation
            model = save_variant(names[variant], root / variant, metadata)
            rows.append(VariantRow(names[variant], dict(model.info.metadata), "built"))
    return rows


def prepare(
    catalog: Catalog, tasks: list[str] | None, options: Options, log: Callable[[str], None] = print
) -> list[VariantRow]:
    torch.set_num_threads(options.threads)
    unknown = sorted(set(tasks or []) - set(catalog.tasks))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; the catalog has {sorted(catalog.tasks)}")
    rows: list[VariantRow] = []
    for task_name, task in catalog.tasks.items():
        if tasks and task_name not in tasks:
            continue
        data = load_task_data(task)
        log(
            f"{task_name}: {len(data.train.items)} train / {len(data.validation.items)} validation / "
            f"{len(data.test.items)} test rows, labels {data.labels}"
        )
        for candidate in task.candidates:
            if not candidate.enabled:
                log(f"{task_name}/{candidate.name}: skipped (enabled: false in the catalog)")
                continue
            rows.extend(prepare_candidate(task_name, task, candidate, data, options, log))
    return rows
