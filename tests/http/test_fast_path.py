"""The service's ASGI app serves the classify endpoints around BentoML's per-request middleware (service.fast_path):
they are counted in scenario-serve's metrics and never reach BentoML's request metrics, which still count every other
endpoint. That they answer as before (header limits, JSON 404/405, deadlines, disconnects) is what the rest of
tests/http checks, on this same app."""

from __future__ import annotations

from tests.http.conftest import TEXT_FAST, image_bytes


def bentoml_request_lines(metrics: str, endpoint: str) -> list[str]:
    return [
        line
        for line in metrics.splitlines()
        if line.startswith("bentoml_service_request_total{") and f'endpoint="{endpoint}"' in line
    ]


def test_classify_requests_skip_bentomls_middleware_and_the_rest_do_not(client):
    assert client.post("/v1/text/classify", json={"texts": ["I love it"]}).status_code == 200
    image = [("images", ("a.png", image_bytes(), "image/png"))]
    assert client.post("/v1/image/classify", files=image).status_code == 200
    assert client.get("/v1/models").status_code == 200
    metrics = client.get("/metrics").text
    assert bentoml_request_lines(metrics, "/v1/models")
    assert bentoml_request_lines(metrics, "/v1/text/classify") == []
    assert bentoml_request_lines(metrics, "/v1/image/classify") == []
    ours = (
        'scenario_serve_request_duration_seconds_count{outcome="success",scenario="realtime",task="sentiment",'
        f'variant="{TEXT_FAST}"}}'
    )
    assert ours in metrics
