"""The real server drops queued work nobody waits for: clients that hang up, deadlines that cannot be met."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.e2e.test_serving import POSITIVE_TWEETS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEXTS = POSITIVE_TWEETS * 8  # 16 texts: a batch of some milliseconds, so that a few requests queue behind it


def counter_sum(server: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include `labels` (over variants and workers)."""
    total = 0.0
    for line in httpx.get(f"{server}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def impatient_burst(server: str, count: int, timeout_s: float) -> list[str]:
    """`count` requests at once from clients that hang up after `timeout_s`; each one's outcome."""

    async def one(client: httpx.AsyncClient) -> str:
        try:
            response = await client.post(f"{server}/v1/text/classify", json={"texts": TEXTS}, timeout=timeout_s)
        except httpx.TimeoutException:
            return "hung up"
        return str(response.status_code)

    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(limits=limits) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


def test_queued_items_of_clients_that_hung_up_are_never_computed(server: str) -> None:
    dropped_before = counter_sum(server, "scenario_serve_dropped_items_total", reason="disconnected")
    outcomes: list[str] = []
    for _ in range(10):  # bursts until some requests were queued when their client hung up (timing varies)
        outcomes += asyncio.run(impatient_burst(server, count=12, timeout_s=0.03))
        if counter_sum(server, "scenario_serve_dropped_items_total", reason="disconnected") > dropped_before:
            break
    dropped = counter_sum(server, "scenario_serve_dropped_items_total", reason="disconnected") - dropped_before
    assert 0 < dropped <= outcomes.count("hung up") * len(TEXTS), outcomes  # only items of clients that hung up
    assert not [outcome for outcome in outcomes if re.fullmatch(r"5\d\d", outcome) and outcome != "503"]
    assert httpx.get(f"{server}/readyz", timeout=10).status_code == 200


def test_a_deadline_nearer_than_the_queue_is_refused_up_front(server: str) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=8)) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{server}/v1/text/classify",
                        json={"texts": TEXTS},
                        headers={"X-Request-Timeout-Ms": "5"},
                        timeout=30,
                    )
                    for _ in range(8)
                )
            )
        return [response.status_code for response in responses]

    statuses = [status for _ in range(5) for status in asyncio.run(burst())]
    assert set(statuses) <= {200, 503, 504}, statuses
    assert 504 in statuses  # 5 ms is less than a 16-text batch on these CPUs: queued requests cannot make it
