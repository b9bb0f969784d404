"""A variant that fails to load at start: the service is ready on its fallback, says why in /v1/models, and retries
the variant in the background with exponential back-off until it loads (gate-rejected variants never)."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from tests.http.conftest import ALL_VARIANTS, IMAGE_BIG, IMAGE_FAST, image_bytes
from tests.http.fakes import FakeStore
from tests.http.test_reload import wait_for

FIRST_S, MAX_S = 0.05, 0.2
SHORT_BACKOFF = {"load_retry_s": FIRST_S, "load_retry_max_s": MAX_S}
MISMATCH = "model.onnx differs from the file prepare recorded"  # the fake store raises it as a RuntimeError


class TimedStore(FakeStore):
    """Records when each variant is described: the first step of every load attempt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.described: dict[str, list[float]] = {}

    def describe(self, name: str) -> Any:
        self.described.setdefault(name, []).append(time.monotonic())
        return super().describe(name)


def attempts_counted(client: Any, variant: str, outcome: str) -> float:
    prefix = "scenario_serve_model_load_attempts_total{"
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix) and f'variant="{variant}"' in line and f'outcome="{outcome}"' in line:
            return float(line.split()[-1])
    return 0.0


def model(client: Any, name: str) -> dict[str, Any]:
    return next(v for v in client.get("/v1/models").json()["variants"] if v["name"] == name)


def image_variant(client: Any) -> tuple[str, bool]:
    response = client.post("/v1/image/classify", files=[("images", ("a.png", image_bytes(), "image/png"))])
    assert response.status_code == 200, response.text
    return response.json()["variant"], response.json()["fallback"]


def test_failed_variant_with_a_fallback_is_served_around_then_retried_until_it_loads(serve):
    store = TimedStore(ALL_VARIANTS, fail={IMAGE_FAST: MISMATCH})
    with serve(store=store, **SHORT_BACKOFF) as client:
        # attempts run one after the other: those described after `described_before` are not in `failed_before`
        failed_before = attempts_counted(client, IMAGE_FAST, "failed")
        described_before = len(store.described[IMAGE_FAST])
        # ready: digits/realtime is served by its fallback; the reason is in /v1/models
        assert client.get("/readyz").status_code == 200
        models = client.get("/v1/models").json()
        assert (models["ready"], models["unserved_routes"]) == (True, [])
        wait_for(lambda: model(client, IMAGE_FAST)["next_retry_at"] is not None)  # planned once start-up is done
        fast = model(client, IMAGE_FAST)
        assert fast["status"] == "failed"
        assert fast["reason"] == f"RuntimeError: {MISMATCH}"
        assert fast["attempts"] >= 1 and fast["next_retry_at"].endswith("Z")
        realtime = client.get("/v1/scenarios").json()["tasks"]["digits"]["scenarios"]["realtime"]
        assert (realtime["serving"], realtime["fallback"]) == (IMAGE_BIG, True)
        assert realtime["variants"][0]["status"] == "failed"
        assert image_variant(client) == (IMAGE_BIG, True)

        wait_for(lambda: len(store.described[IMAGE_FAST]) >= max(5, described_before + 4))
        times = store.described[IMAGE_FAST]
        gaps = [later - earlier for earlier, later in pairwise(times)]
        expected = [FIRST_S, 2 * FIRST_S, MAX_S, MAX_S]  # doubling, then capped
        assert all(gap >= 0.9 * wait for gap, wait in zip(gaps, expected, strict=False)), (gaps, expected)
        assert attempts_counted(client, IMAGE_FAST, "failed") >= failed_before + 3
        assert client.get("/readyz").status_code == 200  # all along

        store.fail.clear()  # e.g. the file was restored, or the variant prepared anew
        wait_for(lambda: model(client, IMAGE_FAST)["status"] == "ready")
        assert image_variant(client) == (IMAGE_FAST, False)
        fast = model(client, IMAGE_FAST)
        assert (fast["reason"], fast["next_retry_at"]) == (None, None)
        assert fast["attempts"] == len(store.described[IMAGE_FAST])
        assert attempts_counted(client, IMAGE_FAST, "success") >= 1
        described = len(store.described[IMAGE_FAST])
        time.sleep(3 * MAX_S)
        assert len(store.described[IMAGE_FAST]) == described  # loaded: no more attempts


def test_route_without_a_loaded_variant_is_not_ready_until_the_retry_succeeds(serve):
    """The issue's case: a truncated model left /readyz at 503 for good, with no reason and no retry."""
    store = FakeStore(ALL_VARIANTS, fail={IMAGE_BIG: "truncated"})
    with serve(store=store, **SHORT_BACKOFF) as client:
        assert client.get("/readyz").status_code == 503
        models = client.get("/v1/models").json()
        assert (models["ready"], models["unserved_routes"]) == (False, ["digits/accuracy"])
        assert model(client, IMAGE_BIG)["reason"] == "RuntimeError: truncated"
        store.fail.clear()
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/v1/models").json()["unserved_routes"] == []


def test_gate_rejected_variant_is_never_retried(serve):
    store = TimedStore(ALL_VARIANTS, gates={IMAGE_FAST: "rejected"})
    with serve(store=store, **SHORT_BACKOFF) as client:
        time.sleep(4 * MAX_S)
        assert len(store.described[IMAGE_FAST]) == 1
        fast = model(client, IMAGE_FAST)
        assert (fast["status"], fast["attempts"], fast["next_retry_at"]) == ("rejected", 1, None)
        assert client.get("/readyz").status_code == 200


def test_retries_can_be_turned_off(serve):
    store = TimedStore(ALL_VARIANTS, fail={IMAGE_FAST: "corrupt"})
    with serve(store=store, load_retry_s=0) as client:
        time.sleep(0.3)
        assert len(store.described[IMAGE_FAST]) == 1
        fast = model(client, IMAGE_FAST)
        assert (fast["status"], fast["attempts"], fast["next_retry_at"]) == ("failed", 1, None)
