"""Serve one variant and print its HTTP single-stream latency and Poisson trials at a few rates: a quick way to
compare server settings (workers, threads, batcher) side by side, one setting per run.

    python loadtests/probe.py --variant sentiment-minilm-l6-onnx-int8 --rates 2,40,100,130
    BENTOML_CONFIG_OPTIONS='services."scenario-serve".workers=1' SCENARIO_SERVE_THREADS=2 \\
        python loadtests/probe.py --variant sentiment-minilm-l6-onnx-int8 --rates 2,40,100,130
    SCENARIO_SERVE_CONCURRENT_BATCHES=1 python loadtests/probe.py --rates 40,80,110,140

The server is `bentoml serve` of this service with a one-route selection (as `scenario-serve measure` starts
it), with the environment's BentoML and SCENARIO_SERVE_* settings; trials are open-loop Poisson, latency from the
scheduled arrival, stopped early only after 1% of the queries failed. Each trial also prints the CPU seconds each
worker used: how the kernel shared the client's keep-alive connections among the workers.

The single-stream figure comes from the minimal one-socket client `measure` uses (`models.lean_client`); the
trials' from aiohttp. `--overhead` splits the single-stream figure: the same back-to-back queries from the
minimal client (so that the difference to the in-process p50 is the server's, not a client library's), then the
variant loaded in this process and called directly, as `measure`'s in-process half does; then both
again with `--gap` seconds of idle before each query (sparse arrivals, as at 2 req/s: caches and idle CPUs
go cold in between, for the server and in process alike); `--rounds` repeats the four, interleaved. Each round
also prints the CPU time per query of the server's two busiest threads during the back-to-back queries (from
/proc: the worker's inference thread and its event loop), and the back-to-back p50 from aiohttp (what a client
library adds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models import lean_client  # noqa: E402
from models.loadgen import Body, HttpClient  # noqa: E402
from models.measure_plan import MeasureSettings  # noqa: E402
from models.served import ServedVariant  # noqa: E402
from models.served_measure import ServedTrials, request_bodies  # noqa: E402
from models.server_share import DurationTotals, duration_totals, server_share  # noqa: E402
from service.metric_names import GC_PAUSE  # noqa: E402

NO_BOUND_MS = 1e9
OVERHEAD_QUERIES = 600
OVERHEAD_WARMUP = 100
SPARSE_QUERIES = 40
SPARSE_WARMUP = 3


def lean_client_ms(
    port: int, path: str, bodies: list[Body], queries: int, gap_s: float = 0.0, warmup_queries: int = 0
) -> list[float]:
    """Latencies of POSTs from the minimal client (`models.lean_client`: one keep-alive loopback socket), in
    milliseconds; each recorded one must be answered 200."""
    with lean_client.LeanConnection(port, path, bodies) as connection:
        recorded = lean_client.spans(connection, queries, gap_s, warmup_queries)
    return [(answered - sent) * 1000.0 for sent, answered in recorded]


def aiohttp_ms(url: str, bodies: list[Body], queries: int) -> list[float]:
    """Latencies of the same back-to-back POSTs from aiohttp (the trials' client), after a warm-up, in ms: what a
    client library adds over the minimal client."""

    async def run() -> list[float]:
        async with HttpClient(url, bodies) as client:
            for index in range(OVERHEAD_WARMUP):
                await client.send(index)
            samples = []
            for index in range(queries):
                started = time.perf_counter()
                outcome = await client.send(index)
                if outcome != "200":
                    raise ValueError(f"aiohttp query {index} was answered {outcome}")
                samples.append((time.perf_counter() - started) * 1000.0)
            return samples

    return asyncio.run(run())


def warmup(gap_s: float) -> int:
    return OVERHEAD_WARMUP if gap_s == 0 else SPARSE_WARMUP


def load_here(variant: str) -> Any:
    """The variant loaded in this process as the service loads it (default threads and token cap)."""
    from service.config import DEFAULTS
    from service.model_store import BentoModelStore

    store = BentoModelStore()
    return store.load(store.describe(variant), DEFAULTS.threads, DEFAULTS.max_batch_tokens)


def in_process_p50_ms(classifier: Any, items: list[Any], queries: int, gap_s: float = 0.0) -> float:
    """p50 of the classifier called directly, one item at a time (no HTTP, no batcher), `gap_s` idle before each."""
    samples = []
    for index in range(warmup(gap_s) + queries):
        time.sleep(gap_s)
        started = time.perf_counter()
        classifier.run([items[index % len(items)]])
        if index >= warmup(gap_s):
            samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def metrics_text(base_url: str) -> str:
    """The server's /metrics exposition (every worker's series, BentoML's multiprocess collector)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=30) as response:
        return str(response.read().decode("utf-8"))


def metrics_totals(base_url: str) -> DurationTotals:
    return duration_totals(metrics_text(base_url))


def share_line(before: DurationTotals, after: DurationTotals, client_mean_ms: float) -> str:
    """The same queries seen three ways (`models.server_share`): the client's mean, the server's request duration,
    the inference thread's time."""
    share = server_share(before, after, client_mean_ms)
    if share is None:
        return "the server recorded none of these queries"
    return (
        f"same queries, means: client {share.client_mean_ms:.2f}, server request {share.request_mean_ms:.2f}, "
        f"inference thread {share.inference_mean_ms:.2f} ms: the server's share +{share.overhead_ms:.2f} ms (before "
        f"and after the handler, with TCP: {share.client_mean_ms - share.request_mean_ms:.2f}; handler and "
        f"hand-offs: {share.request_mean_ms - share.inference_mean_ms:.2f})"
    )


GcPauses = dict[str, tuple[float, float, float]]  # generation -> (collections, seconds, collections over 10 ms)


def gc_pauses(base_url: str) -> GcPauses:
    """The workers' garbage-collection pauses so far (`scenario_serve_gc_pause_seconds`, summed over workers)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = metrics_text(base_url)
    count: dict[str, float] = {}
    total: dict[str, float] = {}
    within_10ms: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != GC_PAUSE:
            continue
        for sample in family.samples:
            generation = sample.labels["generation"]
            if sample.name.endswith("_count"):
                count[generation] = sample.value
            elif sample.name.endswith("_sum"):
                total[generation] = sample.value
            elif sample.name.endswith("_bucket") and float(sample.labels["le"]) == 0.01:
                within_10ms[generation] = sample.value
    return {g: (count[g], total.get(g, 0.0), count[g] - within_10ms.get(g, 0.0)) for g in sorted(count)}


def print_gc_pauses(before: GcPauses, after: GcPauses) -> None:
    parts = []
    for generation, (count, seconds, long) in after.items():
        count0, seconds0, long0 = before.get(generation, (0.0, 0.0, 0.0))
        parts.append(
            f"generation {generation}: {count - count0:.0f} ({(seconds - seconds0) * 1000:.1f} ms in all, "
            f"{long - long0:.0f} over 10 ms)"
        )
    print("GC pauses during the trials, all workers: " + "; ".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="sentiment-minilm-l6-onnx-int8")
    parser.add_argument("--rates", default="2,40,100", help="comma-separated Poisson rates (req/s)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each trial")
    parser.add_argument("--overhead", action="store_true", help="also: lean-client HTTP vs in-process p50")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of --overhead")
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds before each sparse --overhead query")
    args = parser.parse_args(argv)
    task, kind = ("sentiment", "text") if args.variant.startswith("sentiment") else ("digits", "image")
    settings = MeasureSettings(
        trial_seconds=args.seconds, min_queries=50, repeats=1, warmup=20, max_samples=500, single_stream_seconds=5.0
    )
    items = test_items(task, 1000, 0)
    bodies = request_bodies(kind, items)
    with ServedVariant(task, kind, args.variant) as served:
        trials = ServedTrials(served.url, bodies, settings)
        try:
            trials.warm_up()
            single = trials.single_stream().http
            print(
                f"workers {len(served.worker_pids())}, peak RSS {served.worker_peak_rss_mb()} MB, "
                f"libtorch mapped: {served.workers_map('libtorch')}"
            )
            print(f"HTTP single-stream p50 {single.p50_ms:.2f} p90 {single.p90_ms:.2f} p99 {single.p99_ms:.2f} ms")
            before = gc_pauses(served.base_url)
            for rate in (float(r) for r in args.rates.split(",")):
                cpu_before = thread_cpu_s(served.worker_pids())
                r = trials.trial(rate, NO_BOUND_MS)
                print(
                    f"rate {rate:g}: achieved {r.achieved_rps} p50 {r.p50_ms:.1f} p95 {r.p95_ms:.1f} "
                    f"p99 {r.p99_ms:.1f} ms, outcomes {r.outcomes}, client lateness p50 {r.issue_lateness_p50_ms} ms, "
                    f"CPU s per worker {per_worker(cpu_before, thread_cpu_s(served.worker_pids()))}",
                    flush=True,
                )
            print_gc_pauses(before, gc_pauses(served.base_url))
        finally:
            trials.close()
        if args.overhead:
            overhead(served, args.variant, items, bodies, args.rounds, args.gap)
    return 0


def thread_cpu_s(pids: list[int]) -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) so far of every thread of `pids`, from /proc/<pid>/task/<tid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            times[(pid, tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return times


def per_worker(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]) -> str:
    """CPU seconds each worker used in between: how the kernel shared the client's connections among them."""
    used: dict[int, float] = {}
    for (pid, tid), seconds in after.items():
        used[pid] = used.get(pid, 0.0) + seconds - before.get((pid, tid), 0.0)
    return " / ".join(f"{seconds:.2f}" for seconds in used.values())


def busiest_threads_us(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float], queries: int) -> str:
    """The two threads that used the most CPU in between, in microseconds per query (on one keep-alive connection
    every query reaches the same worker: its event loop and its inference thread)."""
    used = sorted((after[key] - before.get(key, 0.0) for key in after), reverse=True)[:2]
    return " and ".join(f"{seconds / queries * 1e6:.0f}" for seconds in used)


def overhead(
    served: ServedVariant, variant: str, items: list[Any], bodies: list[Body], rounds: int, gap: float
) -> None:
    path = served.url.removeprefix(served.base_url)
    classifier = load_here(variant)
    for round_index in range(rounds):
        cpu_before, totals_before = thread_cpu_s(served.worker_pids()), metrics_totals(served.base_url)
        http = lean_client_ms(served.port, path, bodies, OVERHEAD_QUERIES)
        cpu = busiest_threads_us(cpu_before, thread_cpu_s(served.worker_pids()), OVERHEAD_QUERIES)
        share = share_line(totals_before, metrics_totals(served.base_url), statistics.mean(http))
        library_p50 = statistics.median(aiohttp_ms(served.url, bodies, OVERHEAD_QUERIES))
        local_p50 = in_process_p50_ms(classifier, items, OVERHEAD_QUERIES)
        totals_before = metrics_totals(served.base_url)
        sparse_http = lean_client_ms(served.port, path, bodies, SPARSE_QUERIES, gap)
        sparse_share = share_line(totals_before, metrics_totals(served.base_url), statistics.mean(sparse_http))
        sparse_local_p50 = in_process_p50_ms(classifier, items, SPARSE_QUERIES, gap)
        http_p50, sparse_http_p50 = statistics.median(http), statistics.median(sparse_http)
        print(
            f"overhead round {round_index + 1}: minimal-client HTTP p50 back to back {http_p50:.2f} ms, in-process "
            f"{local_p50:.2f} ms: +{http_p50 - local_p50:.2f} ms ({share}); {gap:g} s apart: HTTP "
            f"{sparse_http_p50:.2f}, in-process {sparse_local_p50:.2f} ms: +{sparse_http_p50 - sparse_local_p50:.2f} "
            f"ms ({sparse_share}); the server's two busiest threads back to back: {cpu} µs CPU per query; aiohttp "
            f"back to back {library_p50:.2f} ms (+{library_p50 - http_p50:.2f} over the minimal client)",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
