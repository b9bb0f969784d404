"""Loading candidate models from their sources: packages, the Hugging Face Hub, torchvision, local dirs.

Every loader returns a module that maps named input tensors to logits with a fresh head sized for
the task's labels, plus what is needed to save it as the `torch-fp32` variant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from models.catalog import Candidate, HuggingFaceSource, LocalSource, PackageSource, Task, TorchvisionSource
from service.runtimes.torch import LogitsOnly, PixelInput, build_torchvision

if TYPE_CHECKING:
    from transformers import PreTrainedModel

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class SourceUnavailable(RuntimeError):
    """A model source cannot be loaded here; the message names the model and how to make it available."""


@dataclass
class LoadedModel:
    module: nn.Module  # forward(**named inputs) -> logits
    architecture: dict[str, Any]  # family, arch, num_classes, input_names: enough to rebuild it
    save: Callable[[Path], None]  # writes the module's weights (safetensors) and configs to a directory
    tokenizer: Any = None  # text models only
    source: dict[str, Any] = field(default_factory=dict)


def label_maps(labels: list[str]) -> dict[str, Any]:
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def _hf_unavailable(name: str, error: Exception) -> SourceUnavailable:
    return SourceUnavailable(
        f"model {name!r} is not available offline ({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
        f"Make it available by downloading it once on a connected machine "
        f"(`huggingface-cli download {name}`, then copy ~/.cache/huggingface or set HF_HOME), "
        f"or point the catalog at a local copy: source: {{type: local, path: /path/to/model}}"
    )


def _drop_layers(model: PreTrainedModel, keep: list[int]) -> None:
    encoder = getattr(getattr(model, "base_model", None), "encoder", None)
    layers = getattr(encoder, "layer", None)
    if encoder is None or not isinstance(layers, nn.ModuleList):
        raise SourceUnavailable(f"keep_layers is not supported for {type(model).__name__}")
    bad = [i for i in keep if not 0 <= i < len(layers)]
    if bad or not keep:
        raise ValueError(f"keep_layers {keep} must be a non-empty list of indices below {len(layers)}")
    encoder.layer = nn.ModuleList([layers[i] for i in keep])
    model.config.num_hidden_layers = len(keep)


def load_hf_text(
    name_or_path: str, labels: list[str], keep_layers: list[int] | None, hub: dict[str, Any] | None = None
) -> LoadedModel:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "classifier newly initialized" report is expected: we train it
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **(hub or {}))
        model = AutoModelForSequenceClassification.from_pretrained(
            name_or_path, ignore_mismatched_sizes=True, **(hub or {}), **label_maps(labels)
        )
    except OSError as exc:
        raise _hf_unavailable(name_or_path, exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if keep_layers:
        _drop_layers(model, keep_layers)
    input_names = [n for n in TEXT_INPUTS if n in tokenizer.model_input_names]

    def save(directory: Path) -> None:
        model.save_pretrained(str(directory))
        tokenizer.save_pretrained(str(directory))

    architecture = {
        "family": "hf-sequence-classification",
        "arch": model.config.model_type,
        "num_classes": len(labels),
        "layers": getattr(model.config, "num_hidden_layers", None),
        "input_names": input_names,
    }
    return LoadedModel(module=LogitsOnly(model), architecture=architecture, save=save, tokenizer=tokenizer)


def load_hf_image(name_or_path: str, labels: list[str], hub: dict[str, Any] | None = None) -> LoadedModel:
    from transformers import AutoModelForImageClassification

    try:
        model = AutoModelForImageClassification.from_pretrained(
            name_or_path, ignore_mismatched_sizes=True, **(hub or {}), **label_maps(labels)
        )
    except OSError as exc:
        raise _hf_unavailable(name_or_path, exc) from exc

    def save(directory: Path) -> None:
        model.save_pretrained(str(directory))

    architecture = {
        "family": "hf-image-classification",
        "arch": model.config.model_type,
        "num_classes": len(labels),
        "input_names": ["pixel_values"],
    }
    return LoadedModel(module=LogitsOnly(model), architecture=architecture, save=save)


def _replace_head(model: nn.Module, num_classes: int) -> None:
    head = getattr(model, "fc", None)
    if not isinstance(head, nn.Linear):
        raise SourceUnavailable(f"{type(model).__name__}: no `fc` classification head to replace")
    if head.out_features != num_classes:
        model.fc = nn.Linear(head.in_features, num_classes)


def _torchvision_model(arch: str, labels: list[str], state: dict[str, torch.Tensor] | None) -> LoadedModel:
    head_size = int(state["fc.weight"].shape[0]) if state and "fc.weight" in state else len(labels)
    model = build_torchvision(arch, head_size)
    if state is not None:
        model.load_state_dict(state)
    _replace_head(model, len(labels))

    def save(directory: Path) -> None:
        from safetensors.torch import save_file

        weights = model.state_dict()
        save_file({k: v.contiguous() for k, v in weights.items()}, str(directory / "model.safetensors"))

    architecture = {"family": "torchvision", "arch": arch, "num_classes": len(labels), "input_names": ["pixel_values"]}
    return LoadedModel(module=PixelInput(model), architecture=architecture, save=save)


def load_torchvision(source: TorchvisionSource, labels: list[str]) -> LoadedModel:
    import torchvision

    if source.arch not in torchvision.models.list_models():
        raise ValueError(f"unknown torchvision architecture {source.arch!r}")
    if source.weights is None:
        return _torchvision_model(source.arch, labels, None)
    weights = torchvision.models.get_weight(source.weights)
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # urllib / hub errors differ by version; all mean "not here"
        checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise SourceUnavailable(
            f"weights {source.weights} for {source.arch} are not available offline ({type(exc).__name__}). "
            f"Download {weights.url} on a connected machine and place it at {checkpoint} "
            f"(or set TORCH_HOME), or use source: {{type: local, path: DIR, arch: {source.arch}}}"
        ) from exc
    return _torchvision_model(source.arch, labels, state)


def _read_local_state(directory: Path) -> dict[str, torch.Tensor]:
    safetensors = directory / "model.safetensors"
    if safetensors.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors))
    for name in ("model.pt", "model.pth"):
        if (directory / name).is_file():
            # weights_only: a checkpoint is data, never code to unpickle
            return torch.load(directory / name, map_location="cpu", weights_only=True)
    raise SourceUnavailable(f"{directory}: no model.safetensors, model.pt or model.pth")


def load_local(source: LocalSource, task: Task, candidate: Candidate, labels: list[str]) -> LoadedModel:
    if not source.path.is_dir():
        raise SourceUnavailable(f"local model directory not found: {source.path}")
    if source.arch:
        return _torchvision_model(source.arch, labels, _read_local_state(source.path))
    if not (source.path / "config.json").is_file():
        raise SourceUnavailable(
            f"{source.path}: no config.json (Hugging Face format); for a torchvision checkpoint give `arch`"
        )
    if task.kind == "text":
        return load_hf_text(str(source.path), labels, candidate.keep_layers)
    return load_hf_image(str(source.path), labels)


def load_package(source: PackageSource, task: Task, candidate: Candidate, labels: list[str]) -> LoadedModel:
    try:
        module = importlib.import_module(source.module)
    except ImportError as exc:
        raise SourceUnavailable(
            f"package module {source.module!r} is not installed; `pip install` the package that ships it"
        ) from exc
    path = str(getattr(module, source.function)())
    return load_local(LocalSource(type="local", path=Path(path)), task, candidate, labels)


def load_candidate(task: Task, candidate: Candidate, labels: list[str]) -> LoadedModel:
    """Load a candidate with a fresh classification head for `labels`."""
    source = candidate.source
    if isinstance(source, PackageSource):
        loaded = load_package(source, task, candidate, labels)
    elif isinstance(source, HuggingFaceSource):
        hub = {"revision": source.revision, "cache_dir": str(source.cache_dir) if source.cache_dir else None}
        loaded = (
            load_hf_text(source.id, labels, candidate.keep_layers, hub)
            if task.kind == "text"
            else load_hf_image(source.id, labels, hub)
        )
    elif isinstance(source, TorchvisionSource):
        loaded = load_torchvision(source, labels)
    else:
        loaded = load_local(source, task, candidate, labels)
    loaded.source = source.model_dump(mode="json")
    return loaded
