"""What the hand-off to a variant's inference thread costs, without HTTP and without a model: a no-op inference
awaited through a bare one-thread executor, then through the service's MicroBatcher (queue, batch task,
metrics, the same executor), back to back and after idle gaps (sparse arrivals: the threads sleep in between).
Beside them, the floor any hand-off stands on: a byte written to a pipe that another thread is blocked reading,
and its answer back (two thread wake-ups; on a VM, a wake-up of a thread that has slept a while includes the
hypervisor bringing its virtual CPU back).

    python loadtests/handoff.py                     # three interleaved rounds, gaps 0 and 5 ms
    python loadtests/handoff.py --rounds 5 --gap-ms 500

Prints the p50 of each, in microseconds. Runs on uvloop, as the served workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Thread
from typing import Any

import numpy as np
import uvloop

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.batching import MicroBatcher  # noqa: E402
from service.classifier import Inference  # noqa: E402
from service.config import DEFAULTS  # noqa: E402
from service.registry import batch_limits  # noqa: E402

ONE_ROW = Inference(np.zeros((1, 3), dtype=np.float32), np.zeros(1, dtype=bool))
WARMUP = 100


def no_op_inference(items: list[Any]) -> Inference:
    return ONE_ROW


class PipeEcho:
    """A thread that answers each byte written to its pipe with a byte on another: two thread wake-ups a round."""

    def __init__(self) -> None:
        self.requests, self.request_writer = os.pipe()
        self.answers, self.answer_writer = os.pipe()
        self.thread = Thread(target=self.echo, name="echo", daemon=True)
        self.thread.start()

    def echo(self) -> None:
        while os.read(self.requests, 1) == b"?":
            os.write(self.answer_writer, b"!")

    async def round_trip(self, items: list[Any]) -> None:
        os.write(self.request_writer, b"?")
        os.read(self.answers, 1)  # blocks the loop: nothing else runs here

    def close(self) -> None:
        os.write(self.request_writer, b".")
        self.thread.join()
        for descriptor in (self.requests, self.request_writer, self.answers, self.answer_writer):
            os.close(descriptor)


async def p50_us(call: Callable[[list[Any]], Awaitable[Any]], gap_s: float, queries: int) -> float:
    samples = []
    for index in range(WARMUP + queries):
        if gap_s:
            await asyncio.sleep(gap_s)
        started = time.perf_counter()
        await call(["item"])
        if index >= WARMUP:
            samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


async def run(rounds: int, gap_s: float, queries: int) -> None:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(1, thread_name_prefix="bare")
    batcher = MicroBatcher("handoff", no_op_inference, batch_limits(DEFAULTS))
    echo = PipeEcho()

    async def bare(items: list[Any]) -> Inference:
        return await loop.run_in_executor(executor, no_op_inference, items)

    try:
        for round_index in range(rounds):
            for gap in (0.0, gap_s):
                floor = await p50_us(echo.round_trip, gap, queries)
                plain, batched = await p50_us(bare, gap, queries), await p50_us(batcher.submit, gap, queries)
                print(
                    f"round {round_index + 1}, gap {gap * 1000:g} ms: pipe round trip p50 {floor:.0f} us, "
                    f"bare executor p50 {plain:.0f} us, MicroBatcher p50 {batched:.0f} us (+{batched - plain:.0f})",
                    flush=True,
                )
    finally:
        echo.close()
        await batcher.close()
        executor.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gap-ms", type=float, default=5.0, help="idle time before each query of the gapped run")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args(argv)
    uvloop.run(run(args.rounds, args.gap_ms / 1000.0, args.queries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
