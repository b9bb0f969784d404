"""Corrupted weights through the real server: a variant whose int8 weights were overwritten with noise (same graph,
same size, a model ONNX Runtime loads and runs) is refused at load with the integrity reason in /v1/models, its route
is served by the fallback meanwhile, and the background retry serves it again once the file is restored."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from models.ports import free_port
from service.classifier import load_classifier
from tests.e2e.conftest import running, serve_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SELECTED, FALLBACK = "sentiment-minilm-l6-onnx-int8", "sentiment-minilm-l3-onnx-int8"
TEXTS = ["I love this so much, best day ever! So happy!", "Terrible, awful service, I hate it."]


def copy_latest(source_home: Path, target_home: Path, name: str) -> Path:
    """Copy the latest stored version of `name` into another BentoML home; returns its directory there."""
    version = (source_home / "models" / name / "latest").read_text().strip()
    target = target_home / "models" / name
    shutil.copytree(source_home / "models" / name / version, target / version)
    (target / "latest").write_text(version)
    return target / version


def add_noise_to_weights(path: Path) -> None:
    """Overwrite every 2-D int8 initializer with random values: same graph, same byte size, wrong answers."""
    model = onnx.load(str(path))
    rng = np.random.default_rng(0)
    for initializer in model.graph.initializer:
        weights = numpy_helper.to_array(initializer)
        if weights.dtype in (np.int8, np.uint8) and weights.ndim == 2:
            limits = np.iinfo(weights.dtype)
            noise = rng.integers(limits.min, limits.max + 1, weights.shape).astype(weights.dtype)
            initializer.CopyFrom(numpy_helper.from_array(noise, initializer.name))
    onnx.save(model, str(path))


def selection() -> dict[str, Any]:
    realtime = {"variant": SELECTED, "fallbacks": [FALLBACK]}
    task = {"kind": "text", "default_scenario": "realtime", "scenarios": {"realtime": realtime}}
    return {"version": 1, "generated_by": "tests", "generated_at": "2026-11-23T00:00:00Z", "tasks": {"sentiment": task}}


@pytest.fixture
def corrupted(default_variants: dict[str, dict], bentoml_home: Path, tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    """A store of its own holding the two variants, the selected one's weights noised; yields (its model file, the
    original bytes)."""
    home = tmp_path / "bentoml"
    selected_dir = copy_latest(bentoml_home, home, SELECTED)
    copy_latest(bentoml_home, home, FALLBACK)
    model_file = selected_dir / "model.onnx"
    original = model_file.read_bytes()
    add_noise_to_weights(model_file)
    assert model_file.stat().st_size == len(original) and model_file.read_bytes() != original
    yield model_file, original


def variant_models(server: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in httpx.get(f"{server}/v1/models", timeout=10).json()["variants"]}


def classify(server: str) -> dict[str, Any]:
    response = httpx.post(f"{server}/v1/text/classify", json={"texts": TEXTS}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_noised_weights_load_and_answer_without_the_check(corrupted: tuple[Path, bytes]) -> None:
    """Why the check exists: the runtime alone takes the noised model and answers, unlike the original."""
    import bentoml

    model_file, _ = corrupted
    stored = bentoml.models.get(f"{SELECTED}:latest")
    metadata = dict(stored.info.metadata)
    noised = load_classifier(model_file.parent, metadata).probabilities(TEXTS)
    pristine = load_classifier(Path(stored.path), metadata).probabilities(TEXTS)
    assert noised.shape == pristine.shape == (2, 3)
    assert np.abs(noised - pristine).max() > 0.05


def test_corrupted_variant_is_refused_served_by_its_fallback_then_retried(
    corrupted: tuple[Path, bytes], tmp_path: Path
) -> None:
    model_file, original = corrupted
    routing = tmp_path / "selection.json"
    routing.write_text(json.dumps(selection()), encoding="utf-8")
    env = {
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "SCENARIO_SERVE_SELECTION_PATH": str(routing),
        "SCENARIO_SERVE_LOAD_RETRY_S": "0.5",
        "SCENARIO_SERVE_LOAD_RETRY_MAX_S": "1",
        "BENTOML_CONFIG_OPTIONS": 'services."scenario-serve".workers=1',  # one worker: /v1/models shows its state
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    try:
        with running(serve_command("service.app:ScenarioService", port), f"{server}/readyz", tmp_path / "serve.log"):
            models = variant_models(server)  # ready, on the fallback
            assert models[SELECTED]["status"] == "failed"
            reason = models[SELECTED]["reason"]
            assert reason.startswith("IntegrityError: artifact files differ from those prepare recorded: model.onnx: ")
            assert models[SELECTED]["next_retry_at"] is not None
            assert models[FALLBACK]["status"] == "ready"
            body = classify(server)
            assert (body["variant"], body["fallback"]) == (FALLBACK, True)
            assert [p["label"] for p in body["predictions"]] == ["positive", "negative"]

            aside = model_file.with_suffix(".restore")
            aside.write_bytes(original)
            os.replace(aside, model_file)  # the operator restores the file; the next retry picks it up
            deadline = time.monotonic() + 60
            while variant_models(server)[SELECTED]["status"] != "ready":
                assert time.monotonic() < deadline, variant_models(server)[SELECTED]
                time.sleep(0.5)
            body = classify(server)
            assert (body["variant"], body["fallback"]) == (SELECTED, False)
            assert [p["label"] for p in body["predictions"]] == ["positive", "negative"]
            metrics = httpx.get(f"{server}/metrics", timeout=10).text
            assert f'scenario_serve_model_load_attempts_total{{outcome="success",variant="{SELECTED}"}} 1.0' in metrics
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
