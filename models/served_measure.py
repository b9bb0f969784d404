"""The served half of `measure`: single-stream and server load patterns over HTTP against a real server that
routes one variant (`models.served`), with repeated trials and their spread.

The in-process half (`models.harness.run_job`) stays a separate column; `select` uses these numbers for
single-stream and server scenarios, and the served worker's peak memory. `ServedTrials` answers the measurements
contract's types (`LatencySummary`, `ServerTrial`, `ServerSearch`), which the load tests in `loadtests/` read too.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import io
import math
import os
import statistics
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.lean_client import LeanConnection, single_stream
from models.loadgen import (
    Body,
    HttpClient,
    TrialRun,
    json_body,
    poisson_arrivals,
    run_trial,
    summarize_trials,
    trial_rng,
)
from models.measure_plan import served_config
from models.served import ServedVariant, ServerError
from models.server_share import DurationTotals, RuntimeUse, duration_totals, ms_per_item, runtime_use, server_share
from service.contracts import ServerSearch
from service.contracts.measurements import LatencySummary, ServerShare, ServerTrial
from service.metric_names import QUEUED_ITEMS

if TYPE_CHECKING:
    from models.measure_plan import MeasureSettings, ServerTarget

MAX_DOUBLINGS = 8  # searching a server rate's upper bound never doubles more often than this
MAX_TRIAL_STRETCH = 4.0  # a slow-rate trial never plans arrivals beyond this many times trial_seconds
MAX_OFFERED_RPS = 2000.0  # the load generator shares the machine; beyond this it measures itself, not the server
WARMUP_BURST = 64  # concurrent requests before the first trial: batch shapes and connections exist
SETTLE_PAUSE_S = 0.25
SETTLE_LIMIT_S = 15.0
SETTLED_FACTOR = 3.0  # a lone request within 3x the idle latency: the server has drained
MAX_CONFIRMATIONS = 4  # repeated trials spent confirming the search's best rate (then bisecting below it)


def query_count(rate_rps: float, trial_seconds: float, min_queries: int) -> int:
    """At least `min_queries` (and `trial_seconds` of arrivals), unless that takes over MAX_TRIAL_STRETCH x longer."""
    wanted = max(min_queries, math.ceil(rate_rps * trial_seconds))
    longest = max(1, math.ceil(rate_rps * trial_seconds * MAX_TRIAL_STRETCH))
    return min(wanted, longest)


@dataclass(frozen=True)
class RateSearch:
    """What `search_max_rate` found: the highest rate of a single trial that met the bound, and every trial."""

    max_rate_rps: float
    at_target: ServerTrial
    trials: list[ServerTrial]


def search_max_rate(
    trial: Callable[[float], ServerTrial],
    target_rps: float,
    estimate_rps: float,
    steps: int,
    max_doublings: int = MAX_DOUBLINGS,
    max_rate_rps: float = math.inf,
) -> RateSearch:
    """The highest Poisson rate whose p99 meets the bound: a trial at the target, then a bounded search.

    `trial(rate)` runs one trial (or repeated ones) at `rate`. If the target meets the bound, the upper
    end is found from max(2 x target, estimate), doubling while rates still meet it (at most `max_doublings`
    more trials, never beyond `max_rate_rps`); otherwise the search runs between 0 and the target. Then `steps`
    bisection trials. `max_rate_rps` is the highest rate of any trial that met the bound (0 if none did).
    """
    trials: list[ServerTrial] = []

    def meets(rate: float) -> bool:
        record = trial(rate)
        trials.append(record)
        return record.meets_bound

    low, high = 0.0, target_rps
    if meets(target_rps):
        low, high = target_rps, math.inf
        rate = min(max(2.0 * target_rps, estimate_rps), max_rate_rps)
        for _ in range(max_doublings + 1):
            if rate <= low:
                break
            if not meets(rate):
                high = rate
                break
            low, rate = rate, min(2.0 * rate, max_rate_rps)
    if math.isfinite(high):
        for _ in range(steps):
            middle = (low + high) / 2.0
            if meets(middle):
                low = middle
            else:
                high = middle
    best = max((t.rate_rps for t in trials if t.meets_bound), default=0.0)
    return RateSearch(max_rate_rps=best, at_target=trials[0], trials=trials)


def confirm_max_rate(
    repeated: Callable[[float], ServerTrial],
    best_rps: float,
    floor_rps: float,
    max_confirmations: int = MAX_CONFIRMATIONS,
) -> tuple[float, ServerTrial | None, list[ServerTrial]]:
    """The search's best single trial can be lucky (near capacity, one trial of several holds the bound): repeat
    trials at `best_rps`; when their pooled p99 misses the bound, bisect with repeated trials between `floor_rps` (a
    rate known to hold: the repeated target, or 0) and it, `max_confirmations` repeated trials in all. Answers the
    highest rate whose repeats held, those repeats (None when none above the floor did), and the repeats that
    missed."""
    missed: list[ServerTrial] = []
    low, high, held = floor_rps, best_rps, None
    rate = best_rps
    for _ in range(max_confirmations):
        record = repeated(round(rate, 3))
        if record.meets_bound:
            low, held = record.rate_rps, record
            if rate == best_rps:
                break
        else:
            high = rate
            missed.append(record)
        rate = (low + high) / 2.0
    return low, held, missed


def request_bodies(kind: str, items: Sequence[Any], **fields: Any) -> list[Body]:
    """One JSON request body per item: one text, or one PNG image in base64; `fields` (e.g. scenario) added."""
    if kind == "text":
        return [json_body({"texts": [text], **fields}) for text in items]
    return [json_body({"images": [base64.b64encode(png_bytes(image)).decode("ascii")], **fields}) for image in items]


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pooled_trial(
    rate_rps: float, runs: Sequence[TrialRun], bound_ms: float, uses: Sequence[RuntimeUse | None] = ()
) -> ServerTrial:
    """Repeated runs at one rate as one trial: percentiles of their pooled latencies (`summarize_trials`), with
    each repeat's own p99 and their spread beside them, and (`uses`: each run's, from the server's histograms) the
    inference thread's ms per item over all of them."""
    summary = {"rate_rps": rate_rps, **summarize_trials(runs, bound_ms), "runtime_ms_per_item": ms_per_item(uses)}
    pooled = ServerTrial.model_validate(summary)
    if len(runs) == 1:
        return pooled
    p99s = [summarize_trials([run])["p99_ms"] for run in runs]
    return pooled.model_copy(update={"repeats_p99_ms": p99s, "p99_spread_ms": (min(p99s), max(p99s))})


@dataclass(frozen=True)
class ServedSingleStream:
    """The HTTP single-stream, the direct calls alternated with it (None: none made), the server's split of it."""

    http: LatencySummary
    direct: LatencySummary | None
    share: ServerShare | None


class ServedTrials:
    """Trials against one running server, on an event loop of its own (the caller is synchronous)."""

    def __init__(self, url: str, bodies: list[Body], settings: MeasureSettings) -> None:
        self.settings = settings
        self.url = url
        self.metrics_url = url.split("/v1/")[0] + "/metrics"
        self.loop = asyncio.new_event_loop()
        self.client = HttpClient(url, bodies)
        self.idle_s: float | None = None  # a lone request's latency on the idle server, measured after warm-up
        self.shedding_hold_s = served_config().shedding_hold_s or 0.0
        self.refused = False  # whether the last trial was answered some 503s (its server may still shed)
        self.loop.run_until_complete(self.client.__aenter__())

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.client.__aexit__())
        finally:
            self.loop.close()

    def warm_up(self) -> None:
        async def burst() -> None:
            await asyncio.gather(*(self.client.send(i) for i in range(WARMUP_BURST)))

        self.loop.run_until_complete(burst())
        # The client measures latencies: a full garbage collection of its heap (datasets, numpy, aiohttp) would
        # pause it for 100+ ms and show up as server latency. Long-lived objects leave the collector's view.
        gc.collect()
        gc.freeze()

    def single_stream(self, direct: Callable[[int], object] | None = None) -> ServedSingleStream:
        """Back-to-back one-item queries after a warm-up, from a minimal client (`models.lean_client`: the client
        library's own cost is not the server's), and the same queries split by the server's own timings (read
        from /metrics before and after them). With `direct` (the variant called in this process on query i's
        item), blocks of direct calls alternate with the queries' blocks (`lean_client.single_stream`)."""
        s = self.settings
        address = urllib.parse.urlsplit(self.url)
        try:
            with LeanConnection(address.port or 80, address.path, self.client.bodies) as connection:
                for index in range(s.warmup):
                    connection.post(index)
                    if direct is not None:
                        direct(index)
                before = self.loop.run_until_complete(self._duration_totals())
                measured = single_stream(connection, s.min_samples, s.max_samples, s.single_stream_seconds, direct)
        except OSError as exc:  # refused, reset, closed or timed out: the server's log says why
            raise ValueError(f"single-stream over one connection: {exc!r}") from exc
        latency = LatencySummary.model_validate(measured.http)
        after = self.loop.run_until_complete(self._duration_totals())
        beside = None if measured.direct is None else LatencySummary.model_validate(measured.direct)
        return ServedSingleStream(http=latency, direct=beside, share=server_share(before, after, latency.mean_ms))

    def trial(self, rate_rps: float, bound_ms: float, repeat: int = 0) -> ServerTrial:
        """One Poisson trial at `rate_rps`, arrivals seeded by (seed + repeat, rate), on a drained server."""
        rate = self._rate(rate_rps)
        run, use = self._run(rate, bound_ms, repeat)
        return pooled_trial(rate, [run], bound_ms, [use])

    def repeated(
        self, rate_rps: float, bound_ms: float, seconds: float | None = None, min_queries: int | None = None
    ) -> ServerTrial:
        """`settings.repeats` trials at `rate_rps` (each on a drained server, arrivals of its own), pooled; each
        `seconds` long and at least `min_queries` queries (defaults: `settings.trial_seconds`, `.min_queries`)."""
        rate = self._rate(rate_rps)
        timed = [self._run(rate, bound_ms, repeat, seconds, min_queries) for repeat in range(self.settings.repeats)]
        return pooled_trial(rate, [run for run, _ in timed], bound_ms, [use for _, use in timed])

    def at_target(self, rate_rps: float, bound_ms: float) -> ServerTrial:
        """The repeats at a server scenario's target rate: what select predicts and `live_check` checks, both sized
        by `settings.target_seconds` and `.target_queries`."""
        return self.repeated(rate_rps, bound_ms, self.settings.target_seconds, self.settings.target_queries)

    @staticmethod
    def _rate(rate_rps: float) -> float:
        return max(round(rate_rps, 3), 0.001)

    def _run(
        self, rate: float, bound_ms: float, repeat: int, seconds: float | None = None, min_queries: int | None = None
    ) -> tuple[TrialRun, RuntimeUse | None]:
        """One trial on a drained server, and what its inference threads did meanwhile."""
        s = self.settings
        count = query_count(rate, seconds or s.trial_seconds, min_queries or s.min_queries)
        arrivals = poisson_arrivals(rate, count, trial_rng(self.settings.seed + repeat, rate))

        async def timed_trial() -> tuple[TrialRun, RuntimeUse | None]:
            await self._settle()
            before = await self._duration_totals()
            run = await run_trial(self.client.send, arrivals, bound_ms)
            self.refused = "503" in run.outcomes
            return run, runtime_use(before, await self._duration_totals())

        return self.loop.run_until_complete(timed_trial())

    async def _settle(self) -> None:
        """Wait until no worker has queued items and a lone request is answered about as fast as when idle: a
        trial that overloaded the server (stopped early, its clients gone) leaves work behind in every worker,
        which would otherwise land in the next trial. After 503s, then `shedding_hold_s` without requests: a worker
        that shed (`service.shedding`) ends it on its next request, not in the middle of the next trial."""
        loop = asyncio.get_running_loop()
        if self.idle_s is None:
            self.idle_s = statistics.median([await self._lone_request_s(loop) for _ in range(5)])
        deadline = loop.time() + SETTLE_LIMIT_S
        while loop.time() < deadline:
            if await self._queued_items() == 0 and await self._lone_request_s(loop) <= SETTLED_FACTOR * self.idle_s:
                break
            await asyncio.sleep(SETTLE_PAUSE_S)
        if self.refused:
            await asyncio.sleep(self.shedding_hold_s)
            self.refused = False

    async def _duration_totals(self) -> DurationTotals | None:
        """The server's request and inference duration totals; None when /metrics cannot be read or parsed (the
        single-stream's latencies are still recorded, its split is not)."""
        try:
            return duration_totals(await self.client.get_text(self.metrics_url))
        except ValueError:
            return None

    async def _queued_items(self) -> float:
        """`scenario_serve_queued_items`, summed over the server's workers (0 when it cannot be read)."""
        text = await self.client.get_text(self.metrics_url)
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(QUEUED_ITEMS + "{"))

    async def _lone_request_s(self, loop: asyncio.AbstractEventLoop) -> float:
        started = loop.time()
        await self.client.send(0)
        return loop.time() - started

    def search(self, target: ServerTarget, estimate_rps: float) -> ServerSearch:
        """Repeated trials at the target, the search for the highest rate within the bound, that rate confirmed."""

        def trial(rate: float) -> ServerTrial:
            if rate == target.target_rps:  # the prediction: repeats sized as live_check's trials
                return self.at_target(rate, target.p99_bound_ms)
            return self.trial(rate, target.p99_bound_ms)

        found = search_max_rate(
            trial, target.target_rps, estimate_rps, self.settings.search_steps, max_rate_rps=MAX_OFFERED_RPS
        )
        search = ServerSearch(
            p99_bound_ms=target.p99_bound_ms,
            target_rps=target.target_rps,
            max_rate_rps=found.max_rate_rps,
            at_target=found.at_target,
            trials=found.trials,
        )
        best = found.max_rate_rps
        if best == 0 or best == target.target_rps or self.settings.repeats == 1:
            return search
        floor = target.target_rps if found.at_target.meets_bound else 0.0
        confirmed, at_max, missed = confirm_max_rate(lambda r: self.repeated(r, target.p99_bound_ms), best, floor)
        update = {"max_rate_rps": confirmed, "search_max_rate_rps": best, "unconfirmed": missed, "at_max_rate": at_max}
        return search.model_copy(update=update)


@dataclass(frozen=True)
class ServedMeasurement:
    """What the served half measured of one (variant, threads)."""

    single_stream: ServedSingleStream  # over HTTP, beside the variant called directly, split by the server
    server: list[ServerSearch]  # one per server target
    worker_peak_rss_mb: float
    torch_imported: bool  # whether any worker mapped libtorch


def measure_served(
    task: str,
    kind: str,
    variant: str,
    items: Sequence[Any],
    targets: Sequence[ServerTarget],
    estimate_rps: float,
    settings: MeasureSettings,
    threads: int,
    progress: Callable[[str], None],
    load_direct: Callable[[], Callable[[list[Any]], object]] | None = None,
) -> ServedMeasurement:
    """Serve `variant` for real and measure it over HTTP: single-stream (beside direct calls of the variant that
    `load_direct` loads in this process), every server target, worker memory."""
    served = ServedVariant(task, kind, variant, {"SCENARIO_SERVE_THREADS": str(threads)})
    with served:
        progress(f"{variant}: serving on {served.base_url}; single-stream over HTTP")
        trials = ServedTrials(served.url, request_bodies(kind, items), settings)
        try:
            trials.warm_up()
            single = single_stream_beside(trials, items, load_direct)
            progress(f"{variant}: HTTP single-stream {single_stream_text(single)}")
            # the search's first probe above the target: what the workers could do back to back, one item at a
            # time (never the in-process batch throughput, whose overload would only leave a backlog behind)
            estimate_rps = min(estimate_rps, (os.cpu_count() or 1) * 1000.0 / single.http.mean_ms)
            servers = []
            for target in targets:
                progress(f"{variant}: server, p99 <= {target.p99_bound_ms:g} ms at {target.target_rps:g} rps")
                servers.append(trials.search(target, estimate_rps))
        except ValueError as exc:
            raise ServerError(f"{variant} over HTTP: {exc}\nthe server's log ends:\n{served.log_tail()}") from exc
        finally:
            trials.close()
        peak = served.worker_peak_rss_mb()
        torch_imported = served.workers_map("libtorch")
    return ServedMeasurement(
        single_stream=single,
        server=servers,
        worker_peak_rss_mb=peak,
        torch_imported=torch_imported,
    )


def single_stream_beside(
    trials: ServedTrials, items: Sequence[Any], load_direct: Callable[[], Callable[[list[Any]], object]] | None
) -> ServedSingleStream:
    """The single-stream, with the variant loaded here (then dropped) and called on each query's item."""
    if load_direct is None:
        return trials.single_stream()
    infer = load_direct()
    return trials.single_stream(lambda index: infer([items[index % len(items)]]))


def single_stream_text(single: ServedSingleStream) -> str:
    http = single.http
    text = f"p50 {http.p50_ms:.2f} ms, p99 {http.p99_ms:.2f} ms"
    if single.direct is None:
        return text
    return f"{text}; called directly beside it p50 {single.direct.p50_ms:.2f} ms"
