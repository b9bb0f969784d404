"""`bentoml build` packs the service, its routing file and the routed variants; the built Bento serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bentoml
import httpx
import pytest

from models.ports import free_port
from tests.e2e.conftest import REPO, running, serve_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BIN = Path(sys.executable).parent


def test_build_then_serve_the_bento(default_variants: dict[str, dict], tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "bentoml"), "build", "--output", "tag"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tag = result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento = bentoml.get(tag)
    bento_path = Path(bento.path)
    assert (bento_path / "src" / "service" / "selection.json").is_file()
    assert "FROM " in (bento_path / "env" / "docker" / "Dockerfile").read_text()
    requirements = (bento_path / "env" / "python" / "requirements.txt").read_text().splitlines()
    pins = [line for line in (REPO / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins and set(pins) <= set(requirements), "the image must install the measured library versions"
    packed = {model.tag.name for model in bento.info.all_models}
    routed = {
        name
        for task in json.loads((REPO / "service" / "selection.json").read_text())["tasks"].values()
        for scenario in task["scenarios"].values()
        for name in [scenario["variant"], *scenario["fallbacks"]]
    }
    assert packed == routed
    port = free_port()
    with running(serve_command(tag, port), f"http://127.0.0.1:{port}/readyz", tmp_path / "bento.log", cwd=tmp_path):
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/text/classify", json={"texts": ["what a great day"]}, timeout=30
        )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] in {"negative", "neutral", "positive"}
