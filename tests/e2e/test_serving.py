"""The real server on the real default variants: every scenario, known inputs, metrics, Prometheus."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from models.catalog import load_catalog
from models.datasets import load_task_data
from models.ports import free_port
from tests.e2e.conftest import require_tool, running
from tests.manifests import OVERLAY, autoscaler_query, one, render

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Unmistakable at the small test budget for every variant, the 3-layer INT8 one included.
POSITIVE_TWEETS = ["I love this so much, best day ever! So happy!", "So happy today, I love you all! Best day ever :)"]
NEGATIVE_TWEETS = ["Terrible, awful service, I hate it."]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def routing_table(server: str) -> dict:
    return httpx.get(f"{server}/v1/scenarios", timeout=10).json()


def scenario_names(table: dict, task: str) -> list[str]:
    return sorted(table["tasks"][task]["scenarios"])


def selected(table: dict, task: str, scenario: str) -> str:
    return table["tasks"][task]["scenarios"][scenario]["variant"]


def test_text_every_scenario(server: str, routing_table: dict) -> None:
    texts = POSITIVE_TWEETS + NEGATIVE_TWEETS
    for scenario in scenario_names(routing_table, "sentiment"):
        response = httpx.post(f"{server}/v1/text/classify", json={"texts": texts, "scenario": scenario}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["variant"] == selected(routing_table, "sentiment", scenario) == response.headers["X-Variant"]
        labels = [p["label"] for p in body["predictions"]]
        assert labels == ["positive", "positive", "negative"], (scenario, body["variant"], labels)


def test_image_every_scenario_on_test_digits(server: str, routing_table: dict) -> None:
    test = load_task_data(load_catalog().tasks["digits"]).test
    images, targets = test.items[:20], [str(t) for t in test.targets[:20]]
    files = [("images", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(images)]
    for scenario in scenario_names(routing_table, "digits"):
        response = httpx.post(f"{server}/v1/image/classify", files=files, headers={"X-Scenario": scenario}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["variant"] == selected(routing_table, "digits", scenario) == response.headers["X-Variant"]
        correct = sum(p["label"] == t for p, t in zip(body["predictions"], targets, strict=True))
        assert correct >= 17, (scenario, body["variant"], correct)


def test_unknown_scenario_is_404_with_the_valid_ones(server: str, routing_table: dict) -> None:
    response = httpx.post(f"{server}/v1/text/classify", json={"texts": ["hi"], "scenario": "warp"}, timeout=10)
    assert response.status_code == 404
    assert sorted(response.json()["error"]["allowed"]) == scenario_names(routing_table, "sentiment")


def test_models_table_shows_loaded_variants(server: str, routing_table: dict) -> None:
    table = httpx.get(f"{server}/v1/models", timeout=10).json()
    text = str(table)
    for task in ("sentiment", "digits"):
        for scenario in scenario_names(routing_table, task):
            assert selected(routing_table, task, scenario) in text


def test_metrics_exposition_passes_promtool(server: str) -> None:
    promtool = require_tool("promtool")
    httpx.post(f"{server}/v1/text/classify", json={"texts": ["hello"]}, timeout=10)
    exposition = httpx.get(f"{server}/metrics", timeout=10).text
    assert "scenario_serve_request_duration_seconds_bucket" in exposition
    assert "scenario_serve_routing_decisions_total" in exposition
    result = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def instant_values(api: str, query: str) -> list[float]:
    result = httpx.get(f"{api}/query", params={"query": query}, timeout=10).json()
    assert result["status"] == "success", result
    return [float(r["value"][1]) for r in result["data"]["result"]]


def test_real_prometheus_scrapes_and_answers_p95_by_scenario(server: str, tmp_path: Path) -> None:
    """Also runs the Kubernetes autoscaler's own PromQL (read from the rendered ScaledObject, so it cannot drift):
    the scrape gives the target the namespace and job labels Prometheus Operator's ServiceMonitor would."""
    prometheus = require_tool("prometheus")
    target = server.removeprefix("http://")
    manifests = render(OVERLAY)
    namespace = one(manifests, "ScaledObject")["metadata"]["namespace"]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n  - job_name: scenario-serve\n"
        f"    static_configs: [{{targets: ['{target}'], labels: {{namespace: {namespace}}}}}]\n"
    )
    port = free_port()
    command = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    api = f"http://127.0.0.1:{port}/api/v1"
    query = "histogram_quantile(0.95, sum by (le, scenario) (rate(scenario_serve_request_duration_seconds_bucket[1m])))"
    with running(command, f"http://127.0.0.1:{port}/-/ready", tmp_path / "prometheus.log", timeout_s=60):
        deadline = time.monotonic() + 60
        values: dict[str, float] = {}
        while time.monotonic() < deadline and "realtime" not in values:
            for scenario in ("realtime", "accuracy"):
                httpx.post(
                    f"{server}/v1/text/classify", json={"texts": POSITIVE_TWEETS, "scenario": scenario}, timeout=10
                )
            result = httpx.get(f"{api}/query", params={"query": query}, timeout=10).json()
            values = {
                r["metric"].get("scenario", ""): float(r["value"][1])
                for r in result["data"]["result"]
                if r["value"][1] not in ("NaN", "+Inf")
            }
            time.sleep(0.5)
        request_rate = instant_values(api, autoscaler_query(manifests))
    assert values.get("realtime", 0) > 0, values
    assert len(request_rate) == 1 and request_rate[0] > 0, request_rate  # one number: requests/s, as KEDA reads it
