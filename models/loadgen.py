"""Load patterns over HTTP (MLPerf style), shared by `scenario-serve measure` and `loadtests/` (one
request at a time: `models.lean_client`).

- server: open-loop Poisson arrivals; a query's latency runs from its *scheduled* arrival to its response, so a
  client or server that falls behind shows up as queueing delay (as MLPerf LoadGen counts it), never as a
  silently lower rate. A trial may stop early once enough queries are over the bound that its p99 must be too.

Why not Locust: its users are closed loops (a user waits for its answer before the next request), so an
overloaded server slows the offered load down instead of queueing it; the server pattern needs arrivals fixed in
advance. The client is aiohttp (BentoML depends on it), whose per-request CPU cost is a fraction of httpx's: the
load generator shares this 2-core machine with the server it measures.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from models.latency import latency_summary, rounded_ms

TRIAL_LEAD_S = 0.01  # first arrival a little after the trial starts, so the loop is idle when it comes
CHECK_INTERVAL_S = 0.02  # how often a draining trial checks whether its p99 is already lost
MAX_SPIN_S = 0.0015  # the last stretch before an arrival is polled, not slept: asyncio's sleep wakes up to 1 ms late
SPIN_CPU_SHARE = 0.05  # ... but the polling takes at most this share of one core (less lead at high rates)

Send = Callable[[int], Awaitable[str]]  # sends query i; returns its outcome ("200", "503", "ClientError", ...)


def trial_rng(seed: int, rate_rps: float) -> np.random.Generator:
    """The same (seed, rate) always gives the same arrivals, whatever order a search visits rates in."""
    return np.random.default_rng([seed, int(round(rate_rps * 1000))])


def poisson_arrivals(rate_rps: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Arrival offsets in seconds from the trial's start: exponential inter-arrival times of mean 1/rate."""
    if rate_rps <= 0:
        raise ValueError(f"arrival rate must be > 0, got {rate_rps}")
    return np.cumsum(rng.exponential(1.0 / rate_rps, size=count))


def over_bound_limit(queries: int) -> int:
    """How many latencies above a bound make numpy's p99 of `queries` latencies exceed it, whatever the rest."""
    return queries - math.floor(0.99 * (queries - 1))


@dataclass
class _TrialState:
    """Book-keeping of one server trial, on the event loop."""

    bound_s: float
    over_limit: int
    latencies: list[float] = field(default_factory=list)
    in_flight: dict[int, float] = field(default_factory=dict)  # query index -> scheduled arrival, in arrival order
    outcomes: Counter[str] = field(default_factory=Counter)
    lateness: list[float] = field(default_factory=list)  # issued minus scheduled: the client's own timing error
    by_outcome: dict[str, list[float]] = field(default_factory=dict)
    over: int = 0
    last_done: float = 0.0

    def finished(self, index: int, outcome: str, done: float) -> None:
        latency = done - self.in_flight.pop(index)
        self.latencies.append(latency)
        self.by_outcome.setdefault(outcome, []).append(latency)
        self.outcomes[outcome] += 1
        self.over += latency > self.bound_s or outcome != "200"
        self.last_done = max(self.last_done, done)

    def lost(self, now: float) -> bool:
        """True once enough queries (done or still waiting) exceed the bound that the p99 must exceed it."""
        over = self.over
        for scheduled in self.in_flight.values():  # oldest first; stop at the first one still within the bound
            if over >= self.over_limit or now - scheduled <= self.bound_s:
                break
            over += 1
        return over >= self.over_limit

    def censored(self, now: float) -> list[float]:
        """Latencies so far of queries still waiting (lower bounds of their real latencies)."""
        return [now - scheduled for scheduled in self.in_flight.values()]


@dataclass(frozen=True)
class TrialRun:
    """What one server trial recorded, before summarizing: several runs at one rate pool into one summary."""

    latencies_s: list[float]  # every issued query's; those still waiting when it stopped count as censored
    by_outcome: dict[str, list[float]]
    outcomes: Counter[str]
    lateness_s: list[float]
    queries: int
    completed: int
    elapsed_s: float
    stopped_early: bool


async def run_trial(send: Send, arrivals: np.ndarray, bound_ms: float | None = None) -> TrialRun:
    """Issue queries at their scheduled arrivals. With `bound_ms`, stop early once the p99 bound is surely lost
    (a query that failed counts as over the bound)."""
    loop = asyncio.get_running_loop()
    bound = math.inf if bound_ms is None else bound_ms / 1000.0
    state = _TrialState(bound_s=bound, over_limit=over_bound_limit(len(arrivals)))

    async def query(index: int) -> None:
        outcome = await send(index)
        state.finished(index, outcome, loop.time())

    start = loop.time() + TRIAL_LEAD_S
    spin_s = spin_lead_s(arrivals)
    tasks: list[asyncio.Task[None]] = []
    stopped = False
    for index, offset in enumerate(arrivals):
        scheduled = start + float(offset)
        await wait_until(loop, scheduled, spin_s)
        if bound_ms is not None and state.lost(loop.time()):
            stopped = True
            break
        state.in_flight[index] = scheduled
        state.lateness.append(loop.time() - scheduled)
        tasks.append(asyncio.create_task(query(index)))
    pending = {task for task in tasks if not task.done()}
    while pending and not stopped:
        _, pending = await asyncio.wait(pending, timeout=CHECK_INTERVAL_S)
        stopped = bool(pending) and bound_ms is not None and state.lost(loop.time())
    latencies = state.latencies + state.censored(loop.time())
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return TrialRun(
        latencies_s=latencies,
        by_outcome=state.by_outcome,
        outcomes=state.outcomes,
        lateness_s=state.lateness,
        queries=len(tasks),
        completed=len(state.latencies),
        elapsed_s=state.last_done - start,
        stopped_early=stopped,
    )


def summarize_trials(runs: Sequence[TrialRun], bound_ms: float | None = None) -> dict[str, Any]:
    """One summary of `runs` at one rate, their latencies pooled: the p99 of three 240-query trials is then the
    7th-largest of 720 latencies rather than the median of three 3rd-largest ones, a steadier estimate.
    `meets_bound` needs every query answered 200, no run stopped early and the pooled p99 within `bound_ms`."""
    latencies = [latency * 1000.0 for run in runs for latency in run.latencies_s]
    summary = latency_summary(latencies or [math.nan])
    outcomes: Counter[str] = sum((run.outcomes for run in runs), Counter())
    by_outcome: dict[str, list[float]] = {}
    for run in runs:
        for outcome, values in run.by_outcome.items():
            by_outcome.setdefault(outcome, []).extend(values)
    lateness = [late for run in runs for late in run.lateness_s]
    completed, elapsed = sum(run.completed for run in runs), sum(run.elapsed_s for run in runs)
    errors = sum(count for outcome, count in outcomes.items() if outcome != "200")
    stopped = any(run.stopped_early for run in runs)
    return {
        "queries": sum(run.queries for run in runs),
        "achieved_rps": round(completed / elapsed, 3) if completed and elapsed > 0 else 0.0,
        "outcomes": dict(sorted(outcomes.items())),
        "p99_ms_by_outcome": {
            outcome: rounded_ms(np.percentile(values, 99) * 1000.0) for outcome, values in sorted(by_outcome.items())
        },
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "p99_ms": summary["p99_ms"],
        "issue_lateness_p50_ms": rounded_ms(np.percentile(lateness, 50) * 1000.0) if lateness else None,
        "meets_bound": not stopped and errors == 0 and (bound_ms is None or summary["p99_ms"] <= bound_ms),
        "stopped_early": stopped,
    }


async def poisson_trial(send: Send, arrivals: np.ndarray, bound_ms: float | None = None) -> dict[str, Any]:
    """One trial (`run_trial`), summarized (`summarize_trials`)."""
    return summarize_trials([await run_trial(send, arrivals, bound_ms)], bound_ms)


def spin_lead_s(arrivals: np.ndarray) -> float:
    """How long before each arrival the client polls instead of sleeping: MAX_SPIN_S, less when arrivals are so
    frequent that polling would take more than SPIN_CPU_SHARE of a core from the server it measures."""
    if len(arrivals) == 0 or arrivals[-1] <= 0:
        return 0.0
    mean_gap_s = float(arrivals[-1]) / len(arrivals)
    return min(MAX_SPIN_S, SPIN_CPU_SHARE * mean_gap_s)


async def wait_until(loop: asyncio.AbstractEventLoop, when: float, spin_s: float) -> None:
    """Return at event-loop time `when`, within microseconds: sleep until `spin_s` before it, then poll. asyncio
    rounds a sleep's selector timeout up to whole milliseconds, so a plain sleep issues queries up to 1 ms late
    (1.3 ms at p50 at 2 req/s here), which a latency counted from the scheduled arrival would charge to the
    server. Polling yields to the loop each turn (`sleep(0)`), so answers arriving meanwhile are timed at once."""
    if (coarse := when - spin_s - loop.time()) > 0:
        await asyncio.sleep(coarse)
    while loop.time() < when:
        await asyncio.sleep(0)


Body = tuple[bytes, str]  # (bytes, Content-Type)


def json_body(document: Any) -> Body:
    import json

    return json.dumps(document).encode(), "application/json"


def multipart_body(field_name: str, files: Sequence[tuple[bytes, str]]) -> Body:
    """A multipart/form-data body with one file part per (bytes, content type), all named `field_name`."""
    boundary = "scenario-serve-load-boundary"
    parts = []
    for index, (data, content_type) in enumerate(files):
        header = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{index}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(header.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# `bentoml serve` (uvicorn) closes a keep-alive connection after 5 s idle; aiohttp's pool keeps one 15 s and hands
# out the longest-idle first, so at 20 req/s over the 64 connections of a warm-up burst a connection is reused after
# 3.2 s on average and now and then just as the server closes it: ServerDisconnectedError 1.7 ms after sending (one
# of 3,600 queries in a 60-s trial, session 38). The pool drops connections idle longer than this instead.
POOLED_IDLE_LIMIT_S = 4.0


class HttpClient:
    """POSTs bodies (cycled) to one URL over a pooled aiohttp session; `send(i)` is a `Send`."""

    def __init__(
        self,
        url: str,
        bodies: Sequence[Body],
        timeout_s: float = 30.0,
        max_connections: int = 256,
        keep_alive: bool = True,
    ) -> None:
        if not bodies:
            raise ValueError("no request bodies")
        self.url = url
        self.bodies = bodies
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.keep_alive = keep_alive  # False: a fresh connection per request, as clients without a pool make
        self.variants: Counter[str] = Counter()
        self.retry_after_missing = 0  # 503 answers without a Retry-After header
        self.last_refusal = ""  # the start of the body of the last answer other than 200, for error messages
        self._session: Any = None

    async def __aenter__(self) -> Self:
        import aiohttp

        idle_limit = POOLED_IDLE_LIMIT_S if self.keep_alive else None
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, force_close=not self.keep_alive, keepalive_timeout=idle_limit
        )
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._session.close()

    async def get_text(self, url: str) -> str:
        """GET `url` on the same session; "" when it fails."""
        import aiohttp

        try:
            async with self._session.get(url) as response:
                return str(await response.text())
        except (TimeoutError, aiohttp.ClientError):
            return ""

    async def send(self, index: int) -> str:
        import aiohttp

        body, content_type = self.bodies[index % len(self.bodies)]
        try:
            async with self._session.post(self.url, data=body, headers={"Content-Type": content_type}) as response:
                await response.read()
                if response.status == 200:
                    self.variants[response.headers.get("X-Variant", "?")] += 1
                else:
                    self.last_refusal = f"{response.status} {(await response.text(errors='replace'))[:300]}"
                    if response.status == 503 and "Retry-After" not in response.headers:
                        self.retry_after_missing += 1
                return str(response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return type(exc).__name__
